//! `dmc list` and `dmc status` page from the node's item summaries in SQLite: newest first, a
//! page at a time, saying how many more there are; and an item whose records are gone from
//! the origin (as after compaction) still shows there, as it ended.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use dmc_tests::{Lab, Node};
use serde_json::Value;

/// A small PNG whose content differs with `n` (so each is a new item).
fn make_distinct_png(path: &Path, n: u32) -> Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i"])
        .arg(format!("testsrc=size=640x{}", 480 + 2 * n))
        .args(["-frames:v", "1"])
        .arg(path)
        .output()
        .context("running ffmpeg (install it: apt-get install ffmpeg)")?;
    if !out.status.success() {
        bail!("ffmpeg failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn human(node: &Node, args: &[&str]) -> String {
    let out = node.dmc(args).unwrap();
    assert!(
        out.status.success(),
        "dmc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn names(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file_name"].as_str().unwrap())
        .collect()
}

/// Offers `p0.png` … `p4.png` one after the other and waits until all are delivered.
fn five_delivered_items(lab: &Lab, laptop: &Node) -> Vec<String> {
    let ids: Vec<String> = (0..5)
        .map(|n| {
            let png = lab.path(&format!("p{n}.png"));
            make_distinct_png(&png, n).unwrap();
            laptop.offer(&png, "webp").unwrap()
        })
        .collect();
    for id in &ids {
        let s = laptop.wait_final(id, Duration::from_secs(120)).unwrap();
        assert_eq!(s["phase"], "delivered", "{s:#}");
    }
    ids
}

#[test]
fn list_pages_newest_first_and_a_delivered_item_outlives_its_records() {
    let lab = Lab::new().unwrap();
    let (mut converter, mut laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let ids = five_delivered_items(&lab, &laptop);

    // The two newest, and the command that shows the rest.
    let text = human(&laptop, &["list", "--limit", "2"]);
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert!(
        rows[0].contains("p4.png") && rows[1].contains("p3.png"),
        "{text}"
    );
    assert!(
        text.ends_with("… 3 more: dmc list --limit 2 --offset 2\n"),
        "{text}"
    );
    let page = laptop
        .json(&["list", "--limit", "2", "--offset", "2", "--json"])
        .unwrap();
    assert_eq!(names(&page), ["p2.png", "p1.png"]);
    assert_eq!(
        (page["total"].as_u64(), page["next_offset"].as_u64()),
        (Some(5), Some(4))
    );
    let last = laptop
        .json(&["list", "--limit", "2", "--offset", "4", "--json"])
        .unwrap();
    assert_eq!(names(&last), ["p0.png"]);
    assert!(last["next_offset"].is_null(), "{last:#}");
    // The whole list fits the default page: no "more" line.
    assert!(!human(&laptop, &["list"]).contains("more:"));
    // The converter lists them with --all only (they are the laptop's), also from its table.
    let all = converter.json(&["list", "--all", "--json"]).unwrap();
    assert_eq!(all["total"], 5, "{all:#}");
    assert_eq!(converter.json(&["list", "--json"]).unwrap()["total"], 0);
    // A prefix of an id is resolved by the node among every item it knows.
    let short = &ids[0][..8];
    assert_eq!(laptop.status(short).unwrap()["item_id"], ids[0].as_str());

    // Compaction's effect on the origin, made by hand: the records of the first item are gone
    // (the converter, which still has them, is stopped so sync cannot bring them back).
    let delivered = laptop.status(&ids[0]).unwrap();
    converter.stop();
    laptop.stop();
    let db = rusqlite::Connection::open(laptop.data_dir.join("dmc.sqlite")).unwrap();
    let gone = db
        .execute("DELETE FROM records WHERE item_id = ?1", [&ids[0]])
        .unwrap();
    assert!(gone >= 3, "{gone} records deleted");
    drop(db);
    laptop.restart().unwrap();
    let s = laptop.status(&ids[0]).unwrap();
    assert_eq!(s, delivered);
    assert!(
        s["output_path"].as_str().unwrap().ends_with(".webp"),
        "{s:#}"
    );
    assert_eq!(laptop.json(&["list", "--json"]).unwrap()["total"], 5);
    let out = laptop.dmc(&["cancel", &ids[0]]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is already delivered"),
        "{err}"
    );
}

/// Issue 12 (upgrade): a database whose items lack their summary rows gets them at start, and
/// the node answers on its socket before it fills them in.
#[test]
fn a_database_without_summaries_gets_them_at_start() {
    let lab = Lab::new().unwrap();
    let mut laptop = Node::start(&lab, "laptop", Default::default()).unwrap();
    let png = lab.path("a.png");
    make_distinct_png(&png, 1).unwrap();
    let id = laptop.offer(&png, "webp").unwrap();
    // An ended item too: without its row, the start's fill-in (`core/upgrade.rs`) folds it
    // alone and writes its row before the restore.
    let gone = lab.path("b.png");
    make_distinct_png(&gone, 2).unwrap();
    let cancelled = laptop.offer(&gone, "webp").unwrap();
    assert!(laptop
        .dmc(&["cancel", &cancelled])
        .unwrap()
        .status
        .success());
    laptop.stop();
    // As a database from before the table (migrated: the table is there but empty).
    let db = rusqlite::Connection::open(laptop.data_dir.join("dmc.sqlite")).unwrap();
    db.execute("DELETE FROM item_summaries", []).unwrap();
    drop(db);
    laptop.restart().unwrap();
    let page = laptop.json(&["list", "--json"]).unwrap();
    assert_eq!(page["total"], 2, "{page:#}");
    assert_eq!(page["items"][1]["item_id"], id.as_str());
    assert_eq!(page["items"][0]["item_id"], cancelled.as_str());
    assert_eq!(page["items"][0]["phase"], "cancelled");
    let log = laptop.log_text();
    assert!(log.contains("upgraded the database: 2 items filled in, 1 of them ended"));
    // It answered first (issue 12): this run bound its control socket, and so answered
    // `status` and `list` from what the store held, before it filled in the database; `dmc
    // status` said "upgrading the database: N of M items" meanwhile (the node's test
    // `commands_during_the_fill_in_are_answered_and_say_it_is_upgrading`). Now it is done.
    let run = &log[log.rfind("starting dmc node").unwrap()..];
    let listening = run
        .find("control API listening")
        .expect("the socket's log line");
    let upgraded = run
        .find("upgraded the database")
        .expect("the fill-in's log line");
    assert!(listening < upgraded, "{run}");
    assert!(!human(&laptop, &["status"]).contains("upgrading"));
}

#[test]
fn the_queue_estimate_counts_every_open_item_whatever_the_page() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", Default::default()).unwrap();
    for n in 0..2 {
        let png = lab.path(&format!("q{n}.png"));
        make_distinct_png(&png, n).unwrap();
        laptop.offer(&png, "webp").unwrap();
    }
    // No converter: both wait. The node's estimate counts both, even under a page of one.
    let first = human(&laptop, &["list", "--limit", "1"]);
    assert!(
        first.contains("queue: 2 items to do, no converter online"),
        "{first}"
    );
    assert!(
        first.ends_with("… 1 more: dmc list --limit 1 --offset 1\n"),
        "{first}"
    );
    // Only the first page shows it.
    let second = human(&laptop, &["list", "--limit", "1", "--offset", "1"]);
    assert!(!second.contains("queue:"), "{second}");
    let page = laptop.json(&["list", "--limit", "1", "--json"]).unwrap();
    assert_eq!(
        (page["open"].as_u64(), page["total"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(page["queue"]["to_do"], 2, "{page:#}");
    assert_eq!(page["queue"]["converters_online"], 0, "{page:#}");
}
