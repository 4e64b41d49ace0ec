//! `offer --wait` off a terminal (stdout a pipe, as in a log): a line at each phase change,
//! no made-up numbers before ffmpeg reports a frame, a retry that says when it starts, and
//! one final line per item.

use std::process::{Command, Stdio};
use std::time::Duration;

use dmc_tests::{dmc_bin, make_noisy_clip, make_truncated_clip, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

#[test]
fn offer_wait_in_a_log_prints_phase_changes_a_dated_retry_and_one_final_line() {
    let lab = Lab::new().unwrap();
    let converter = |name: &str| {
        let opts = NodeOpts {
            converter: true,
            ..Default::default()
        };
        Node::start(&lab, name, opts).unwrap()
    };
    let (c1, c2) = (converter("c1"), converter("c2"));
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![c1.addr().unwrap(), c2.addr().unwrap()],
            node_extra: "max_attempts = 2\nretry_backoff = \"3s\"".into(),
            ..Default::default()
        },
    )
    .unwrap();
    wait_until("both converters online", LONG, || {
        let online = laptop
            .peers()
            .iter()
            .filter(|p| p["online"] == true && p["role"] == "converter")
            .filter(|p| p["profiles"].as_array().is_some_and(|v| !v.is_empty()))
            .count();
        (online == 2).then_some(())
    })
    .unwrap();
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 4).unwrap();
    let broken = lab.path("broken.mp4");
    make_truncated_clip(&broken).unwrap();

    let out = Command::new(dmc_bin())
        .arg("--data-dir")
        .arg(&laptop.data_dir)
        .args(["offer", "--wait", "--profile", "mkv-x264"])
        .arg(&clip)
        .arg(&broken)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(1), "{text}\n{out:?}");
    let lines: Vec<&str> = text.lines().collect();
    let of = |label: &str, what: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{label}: {what}")))
            .count()
    };
    assert_eq!(of(&clip.display().to_string(), "delivered"), 1, "{text}");
    assert_eq!(of(&broken.display().to_string(), "failed"), 1, "{text}");
    let retry = lines
        .iter()
        .find(|l| l.contains(": retrying ("))
        .unwrap_or_else(|| panic!("no retry line:\n{text}"));
    assert!(retry.contains("; next attempt at "), "{retry}");
    assert!(retry.contains(" UTC, in "), "{retry}");
    for l in &lines {
        assert!(
            !l.contains(" 0 fps") && !l.contains(" 0% ("),
            "a made-up sample: {l}"
        );
    }
    assert!(lines.len() <= 24, "{} lines:\n{text}", lines.len());
}
