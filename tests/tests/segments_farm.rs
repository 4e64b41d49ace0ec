//! One long video, many converters, as stories with real nodes: a laptop offers a long
//! video; the converter it goes to (the coordinator) cuts it and offers each segment as a
//! sub-item, which both converters encode; the result comes back whole. A converter killed
//! mid-way (`kill -9`) costs only its segments: the coordinator keeps the segments it has after
//! a restart, and a segment of the other converter moves after the lease.

use std::path::Path;
use std::time::Duration;

use dmc_tests::{logged_number, make_gop_clip, video_frames, wait_until, Lab, Node, NodeOpts};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(600);

/// Converter settings: one encoder thread each, so two converters on two cores do not compete.
const ONE_THREAD: &str = "threads = 1\n";
/// Short segments for the 30 s clips of the stories about crashes.
const SHORT_SEGMENTS: &str = "threads = 1\nsplit_min = \"10s\"\nsegment = \"4s\"\n";

/// Two converters and a laptop that knows both; `extra` goes into each converter's
/// `[converter]` table, `lease` into each node's `[node]`.
struct Farm {
    lab: Lab,
    a: Node,
    b: Node,
    laptop: Node,
}

impl Farm {
    fn start(extra: &str, lease: &str) -> Farm {
        let lab = Lab::new().unwrap();
        let node_extra = format!("lease = \"{lease}\"");
        let converter = |name: &str, peers: Vec<String>| {
            Node::start(
                &lab,
                name,
                NodeOpts {
                    converter: true,
                    extra: extra.into(),
                    node_extra: node_extra.clone(),
                    peers,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        let mut a = converter("converter-a", Vec::new());
        let a_addr = a.pin_port().unwrap();
        let mut b = converter("converter-b", vec![a_addr.clone()]);
        let b_addr = b.pin_port().unwrap();
        let laptop = Node::start(
            &lab,
            "laptop",
            NodeOpts {
                peers: vec![a_addr, b_addr],
                node_extra,
                ..Default::default()
            },
        )
        .unwrap();
        // Both converters are known to the laptop before it offers.
        wait_until("the laptop to know both converters", LONG, || {
            (laptop.peers().len() >= 2).then_some(())
        })
        .unwrap();
        Farm { lab, a, b, laptop }
    }

    /// A farm with `extra` and `lease` whose laptop offered a clip of `secs` at `size` with
    /// `profile`; with the clip's path, the item id and whether A coordinates it.
    fn offering(
        extra: &str,
        lease: &str,
        (secs, size, profile): (u32, &str, &str),
    ) -> (Farm, std::path::PathBuf, String, bool) {
        let farm = Farm::start(extra, lease);
        let clip = farm.lab.path("film.mp4");
        make_gop_clip(&clip, secs, size).unwrap();
        let id = farm.laptop.offer(&clip, profile).unwrap();
        let a_coordinates = farm.a_coordinates(&id);
        (farm, clip, id, a_coordinates)
    }

    /// Whether converter A coordinates `item` (the laptop gave it to A), asked while it
    /// converts.
    fn a_coordinates(&self, item: &str) -> bool {
        let s = self.laptop.wait_phase(item, &["converting"], LONG).unwrap();
        s["server_id"].as_str() == Some(self.a.node_id().unwrap().as_str())
    }

    /// The coordinator, the other converter, and the laptop.
    fn roles(&mut self, a_coordinates: bool) -> (&mut Node, &mut Node, &Node) {
        match a_coordinates {
            true => (&mut self.a, &mut self.b, &self.laptop),
            false => (&mut self.b, &mut self.a, &self.laptop),
        }
    }

    /// Waits for `item` to end; it must be delivered.
    fn delivered(&self, item: &str) -> Value {
        let done = self.laptop.wait_final(item, LONG).unwrap();
        assert_eq!(
            done["status"],
            "finished_successful",
            "{done:#}\n{}",
            self.logs()
        );
        done
    }

    fn logs(&self) -> String {
        format!(
            "--- a\n{}\n--- b\n{}\n--- laptop\n{}",
            self.a.log_tail(),
            self.b.log_tail(),
            self.laptop.log_tail()
        )
    }
}

/// The kept encoded segments in a converter's work dir.
fn kept_segments(work_dir: &Path) -> usize {
    Node::files_in(work_dir)
        .into_iter()
        .filter(|p| {
            let p = p.to_string_lossy();
            p.contains(".seg-") && p.contains("/enc/") && p.ends_with(".mkv")
        })
        .count()
}

/// The value of `key=N` in a coordinator's "converted in segments" log line.
fn logged(log: &str, key: &str) -> Option<u64> {
    logged_number(log, "converted in segments", key)
}

/// The converters the laptop's `status --json` says encoded segments of the item.
fn segment_converters(status: &Value) -> Vec<String> {
    status["segment_converters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The delivered result has every frame of `clip`.
fn assert_whole(laptop: &Node, clip: &Path) {
    let outputs = Node::files_in(&laptop.output_dir);
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let result = laptop.output_dir.join(&outputs[0]);
    let (got, want) = (video_frames(&result).unwrap(), video_frames(clip).unwrap());
    eprintln!("frames: result {got}, source {want}");
    assert_eq!(got, want, "every frame of the source");
}

#[test]
fn a_six_minute_video_is_encoded_by_both_converters_and_comes_back_whole() {
    // The defaults split it: videos of 5 minutes or more, in segments of about 60 s.
    let (mut farm, clip, id, a_coordinates) =
        Farm::offering(ONE_THREAD, "60s", (360, "320x180", "mkv-x264"));

    // While it converts, `status` names both converters.
    let both = wait_until("status to name both converters", LONG, || {
        let s = farm.laptop.status(&id).ok()?;
        (segment_converters(&s).len() == 2).then_some(s)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", farm.logs()));
    eprintln!(
        "segments {} on {:?}",
        both["segments"],
        segment_converters(&both)
    );
    let human = farm.laptop.dmc(&["status", &id]).unwrap();
    let human = String::from_utf8_lossy(&human.stdout).into_owned();
    eprintln!("{human}");

    let done = farm.delivered(&id);
    let mut on = segment_converters(&both);
    on.sort();
    assert_eq!(on, ["converter-a", "converter-b"], "{both:#}");
    assert_eq!(done["attempts"].as_array().map(Vec::len), Some(1));
    let (coordinator, _, laptop) = farm.roles(a_coordinates);
    let log = coordinator.log_text();
    assert_eq!(logged(&log, "segments"), Some(6), "six segments of 60 s");
    assert_whole(laptop, &clip);
}

#[test]
fn a_coordinator_killed_mid_way_keeps_its_segments_after_a_restart() {
    let (mut farm, clip, id, a_coordinates) =
        Farm::offering(SHORT_SEGMENTS, "60s", (30, "640x360", "mkv-x265"));
    let (coordinator, _, _) = farm.roles(a_coordinates);
    let work = coordinator.work_dir.clone();
    wait_until("a kept segment", LONG, || {
        (kept_segments(&work) >= 1).then_some(())
    })
    .unwrap();
    coordinator.kill9();
    coordinator.restart().unwrap();

    let done = farm.delivered(&id);
    // The same attempt went on: the laptop did not lose the item.
    assert_eq!(done["attempts"].as_array().map(Vec::len), Some(1));
    let (coordinator, _, _) = farm.roles(a_coordinates);
    let log = coordinator.log_text();
    let segments = logged(&log, "segments").expect("the segments are logged");
    let kept = logged(&log, "kept_segments").expect("the kept segments are logged");
    let encoded = logged(&log, "encoded_segments").expect("the encoded ones are logged");
    eprintln!("segments {segments}, kept after the kill {kept}, encoded after it {encoded}");
    assert!(
        kept >= 1,
        "segments kept before the kill are not encoded again"
    );
    assert_eq!(kept + encoded, segments);
    assert_whole(&farm.laptop, &clip);
}

#[test]
fn a_converter_killed_mid_segment_loses_only_its_segments_after_the_lease() {
    let (mut farm, clip, id, a_coordinates) =
        Farm::offering(SHORT_SEGMENTS, "6s", (30, "640x360", "mkv-x265"));
    let (_, other, _) = farm.roles(a_coordinates);
    // The other converter is encoding a segment when it dies.
    wait_until("the other converter to encode a segment", LONG, || {
        other.log_text().contains("starting job").then_some(())
    })
    .unwrap();
    other.kill9();

    let done = farm.delivered(&id);
    // The item itself stayed with its coordinator; only segments moved.
    assert_eq!(done["attempts"].as_array().map(Vec::len), Some(1));
    let (coordinator, _, laptop) = farm.roles(a_coordinates);
    assert!(
        coordinator.log_text().contains("item reassigned"),
        "the coordinator moved the dead converter's segments after the lease"
    );
    assert_whole(laptop, &clip);
}
