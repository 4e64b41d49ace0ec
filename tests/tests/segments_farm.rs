//! One long video, many converters, as stories with real nodes: a laptop offers a long
//! video; the converter it goes to (the coordinator) cuts it and offers each segment as a
//! sub-item, which both converters encode; the result comes back whole. A converter killed
//! mid-way (`kill -9`) costs only its segments: the coordinator keeps the segments it has after
//! a restart, and a segment of the other converter moves after the lease; a coordinator gone
//! for good loses the item, and the other converter stops its segments for the new attempt.
//! Sources that break naive splitting come out whole and in sync.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_tests::{
    frame_intervals_ms, logged_number, make_gop_clip, sync_facts, video_frames, wait_until,
    HardInput, Lab, Node, NodeOpts, SyncFacts,
};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(600);

/// Converter settings: one encoder thread each, so two converters on two cores do not compete.
const ONE_THREAD: &str = "threads = 1\n";
/// Short segments for the 30 s clips of the stories about crashes.
const SHORT_SEGMENTS: &str = "threads = 1\nsplit_min = \"10s\"\nsegment = \"4s\"\n";
/// Segments that take longer to encode than a 6 s lease (8 s of 720p in x265, one thread).
const LONG_SEGMENTS: &str = "threads = 1\nsplit_min = \"10s\"\nsegment = \"8s\"\n";

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

    /// Waits for the converter that does not coordinate to start encoding a segment, then
    /// kills `victim` with SIGKILL.
    fn kill_while_the_other_encodes(&mut self, a_coordinates: bool, victim: Victim) {
        let (coordinator, other, _) = self.roles(a_coordinates);
        wait_until("the other converter to encode a segment", LONG, || {
            other.log_text().contains("starting job").then_some(())
        })
        .unwrap();
        match victim {
            Victim::Coordinator => coordinator.kill9(),
            Victim::Other => other.kill9(),
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

/// Which converter a story kills.
enum Victim {
    Coordinator,
    Other,
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

/// The items of the lines of `log` holding `message`.
fn items_in(log: &str, message: &str) -> BTreeSet<String> {
    log.lines()
        .filter(|l| l.contains(message))
        .filter_map(|l| l.split("item=").nth(1)?.split_whitespace().next())
        .map(String::from)
        .collect()
}

/// The segments `item` was joined from, on the coordinator's "converted in segments" line.
fn joined_segments(farm: &Farm, item: &str) -> Option<u64> {
    let logs = format!("{}\n{}", farm.a.log_text(), farm.b.log_text());
    let line = logs
        .lines()
        .find(|l| l.contains("converted in segments") && l.contains(item))?;
    logged_number(line, "converted in segments", "segments")
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
    // The other converter is encoding a segment when it dies.
    farm.kill_while_the_other_encodes(a_coordinates, Victim::Other);

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

#[test]
fn a_coordinator_gone_for_good_loses_the_item_and_its_segments_stop() {
    let (mut farm, clip, id, a_coordinates) =
        Farm::offering(LONG_SEGMENTS, "6s", (24, "1280x720", "mkv-x265"));
    // The other converter is encoding one of the coordinator's segments when it vanishes.
    farm.kill_while_the_other_encodes(a_coordinates, Victim::Coordinator);

    let done = farm.delivered(&id);
    // After the lease the item went to the other converter, which started from the source.
    assert_eq!(
        done["attempts"].as_array().map(Vec::len),
        Some(2),
        "{done:#}"
    );
    let (_, other, laptop) = farm.roles(a_coordinates);
    assert_eq!(
        done["server_id"].as_str(),
        Some(other.node_id().unwrap().as_str())
    );
    let log = other.log_text();
    assert!(
        log.contains("giving back a segment whose item went on without it"),
        "the other converter stopped encoding for the vanished coordinator\n{log}"
    );
    assert!(
        log.contains("converted in segments"),
        "it coordinated the new attempt"
    );
    assert_whole(laptop, &clip);
}

/// Checks a hard input's result against its source: every frame, the duration and the audio's
/// start against the video's each within one frame; prints the figures.
fn assert_in_sync(kind: HardInput, segments: u64, src: &SyncFacts, out: &SyncFacts) {
    let frame = src.frame_us;
    let duration_diff = src.duration_us.abs_diff(out.duration_us);
    let av_diff = match (src.av_offset_us, out.av_offset_us) {
        (Some(s), Some(o)) => s.abs_diff(o),
        other => panic!("{kind:?}: audio in source and result: {other:?}"),
    };
    eprintln!(
        "{kind:?}: {segments} segments; frames source {} result {}; duration source {} µs \
         result {} µs (diff {duration_diff} µs); A/V offset source {:?} µs result {:?} µs \
         (diff {av_diff} µs); one frame {frame} µs",
        src.frames,
        out.frames,
        src.duration_us,
        out.duration_us,
        src.av_offset_us,
        out.av_offset_us,
    );
    assert!(segments >= 2, "{kind:?} was converted in segments");
    assert_eq!(out.frames, src.frames, "{kind:?}: every frame");
    assert!(
        duration_diff <= frame,
        "{kind:?}: duration within one frame"
    );
    assert!(av_diff <= frame, "{kind:?}: audio and video in step");
}

#[test]
fn sources_that_break_naive_splitting_come_back_whole_and_in_sync() {
    let farm = Farm::start(SHORT_SEGMENTS, "60s");
    let dir = farm.lab.path("inputs");
    std::fs::create_dir_all(&dir).unwrap();
    let offered: Vec<(HardInput, PathBuf, String)> = HardInput::ALL
        .into_iter()
        .map(|kind| {
            let src = kind.make(&dir).unwrap();
            let id = farm.laptop.offer(&src, "mkv-x264").unwrap();
            (kind, src, id)
        })
        .collect();
    for (kind, src, id) in &offered {
        let done = farm.delivered(id);
        let out = PathBuf::from(done["output_path"].as_str().expect("output_path"));
        let segments = joined_segments(&farm, id).expect("the coordinator joined segments");
        let (src_facts, out_facts) = (sync_facts(src).unwrap(), sync_facts(&out).unwrap());
        assert_in_sync(*kind, segments, &src_facts, &out_facts);
        match kind {
            // Cuts fall on the keyframes, every 10 s.
            HardInput::LongGop => assert_eq!(segments, 3),
            // 4 × 4 s and 0.3 s.
            HardInput::TinyLastSegment => assert_eq!(segments, 5),
            // The built-in profile keeps both audio tracks and no subtitles, as whole.
            HardInput::TwoAudioAndSubtitles => {
                assert_eq!(src_facts.kinds, ["video", "audio", "audio", "subtitle"]);
                assert_eq!(out_facts.kinds, ["video", "audio", "audio"]);
            }
            HardInput::VariableRate => {
                let (s, o) = (
                    frame_intervals_ms(src).unwrap(),
                    frame_intervals_ms(&out).unwrap(),
                );
                eprintln!("frame intervals: source {s:?} ms, result {o:?} ms");
                assert!(s.len() > 1, "the source's frame rate varies: {s:?}");
                assert_eq!(o, s, "every frame keeps its time");
            }
            HardInput::BFrames => {}
        }
    }
    // Both converters encoded segments (the parents each coordinated are left out).
    let parents = items_in(
        &format!("{}\n{}", farm.a.log_text(), farm.b.log_text()),
        "giving segments to the farm",
    );
    for node in [&farm.a, &farm.b] {
        let encoded = items_in(&node.log_text(), "converted: ");
        let segments = encoded.difference(&parents).count();
        eprintln!("segments encoded by {}: {segments}", node.name);
        assert!(segments > 0, "{} encoded segments too", node.name);
    }
}
