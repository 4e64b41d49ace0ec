//! Progress is not history (issue 12): while a converter works, the laptop sees its progress
//! (phase, fraction, speed) about once a second, yet neither node keeps those reports: the
//! item's records (`version`) stay a handful however long the conversion runs.

use std::time::Duration;

use dmc_tests::{make_noisy_clip, wait_until, Lab, Node};

const LONG: Duration = Duration::from_secs(300);
/// Records an item may keep when its first attempt succeeds (the target of issue 12).
const MAX_RECORDS_PER_ITEM: u64 = 12;

#[test]
fn a_long_conversion_shows_its_progress_and_keeps_a_handful_of_records() {
    let lab = Lab::new().unwrap();
    let (converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 6).unwrap();
    let id = laptop.offer(&clip, "mkv-x265").unwrap();

    // The laptop sees the conversion move: its phase and a growing fraction, from reports.
    let first = laptop.wait_phase(&id, &["converting"], LONG).unwrap();
    let fraction = |s: &serde_json::Value| s["progress"].as_f64().unwrap_or(0.0);
    let started = fraction(&first);
    let moved = wait_until("the laptop to see the fraction grow", LONG, || {
        let s = laptop.status(&id).ok()?;
        (s["phase"] != "converting" || fraction(&s) > started).then_some(s)
    })
    .unwrap();
    assert!(
        moved["phase"] != "converting" || moved["speed"].is_number(),
        "{moved:#}"
    );

    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(
        done["phase"],
        "delivered",
        "{done:#}\n{}",
        converter.log_tail()
    );
    let on_converter = converter.status(&id).unwrap();
    for (node, s) in [("laptop", &done), ("converter", &on_converter)] {
        let records = s["version"].as_u64().unwrap();
        eprintln!("the {node} keeps {records} records of the item");
        assert!(
            records <= MAX_RECORDS_PER_ITEM,
            "the {node} keeps {records} records of one item"
        );
    }
}
