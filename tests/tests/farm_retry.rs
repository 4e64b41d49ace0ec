//! Retries across a farm: a job that fails on one converter is tried on the other, and after
//! `max_attempts` the item ends with errors, one per attempt. A failure that would repeat on
//! any converter ends the item after its one attempt.

use std::time::Duration;

use dmc_tests::{
    make_checkerboard_png, make_corrupt_clip, make_truncated_clip, Lab, Node, NodeOpts,
};

const LONG: Duration = Duration::from_secs(300);

#[test]
fn a_failing_job_is_retried_on_the_other_converter_then_given_up() {
    let lab = Lab::new().unwrap();
    let converter = |name: &str| {
        Node::start(
            &lab,
            name,
            NodeOpts {
                converter: true,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let (c1, c2) = (converter("c1"), converter("c2"));
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![c1.addr().unwrap(), c2.addr().unwrap()],
            node_extra: "max_attempts = 2\nretry_backoff = \"1s\"".into(),
            ..Default::default()
        },
    )
    .unwrap();
    // Both converters are known before the offer, so either may get the first attempt.
    let ids = [c1.node_id().unwrap(), c2.node_id().unwrap()];
    dmc_tests::wait_until("both converters connected", LONG, || {
        let peers = laptop.json(&["peers", "--json"]).ok()?;
        let ready = |id: &String| {
            peers.as_array().is_some_and(|a| {
                a.iter().any(|p| {
                    p["node_id"] == id.as_str()
                        && p["online"] == true
                        && p["role"] == "converter"
                        && !p["profiles"].as_array().is_none_or(|v| v.is_empty())
                })
            })
        };
        ids.iter().all(ready).then_some(())
    })
    .unwrap();

    let clip = lab.path("broken.mp4");
    make_truncated_clip(&clip).unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(
        s["status"],
        "finished_with_errors",
        "{s:#}\n{}\n{}",
        c1.log_tail(),
        c2.log_tail()
    );
    let errors: Vec<String> = s["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(errors.len(), 3, "two attempts and the verdict: {errors:?}");
    assert!(errors[0].starts_with("attempt 1 on "), "{errors:?}");
    assert!(errors[1].starts_with("attempt 2 on "), "{errors:?}");
    assert_eq!(errors[2], "gave up after 2 attempts");
    for e in &errors[..2] {
        assert!(e.contains("duration"), "the converter's check failed: {e}");
    }
    let on = |e: &str| {
        e.split(' ')
            .nth(3)
            .unwrap_or_default()
            .trim_end_matches(':')
            .to_string()
    };
    // One attempt on each converter, named by its node name ("attempt 1 on c2: …").
    let mut names = [on(&errors[0]), on(&errors[1])];
    names.sort();
    assert_eq!(names, ["c1", "c2"], "{errors:?}");
    assert!(Node::files_in(&laptop.output_dir).is_empty());
}

/// Offers `file` with `profile` to a fresh converter and checks that the item ended after one
/// attempt whose error contains `because`, followed by the certain-failure verdict, with
/// nothing delivered. Returns the first error (the attempt's).
fn ends_after_one_certain_attempt(
    file: &str,
    make: fn(&std::path::Path) -> anyhow::Result<()>,
    profile: &str,
    because: &str,
) -> String {
    let lab = Lab::new().unwrap();
    let (converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let path = lab.path(file);
    make(&path).unwrap();
    let id = laptop.offer(&path, profile).unwrap();
    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(
        s["status"],
        "finished_with_errors",
        "{s:#}\n{}",
        converter.log_tail()
    );
    let errors: Vec<&str> = s["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 2, "one attempt and the verdict: {errors:?}");
    assert!(errors[0].contains(because), "{errors:?}");
    assert_eq!(
        errors[1],
        "gave up after 1 attempt: the failure would repeat on any converter"
    );
    assert!(Node::files_in(&laptop.output_dir).is_empty());
    errors[0].to_string()
}

#[test]
fn an_output_larger_than_its_source_ends_the_item_after_one_attempt() {
    let first = ends_after_one_certain_attempt(
        "checks.png",
        make_checkerboard_png,
        "webp",
        "output larger than source",
    );
    assert!(first.starts_with("attempt 1 on "), "{first}");
}

/// Issue 13 point 10: a source that ffmpeg cannot decode (its index intact, so the origin's
/// ffprobe took the offer) fails the same on any converter: the converter checks that it has
/// a decoder for every stream and that the source still stops at a decoding error, and the
/// item ends after that one attempt.
#[test]
fn a_source_that_does_not_decode_ends_the_item_after_one_attempt() {
    ends_after_one_certain_attempt(
        "broken.mp4",
        make_corrupt_clip,
        "mkv-x264",
        "the source does not decode",
    );
}
