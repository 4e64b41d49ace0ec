//! Checksums that follow (issue 17): a large file is offered as soon as its BLAKE3 manifest is
//! known, before its SHA-512, so a converter can pull it while the origin reads the file again
//! for the SHA-512; the item is converted at the first attempt and delivered naming its
//! source's SHA-512 all the same, a re-offer of the same file still finds the item, and an
//! origin killed before the SHA-512 was read reads it again when it restarts.

use std::time::Duration;

use dmc_tests::{make_raw_clip, sha512_hex, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

/// `dmc offer FILE --profile mkv-x264 --json` on `node`: the one answer (`existing`, `item`).
fn offer(node: &Node, file: &std::path::Path) -> serde_json::Value {
    let answers = node
        .json(&[
            "offer",
            file.to_str().unwrap(),
            "--profile",
            "mkv-x264",
            "--json",
        ])
        .unwrap();
    answers[0].clone()
}

#[test]
fn a_large_offer_is_published_before_its_sha512_and_delivered_naming_it() {
    let lab = Lab::new().unwrap();
    let (laptop, converter) = Node::laptop_and_converter_with(&lab, "").unwrap();
    // 69 MB: over the size from which the SHA-512 follows the offer (64 MiB).
    let film = lab.path("film.nut");
    make_raw_clip(&film, 24, "320x240").unwrap();
    let size = std::fs::metadata(&film).unwrap().len();
    assert!(size >= 64 << 20, "{size} bytes");

    // `offer` answers before the SHA-512 is read: the offer went out without it.
    let offered = offer(&laptop, &film);
    let item = &offered["item"];
    assert_eq!(item["sha512_checksum"], "", "{item:#}");
    let id = item["item_id"].as_str().unwrap().to_string();
    let text = String::from_utf8_lossy(&laptop.dmc(&["status", &id]).unwrap().stdout).to_string();
    assert!(
        text.contains("being read by the origin") || text.contains(&sha512_hex(&film).unwrap()),
        "{text}"
    );

    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(
        done["phase"],
        "delivered",
        "{done:#}\n{}",
        converter.log_tail()
    );
    // Pulled and converted at the first attempt, before the SHA-512 was known or not.
    assert_eq!(done["epoch"], 1, "{done:#}");
    assert!(done["errors"].as_array().unwrap().is_empty(), "{done:#}");
    let sha512 = sha512_hex(&film).unwrap();
    assert_eq!(done["sha512_checksum"], sha512.as_str(), "{done:#}");
    let on_converter = wait_until("the converter to learn the checksum", LONG, || {
        let s = converter.status(&id).ok()?;
        (s["sha512_checksum"] == sha512.as_str()).then_some(s)
    })
    .unwrap();
    // One record more than an offer that carries its SHA-512: the checksum.
    assert!(
        on_converter["version"].as_u64().unwrap() <= 13,
        "{on_converter:#}"
    );
    assert!(
        laptop.log_text().contains("source SHA-512 read"),
        "{}",
        laptop.log_tail()
    );

    // The same file again: the delivered item, found by its content.
    let again = offer(&laptop, &film);
    assert_eq!(again["existing"], true, "{again:#}");
    assert_eq!(again["item"]["item_id"], id.as_str());
    // Also once the item has left memory (ended items leave at the next tick): then the
    // offer reads the SHA-512 first, to look among delivered items.
    std::thread::sleep(Duration::from_secs(3));
    let later = offer(&laptop, &film);
    assert_eq!(later["existing"], true, "{later:#}");
    assert_eq!(later["item"]["item_id"], id.as_str());
}

#[test]
fn a_restart_before_the_checksum_reads_the_file_again_at_start() {
    let lab = Lab::new().unwrap();
    let mut laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    // 276 MB: the origin reads it for most of a second for its SHA-512, far longer than the
    // kill below takes.
    let film = lab.path("film.nut");
    make_raw_clip(&film, 96, "320x240").unwrap();
    let offered = offer(&laptop, &film);
    laptop.kill9();
    let id = offered["item"]["item_id"].as_str().unwrap().to_string();
    assert_eq!(offered["item"]["sha512_checksum"], "", "{offered:#}");
    let killed_at = laptop.log_text().len();
    assert!(
        !laptop.log_text().contains("source SHA-512 read"),
        "killed too late: the checksum was read before the kill\n{}",
        laptop.log_tail()
    );

    laptop.restart().unwrap();
    let sha512 = sha512_hex(&film).unwrap();
    let s = wait_until("the restarted laptop to record the checksum", LONG, || {
        let s = laptop.status(&id).ok()?;
        (s["sha512_checksum"] == sha512.as_str()).then_some(s)
    })
    .unwrap();
    assert_eq!(s["phase"], "offered", "{s:#}");
    assert!(
        laptop.log_text()[killed_at..].contains("source SHA-512 read"),
        "{}",
        laptop.log_tail()
    );
}
