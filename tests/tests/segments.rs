//! Segment encoding with checkpoints, as a story with real nodes: a laptop offers a 30 s
//! video to a converter that splits videos of 10 s or more into 4 s segments; the converter
//! is killed (SIGKILL) or stopped (SIGTERM) once a segment is kept, and restarted: the segments it kept are not
//! encoded again (its log says how many, and the laptop's `dmc status` shows segments done of
//! all and how many were kept while it converts), and the result is delivered with every frame
//! of the source.

use std::path::Path;
use std::time::Duration;

use dmc_tests::{logged_number, make_gop_clip, video_frames, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

/// The first kept encoded segment in the converter's work dir, once there is one.
fn kept_segment(work_dir: &Path) -> Option<std::path::PathBuf> {
    Node::files_in(work_dir).into_iter().find(|p| {
        let p = p.to_string_lossy();
        p.contains(".seg-") && p.contains("/enc/") && p.ends_with(".mkv")
    })
}

/// The value of `key=N` in the converter's "converted in segments" log line.
fn logged(log: &str, key: &str) -> Option<u64> {
    logged_number(log, "converted in segments", key)
}

#[test]
fn kill_9_mid_way_keeps_the_encoded_segments_and_delivers_every_frame() {
    stopped_mid_way_then_restarted(Node::kill9);
}

#[test]
fn sigterm_mid_way_keeps_the_encoded_segments_and_delivers_every_frame() {
    stopped_mid_way_then_restarted(|n: &mut Node| {
        n.stop();
    });
}

/// The story: the converter is stopped by `stop` once a segment is kept, then restarted.
fn stopped_mid_way_then_restarted(stop: impl FnOnce(&mut Node)) {
    let lab = Lab::new().unwrap();
    let split = "threads = 1\nsplit_min = \"10s\"\nsegment = \"4s\"\n";
    let mut converter = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            extra: split.into(),
            ..Default::default()
        },
    )
    .unwrap();
    // Restarts keep the converter's address.
    let addr = converter.pin_port().unwrap();
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![addr],
            ..Default::default()
        },
    )
    .unwrap();
    let clip = lab.path("film.mp4");
    make_gop_clip(&clip, 30, "640x360").unwrap();
    let id = laptop.offer(&clip, "mkv-x265").unwrap();

    wait_until("a kept segment", LONG, || kept_segment(&converter.work_dir))
        .unwrap_or_else(|e| panic!("{e}\n{}", converter.log_tail()));
    stop(&mut converter);
    assert!(
        !converter.log_text().contains("converted in segments"),
        "the conversion was not finished when the converter was killed"
    );
    converter.restart().unwrap();

    // The origin's status shows the segments while they are encoded, and those kept.
    let (shown, human) = wait_until("status to show kept segments", LONG, || {
        let s = laptop.status(&id).ok()?;
        let kept = s["segments"]["kept"].as_u64().filter(|k| *k >= 1)?;
        let out = laptop.dmc(&["status", &id]).ok()?;
        let human = String::from_utf8_lossy(&out.stdout).into_owned();
        (human.contains("kept from before a restart") && kept >= 1)
            .then_some((s["segments"].clone(), human))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", converter.log_tail()));
    eprintln!("status --json segments while converting: {shown}");
    let line = human.lines().find(|l| l.starts_with("segments")).unwrap();
    eprintln!("status: {line}");

    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(done["status"], "finished_successful", "{done:#}");
    let log = converter.log_text();
    let segments = logged(&log, "segments").expect("the segments are logged");
    let kept = logged(&log, "kept_segments").expect("the kept segments are logged");
    let encoded = logged(&log, "encoded_segments").expect("the encoded segments are logged");
    eprintln!("segments {segments}, kept after the stop {kept}, encoded after it {encoded}");
    assert!(segments >= 5, "a 30 s video in 4 s segments: {segments}");
    assert!(
        kept >= 1,
        "the segment kept before the kill was not encoded again"
    );
    assert_eq!(kept + encoded, segments);
    assert_eq!(shown["total"].as_u64(), Some(segments), "{shown}");
    assert_eq!(shown["kept"].as_u64(), Some(kept), "{shown}");

    let outputs = Node::files_in(&laptop.output_dir);
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let result = laptop.output_dir.join(&outputs[0]);
    assert_eq!(
        video_frames(&result).unwrap(),
        video_frames(&clip).unwrap(),
        "every frame of the source"
    );
    // The item ended: its segments go.
    wait_until("the segment store to go", Duration::from_secs(120), || {
        kept_segment(&converter.work_dir).is_none().then_some(())
    })
    .unwrap();
}
