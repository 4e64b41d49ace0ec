//! Checksums that follow (issue 17): a large file is offered as soon as its BLAKE3 manifest is
//! known, before its SHA-512, so a converter can pull it while the origin reads the file again
//! for the SHA-512; the item is delivered naming its source's SHA-512 all the same, and a
//! re-offer of the same file still finds the item.

use std::time::Duration;

use dmc_tests::{make_raw_clip, sha512_hex, wait_until, Lab, Node};

const LONG: Duration = Duration::from_secs(300);

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
    let offered = laptop
        .json(&[
            "offer",
            film.to_str().unwrap(),
            "--profile",
            "mkv-x264",
            "--json",
        ])
        .unwrap();
    let item = &offered.as_array().unwrap()[0]["item"];
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
    let again = laptop
        .json(&[
            "offer",
            film.to_str().unwrap(),
            "--profile",
            "mkv-x264",
            "--json",
        ])
        .unwrap();
    let again = &again.as_array().unwrap()[0];
    assert_eq!(again["existing"], true, "{again:#}");
    assert_eq!(again["item"]["item_id"], id.as_str());
    // Also once the item has left memory (ended items leave at the next tick): then the
    // offer reads the SHA-512 first, to look among delivered items.
    std::thread::sleep(Duration::from_secs(3));
    let later = laptop
        .json(&[
            "offer",
            film.to_str().unwrap(),
            "--profile",
            "mkv-x264",
            "--json",
        ])
        .unwrap();
    let later = &later.as_array().unwrap()[0];
    assert_eq!(later["existing"], true, "{later:#}");
    assert_eq!(later["item"]["item_id"], id.as_str());
}
