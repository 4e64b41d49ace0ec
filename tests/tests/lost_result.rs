//! A lost result does not stall its item (issue 13, point 7): when the converter's result file
//! is gone before the origin fetched it, the converter answers `gone`, the origin records the
//! result as lost, and the item is converted again and delivered, without counting an attempt.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_tests::tools::{script, which};
use dmc_tests::{make_clip, Lab, Node, NodeOpts};

/// A folder with an `ffmpeg` that lingers 4 s after each conversion (not after probes or
/// other uses), so a test can act while a job shows as converting.
fn slow_ffmpeg(lab: &Lab) -> PathBuf {
    let dir = lab.path("slow-bin");
    std::fs::create_dir_all(&dir).unwrap();
    script(
        &dir,
        "ffmpeg",
        &format!(
            "case \" $* \" in *\" -progress \"*) {f} \"$@\"; rc=$?; sleep 4; exit $rc;; esac\n\
             exec {f} \"$@\"\n",
            f = which("ffmpeg").display()
        ),
    );
    dir
}

/// The converter's result files (`result.<ext>`) under its work dir.
fn results_in(work_dir: &Path) -> Vec<PathBuf> {
    Node::files_in(work_dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("result.") && !n.ends_with(".part"))
        })
        .map(|p| work_dir.join(p))
        .collect()
}

#[test]
fn a_result_deleted_before_the_origin_fetched_it_is_converted_again_without_an_attempt() {
    let lab = Lab::new().unwrap();
    let conv = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            path_prefix: Some(slow_ffmpeg(&lab)),
            ..Default::default()
        },
    )
    .unwrap();
    let mut origin = Node::start(
        &lab,
        "origin",
        NodeOpts {
            peers: vec![conv.addr().unwrap()],
            // One attempt only: were the lost result counted, the item would fail.
            node_extra: "max_attempts = 1".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let item = origin.offer(&clip, "mkv-x264").unwrap();

    // The converter has the source and converts; the origin goes away meanwhile.
    origin
        .wait_phase(&item, &["converting"], Duration::from_secs(120))
        .unwrap();
    origin.stop();
    let status = conv
        .wait_phase(&item, &["converted"], Duration::from_secs(120))
        .unwrap();
    let first_epoch = status["epoch"].as_u64().unwrap();
    // The result is lost before the origin could fetch it.
    let results = results_in(&conv.work_dir);
    assert_eq!(results.len(), 1, "{results:?}");
    std::fs::remove_file(&results[0]).unwrap();

    // The origin returns: the converter answers that the result is gone, and the item is
    // converted again and delivered.
    origin.restart().unwrap();
    let status = origin.wait_final(&item, Duration::from_secs(120)).unwrap();
    assert_eq!(
        status["phase"],
        "delivered",
        "{status:#}\n{}",
        origin.log_tail()
    );
    assert!(
        status["epoch"].as_u64().unwrap() > first_epoch,
        "{status:#}"
    );
    assert_eq!(status["errors"], serde_json::json!([]), "not an attempt");
    assert!(
        origin.log_text().contains("result lost"),
        "{}",
        origin.log_tail()
    );
    assert_eq!(conv.log_text().matches("converted:").count(), 2);
    assert_eq!(
        Node::files_in(&origin.output_dir),
        vec![PathBuf::from("clip.mkv")]
    );
    // It went quickly: no retrying every 5 s until the converter's retention ends.
    let delivered = origin
        .log_text()
        .lines()
        .filter(|l| l.contains("delivered to"))
        .count();
    assert_eq!(delivered, 1);
}
