//! The queue estimate uses the speeds measured on this LAN (issue 14 point 5): after a
//! converter has converted one video, the laptop knows its speed, keeps it across a restart,
//! and `dmc list` estimates the next item from it instead of assuming one.

use std::time::Duration;

use dmc_tests::{make_noisy_clip, make_tone, wait_until, Lab, Node};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(300);

/// The converter's `measured_speed` in the laptop's `dmc peers --json`, once there is one.
fn measured_speed(laptop: &Node) -> Option<f64> {
    laptop
        .peers()
        .iter()
        .find(|p| p["role"] == "converter")
        .and_then(|p| p["measured_speed"].as_f64())
        .filter(|s| *s > 0.0)
}

#[test]
fn the_queue_estimate_uses_the_speed_measured_on_this_lan_even_after_a_restart() {
    let lab = Lab::new().unwrap();
    // The converter takes video only: the audio offered later waits, with the converter online.
    let (mut laptop, converter) =
        Node::laptop_and_converter_with(&lab, "media_types = [\"video\"]\n").unwrap();
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 6).unwrap();
    let id = laptop.offer(&clip, "mkv-x265").unwrap();
    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(done["phase"], "delivered", "{}", converter.log_tail());
    let speed = wait_until("the laptop to know the converter's speed", LONG, || {
        measured_speed(&laptop)
    })
    .unwrap();

    // A restart keeps the speed, and `dmc peers` shows it.
    laptop.restart().unwrap();
    let kept = measured_speed(&laptop).expect("the speed is kept across a restart");
    assert!((kept - speed).abs() < 1e-3, "{kept} after {speed}");
    let out = laptop.dmc(&["peers"]).unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().next().unwrap().contains("SPEED"), "{table}");

    // A minute of audio waits (no converter takes audio): the estimate uses that speed.
    let tone = lab.path("tone.flac");
    make_tone(&tone, 60).unwrap();
    laptop.offer(&tone, "opus").unwrap();
    let page: Value = wait_until("the converter to be online again", LONG, || {
        let page = laptop.json(&["list", "--json"]).ok()?;
        (page["queue"]["converters_online"] == 1).then_some(page)
    })
    .unwrap();
    let queue = &page["queue"];
    assert_eq!(queue["to_do"], 1, "{page:#}");
    assert_eq!(queue["speed_source"], "measured", "{page:#}");
    let used = queue["speeds"][0].as_f64().unwrap();
    assert!((used - speed).abs() < 1e-3, "{page:#}");
    let secs = queue["done_in_secs"][1].as_f64().unwrap();
    assert!((secs - (60.0 / speed).ceil()).abs() <= 1.0, "{page:#}");
    let out = laptop.dmc(&["list"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("queue:")).unwrap_or("");
    assert!(
        line.starts_with("queue: 1 item to do, done in about ")
            && line.ends_with("measured on this LAN)"),
        "{text}"
    );
    eprintln!("{line}");
}
