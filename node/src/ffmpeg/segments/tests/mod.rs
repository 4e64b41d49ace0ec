//! Segmented conversions against the real ffmpeg 5.1, with media made by lavfi at test time:
//! split → encode → join → check, the frame count and A/V sync of sources that break naive
//! splitting, and checkpoints kept across runs. `hard_inputs` holds the sources that break
//! naive splitting beyond B-frames and long GOPs (variable frame rate, several audio tracks
//! and subtitles, a tiny last segment).

mod hard_inputs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::facts::media_facts;
use super::*;
use crate::ffmpeg::profiles::{builtin_profile, Profile};
use crate::ffmpeg::{verify_output, CancelToken, VerifyOptions};

const LIMIT: Duration = Duration::from_secs(60);

/// A 160x90, 25 fps libx264 clip of `secs` (B-frames, libx264's default) with `x264` options
/// added, and a sine audio track unless `silent`.
fn clip(dir: &Path, name: &str, secs: u32, extra: &[&str], silent: bool) -> PathBuf {
    let out = dir.join(name);
    let v = format!("testsrc=duration={secs}:size=160x90:rate=25");
    let a = format!("sine=duration={secs}");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i", &v]);
    if !silent {
        cmd.args(["-f", "lavfi", "-i", &a, "-c:a", "aac", "-shortest"]);
    }
    cmd.args(["-c:v", "libx264", "-preset", "veryfast"])
        .args(extra)
        .arg(&out);
    assert!(
        cmd.status().expect("run ffmpeg").success(),
        "cannot make {name}"
    );
    out
}

fn job(input: &Path, work: &Path) -> ConvertJob {
    job_with(
        input,
        work,
        builtin_profile("mkv-x264").expect("built in"),
        30_000,
    )
}

/// A job converting `input` (`duration_ms` long) with `profile` in `work`.
fn job_with(input: &Path, work: &Path, profile: &Profile, duration_ms: u64) -> ConvertJob {
    ConvertJob {
        input: input.to_path_buf(),
        output_part: work.join("result.mkv.part"),
        work_dir: work.to_path_buf(),
        profile: profile.clone(),
        duration_ms: Some(duration_ms),
        cancel: CancelToken::new(),
        threads: 1,
        nice: crate::config::defaults::converter::NICE,
        time_limit: crate::config::defaults::converter::TIME_LIMIT,
        keep_frame_times: false,
    }
}

/// Runs a segmented conversion of `input` in `work` with 5 s segments; returns its outcome
/// and the fractions reported.
async fn run(input: &Path, work: &Path) -> (SegmentedOutcome, Vec<f32>) {
    run_job(job(input, work), Duration::from_secs(5)).await
}

/// Runs `job` in segments of `segment` in the store `item.seg-00` of its work dir; returns its
/// outcome and the fractions reported.
async fn run_job(job: ConvertJob, segment: Duration) -> (SegmentedOutcome, Vec<f32>) {
    let fractions = Arc::new(Mutex::new(Vec::new()));
    let seen = fractions.clone();
    let store = job.work_dir.join("item.seg-00");
    let done = convert_in_segments(
        job,
        &store,
        segment,
        None,
        |_| {},
        move |p| seen.lock().unwrap().push(p.fraction),
    )
    .await
    .expect("segmented conversion");
    let fractions = fractions.lock().unwrap().clone();
    (done, fractions)
}

/// The output has the source's frames, in sync, and passes the profile's check.
async fn assert_matches_source(input: &Path, output: &Path) {
    let (src, out) = (
        media_facts(input, LIMIT).await.unwrap(),
        media_facts(output, LIMIT).await.unwrap(),
    );
    eprintln!(
        "{}: frames source {} output {}; A/V offset source {:?} µs output {:?} µs",
        input.display(),
        src.frames,
        out.frames,
        src.av_offset_us(),
        out.av_offset_us()
    );
    assert_eq!(out.frames, src.frames, "frame count");
    if let (Some(a), Some(b)) = (src.av_offset_us(), out.av_offset_us()) {
        assert!(a.abs_diff(b) <= src.frame_us, "A/V offset {a} µs vs {b} µs");
    }
    let profile = builtin_profile("mkv-x264").unwrap();
    verify_output(output, profile, Some(30_000), &VerifyOptions::default())
        .await
        .expect("the joined output passes the profile's check");
}

#[tokio::test]
async fn b_frame_source_is_split_encoded_joined_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(
        dir.path(),
        "bframes.mp4",
        30,
        &["-bf", "3", "-g", "50"],
        false,
    );
    let (done, fractions) = run(&src, dir.path()).await;
    assert!(done.segments >= 4, "{} segments", done.segments);
    assert_eq!(done.kept, 0);
    assert_matches_source(&src, &done.outcome.output).await;
    // One progress for the item: never backwards, ending at 1.
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");
    assert_eq!(fractions.last(), Some(&1.0));
}

#[tokio::test]
async fn long_gop_source_keeps_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    // A keyframe only every 10 s: 5 s segments become 10 s ones.
    let src = clip(
        dir.path(),
        "gop.mp4",
        30,
        &["-g", "250", "-sc_threshold", "0"],
        false,
    );
    let (done, _) = run(&src, dir.path()).await;
    assert_eq!(done.segments, 3);
    assert_matches_source(&src, &done.outcome.output).await;
}

#[tokio::test]
async fn silent_source_joins_video_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "silent.mkv", 30, &[], true);
    let (done, _) = run(&src, dir.path()).await;
    let out = media_facts(&done.outcome.output, LIMIT).await.unwrap();
    assert_eq!(out.audio_start_us, None);
    assert_matches_source(&src, &done.outcome.output).await;
}

#[tokio::test]
async fn checked_segments_are_kept_and_not_encoded_again() {
    let dir = tempfile::tempdir().unwrap();
    let src = clip(dir.path(), "clip.mp4", 30, &["-g", "50"], false);
    let (first, _) = run(&src, dir.path()).await;
    assert_eq!(first.kept, 0);
    std::fs::remove_file(&first.outcome.output).unwrap();
    // A crash mid-way: one segment never finished, one left half written.
    let enc = dir.path().join("item.seg-00").join("enc");
    std::fs::remove_file(enc.join("00002.mkv")).unwrap();
    std::fs::write(enc.join("00003.mkv.part"), b"half").unwrap();
    let (second, _) = run(&src, dir.path()).await;
    assert_eq!(second.segments, first.segments);
    assert_eq!(second.kept, first.segments - 1);
    assert!(!enc.join("00003.mkv.part").exists());
    assert_matches_source(&src, &second.outcome.output).await;
    // A kept segment that does not hold its cut's frames is encoded again.
    std::fs::remove_file(&second.outcome.output).unwrap();
    std::fs::copy(enc.join("00000.mkv"), enc.join("00001.mkv")).unwrap();
    let (third, _) = run(&src, dir.path()).await;
    assert_matches_source(&src, &third.outcome.output).await;
}

#[test]
fn only_long_videos_are_split() {
    let p = SplitPolicy {
        split_min: Duration::from_secs(300),
        segment: Duration::from_secs(60),
    };
    assert_eq!(p.segment_for(None), None);
    assert_eq!(p.segment_for(Some(299_999)), None);
    assert_eq!(p.segment_for(Some(300_000)), Some(Duration::from_secs(60)));
    // Very long media: segments grow so that there are at most MAX_SEGMENTS.
    let week = 7 * 24 * 3600 * 1000;
    let seg = p.segment_for(Some(week)).unwrap();
    assert!(seg > Duration::from_secs(60));
    assert!(week / seg.as_millis() as u64 <= MAX_SEGMENTS as u64);
}
