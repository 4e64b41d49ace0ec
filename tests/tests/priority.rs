//! Issue 15: the origin changes an item's priority after offering it, the converter's queue
//! follows, and `status` shows each waiting item's queue position and every attempt with its
//! times. A converter with one worker is busy with a slow item; two small items wait in its
//! queue; raising the second one's priority makes it run first. The order is read from the
//! attempts' records (when each result arrived), never from timing.

use std::time::Duration;

use dmc_tests::{make_clip, make_noisy_clip, wait_until, Lab, Node};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(300);

/// The end time of the item's converted attempt (RFC 3339, the laptop's clock).
fn converted_at(item: &Value) -> String {
    let attempts = item["attempts"].as_array().expect("attempts");
    let done = attempts
        .iter()
        .find(|a| a["outcome"] == "converted")
        .unwrap_or_else(|| panic!("no converted attempt: {item:#}"));
    assert!(done["accepted_at"].is_string(), "{item:#}");
    done["ended_at"].as_str().unwrap().to_string()
}

fn stderr_of(node: &Node, args: &[&str]) -> String {
    let out = node.dmc(args).unwrap();
    assert!(!out.status.success(), "dmc {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn raising_a_waiting_items_priority_makes_the_converter_run_it_first() {
    let lab = Lab::new().unwrap();
    // One worker, and pulls slow enough that the big item holds it while the others queue.
    let (laptop, converter) =
        Node::laptop_and_converter_with(&lab, "\n[transfer]\nmax_rate = \"256KiB\"\n").unwrap();
    let big = lab.path("big.mp4");
    make_noisy_clip(&big, 3).unwrap();
    let (first, second) = (lab.path("first.mp4"), lab.path("second.mp4"));
    make_clip(&first, 1, "160x120").unwrap();
    make_clip(&second, 1, "176x144").unwrap();

    let busy = laptop.offer(&big, "mkv-x264").unwrap();
    laptop
        .wait_phase(&busy, &["transferring", "converting"], LONG)
        .unwrap();
    let b = laptop.offer(&first, "mkv-x264").unwrap();
    let c = laptop.offer(&second, "mkv-x264").unwrap();
    // Both wait in the converter's queue, the older first (equal priorities).
    let places = |node: &Node| -> Option<(Value, Value)> {
        let (sb, sc) = (node.status(&b).ok()?, node.status(&c).ok()?);
        Some((sb["queue_position"].clone(), sc["queue_position"].clone()))
    };
    wait_until("both items to wait in the converter's queue", LONG, || {
        (places(&laptop)? == (1.into(), 2.into())).then_some(())
    })
    .unwrap();
    let text = String::from_utf8_lossy(&laptop.dmc(&["status", &c]).unwrap().stdout).into_owned();
    assert!(text.contains("2nd in queue"), "{text}");

    // Only the origin may change it.
    let err = stderr_of(&converter, &["priority", &c, "5"]);
    assert!(
        err.contains("only its origin can change its priority"),
        "{err}"
    );

    let raised = laptop.json(&["priority", &c, "5", "--json"]).unwrap();
    assert_eq!(raised["priority"], 5, "{raised:#}");
    assert_eq!(raised["queue_position"], 1, "{raised:#}");
    // The record replicates: the converter sees the new order too.
    wait_until("the converter to learn the new priority", LONG, || {
        let sc = converter.status(&c).ok()?;
        (sc["priority"] == 5 && places(&converter)? == (2.into(), 1.into())).then_some(())
    })
    .unwrap();
    // The busy item still held the only worker when the change arrived, so the change
    // decides the order (were it done, the story would prove nothing).
    let still = laptop.status(&busy).unwrap();
    assert!(
        matches!(still["phase"].as_str(), Some("transferring" | "converting")),
        "the slow item ended before the priority change: {still:#}"
    );

    let (done_b, done_c) = (
        laptop.wait_final(&b, LONG).unwrap(),
        laptop.wait_final(&c, LONG).unwrap(),
    );
    assert_eq!(done_b["phase"], "delivered", "{}", converter.log_tail());
    assert_eq!(done_c["phase"], "delivered", "{}", converter.log_tail());
    assert!(
        converted_at(&done_c) < converted_at(&done_b),
        "the raised item ran first: {done_c:#} {done_b:#}"
    );
    assert_eq!(done_c["queue_position"], Value::Null);
    let attempt = &done_c["attempts"][0];
    assert_eq!(attempt["server_name"], "converter", "{done_c:#}");
    let text = String::from_utf8_lossy(&laptop.dmc(&["status", &c]).unwrap().stdout).into_owned();
    assert!(
        text.contains("1. converted on converter: assigned "),
        "{text}"
    );

    // An item that ended cannot change.
    let err = stderr_of(&laptop, &["priority", &c, "9"]);
    assert!(err.contains("is already delivered"), "{err}");
    laptop.wait_final(&busy, LONG).unwrap();
}
