//! `kill -9` of a converter mid-conversion, then a restart: no ffmpeg of the old run is left,
//! the start-up clean-up removes the partial output, and the item completes once.

use std::path::Path;
use std::time::Duration;

use dmc_tests::{make_noisy_clip, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

/// Pids of running ffmpeg processes whose command line mentions `dir`, with their start times.
fn ffmpeg_in(dir: &Path) -> Vec<(u32, String)> {
    let dir = dir.display().to_string();
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_ffmpeg = args.first().is_some_and(|a| a.ends_with("ffmpeg"));
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after = stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or_default();
        let mut fields = after.split_whitespace();
        let state = fields.next().unwrap_or_default();
        let start = fields.nth(18).unwrap_or_default().to_string();
        if is_ffmpeg && state != "Z" && args.iter().any(|a| a.contains(&dir)) {
            out.push((pid, start));
        }
    }
    out
}

#[test]
fn kill_9_mid_conversion_then_restart_leaves_no_old_ffmpeg_and_completes() {
    let lab = Lab::new().unwrap();
    let mut converter = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    converter.pin_port().unwrap();
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![converter.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 12).unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();

    laptop.wait_phase(&id, &["converting"], LONG).unwrap();
    let old = wait_until("ffmpeg to run in the work dir", LONG, || {
        let f = ffmpeg_in(&converter.work_dir);
        (!f.is_empty()).then_some(f)
    })
    .unwrap();
    // ffmpeg has written part of its output.
    wait_until("a partial output", LONG, || {
        Node::files_in(&converter.work_dir)
            .into_iter()
            .find(|p| p.to_string_lossy().ends_with("result.mkv.part"))
            .filter(|p| std::fs::metadata(converter.work_dir.join(p)).is_ok_and(|m| m.len() > 0))
    })
    .unwrap();
    converter.kill9();
    converter.restart().unwrap();

    // None of the old run's ffmpeg processes runs any more (a pid may only come back as a
    // new process, with another start time).
    let now = ffmpeg_in(&converter.work_dir);
    for (pid, start) in &old {
        assert!(
            !now.iter().any(|(p, s)| p == pid && s == start),
            "ffmpeg {pid} of the old run still runs"
        );
    }

    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(
        done["status"],
        "finished_successful",
        "{done:#}\n{}",
        converter.log_tail()
    );
    assert_eq!(Node::files_in(&laptop.output_dir).len(), 1);
    let left: Vec<_> = Node::files_in(&converter.work_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(left.is_empty(), "partial files left: {left:?}");
    let log = converter.log_text();
    assert!(
        log.contains("start-up clean-up: removed partial output"),
        "the restart logs what it cleaned:\n{}",
        converter.log_tail()
    );
    for (pid, start) in &old {
        assert!(!ffmpeg_in(&converter.work_dir)
            .iter()
            .any(|(p, s)| p == pid && s == start));
    }
}
