//! Sources that break naive splitting (issue 16, point 6): a variable frame rate, two audio
//! tracks with a subtitle track, and a last segment under one second. Each must come out of
//! split → encode → join → check with the source's frame count, its duration within one frame
//! and its audio/video starts within one frame; each test prints its figures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{job_with, run_job, LIMIT};
use crate::ffmpeg::profiles::{builtin_profile, Profile};
use crate::ffmpeg::segments::facts::media_facts;
use crate::ffmpeg::{probe, verify_output, VerifyOptions};

/// Runs ffmpeg with `args` (after the common quiet flags); the test fails if it does.
fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// The first video stream's packet times of `path`, in milliseconds, sorted.
fn video_pts_ms(path: &Path) -> Vec<i64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut pts: Vec<i64> = text
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .map(|s| (s * 1000.0).round() as i64)
        .collect();
    pts.sort_unstable();
    pts
}

/// The distinct frame intervals (ms) of `path`'s video: more than one means variable rate.
fn frame_intervals_ms(path: &Path) -> Vec<i64> {
    let mut gaps: Vec<i64> = video_pts_ms(path).windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    gaps.dedup();
    gaps
}

/// The stream kinds (`video`, `audio`, `subtitle`) of `path`, in order.
async fn stream_kinds(path: &Path) -> Vec<String> {
    let found = probe(path).await.expect("probe");
    found.streams.into_iter().map(|s| s.codec_type).collect()
}

/// Checks `output` against `input`: the same frame count, duration within one frame, A/V
/// start offsets within one frame, and the profile's own check; prints the figures.
async fn assert_in_sync(name: &str, input: &Path, output: &Path, profile: &Profile, ms: u64) {
    let src = media_facts(input, LIMIT).await.unwrap();
    let out = media_facts(output, LIMIT).await.unwrap();
    let frame = src.frame_us;
    let (src_dur, out_dur) = (src.duration_us.unwrap(), out.duration_us.unwrap());
    let (src_av, out_av) = (src.av_offset_us().unwrap(), out.av_offset_us().unwrap());
    eprintln!(
        "{name}: frames source {} output {}; duration source {src_dur} µs output {out_dur} µs \
         (diff {} µs); A/V offset source {src_av} µs output {out_av} µs (diff {} µs); \
         one frame {frame} µs",
        src.frames,
        out.frames,
        src_dur.abs_diff(out_dur),
        src_av.abs_diff(out_av),
    );
    assert_eq!(out.frames, src.frames, "{name}: frame count");
    assert!(src_dur.abs_diff(out_dur) <= frame, "{name}: duration");
    assert!(src_av.abs_diff(out_av) <= frame, "{name}: A/V offset");
    verify_output(output, profile, Some(ms), &VerifyOptions::default())
        .await
        .expect("the joined output passes the profile's check");
}

#[tokio::test]
async fn variable_frame_rate_source_stays_variable_and_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("vfr.mkv");
    // Frame times jitter (53, 53, 14 ms, …) around 25 fps, in a 1 ms time base.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=20:size=160x90:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=20",
        "-vf",
        "settb=1/1000,setpts='(N*0.04+0.013*mod(N\\,3))/TB'",
        "-fps_mode",
        "vfr",
        "-enc_time_base",
        "1/1000",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-shortest",
        src.to_str().unwrap(),
    ]);
    let source_gaps = frame_intervals_ms(&src);
    assert!(source_gaps.len() > 1, "the source is VFR: {source_gaps:?}");
    let profile = builtin_profile("mkv-x264").unwrap();
    let job = job_with(&src, dir.path(), profile, 20_000);
    let (done, _) = run_job(job, Duration::from_secs(4)).await;
    assert!(done.segments >= 4, "{} segments", done.segments);
    let out_gaps = frame_intervals_ms(&done.outcome.output);
    eprintln!("vfr: frame intervals source {source_gaps:?} ms, output {out_gaps:?} ms");
    assert_eq!(
        out_gaps, source_gaps,
        "the output keeps the source's frame times"
    );
    assert_in_sync("vfr", &src, &done.outcome.output, profile, 20_000).await;
}

/// A profile like `mkv-x264` that also copies subtitles.
const X264_WITH_SUBTITLES: Profile = Profile {
    name: "mkv-x264-subs",
    args: &[
        "-map", "0:v:0", "-map", "0:a?", "-map", "0:s?", "-c:a", "copy", "-c:s", "copy", "-c:v",
        "libx264", "-crf", "23", "-preset", "medium",
    ],
    ..crate::ffmpeg::BUILTIN_PROFILES[0]
};

/// A 12 s mkv with two audio tracks (440 and 880 Hz) and an SRT subtitle track whose last cue
/// ends at 13.5 s, past the picture and sound (the container says 13.5 s).
fn two_audio_and_subtitles(dir: &Path) -> PathBuf {
    let srt = dir.join("subs.srt");
    std::fs::write(
        &srt,
        "1\n00:00:01,000 --> 00:00:03,000\nfirst\n\n2\n00:00:09,000 --> 00:00:13,500\nlast\n",
    )
    .unwrap();
    let src = dir.join("tracks.mkv");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=12:size=160x90:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=12",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=880:duration=12",
        "-i",
        srt.to_str().unwrap(),
        "-map",
        "0",
        "-map",
        "1",
        "-map",
        "2",
        "-map",
        "3",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-c:s",
        "srt",
        src.to_str().unwrap(),
    ]);
    src
}

#[tokio::test]
async fn two_audio_tracks_and_subtitles_come_out_per_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let src = two_audio_and_subtitles(dir.path());
    assert_eq!(
        stream_kinds(&src).await,
        ["video", "audio", "audio", "subtitle"]
    );
    // A profile that copies subtitles gets both audio tracks and the subtitles.
    let work = dir.path().join("subs");
    std::fs::create_dir(&work).unwrap();
    let job = job_with(&src, &work, &X264_WITH_SUBTITLES, 12_000);
    let (done, _) = run_job(job, Duration::from_secs(3)).await;
    assert!(done.segments >= 3, "{} segments", done.segments);
    let out = &done.outcome.output;
    assert_eq!(
        stream_kinds(out).await,
        ["video", "audio", "audio", "subtitle"]
    );
    assert_in_sync(
        "two audio + subtitles",
        &src,
        out,
        &X264_WITH_SUBTITLES,
        12_000,
    )
    .await;
    // The built-in profile keeps what a whole conversion keeps: both audio tracks, no subtitles.
    let work = dir.path().join("builtin");
    std::fs::create_dir(&work).unwrap();
    let profile = builtin_profile("mkv-x264").unwrap();
    let (done, _) = run_job(
        job_with(&src, &work, profile, 12_000),
        Duration::from_secs(3),
    )
    .await;
    let out = &done.outcome.output;
    assert_eq!(stream_kinds(out).await, ["video", "audio", "audio"]);
    assert_in_sync("two audio, built-in profile", &src, out, profile, 12_000).await;
}

#[tokio::test]
async fn tiny_last_segment_keeps_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tiny-tail.mp4");
    // 3 × 5 s + 0.3 s, a keyframe every second: the last segment is 0.3 s (8 frames).
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=15.3:size=160x90:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=15.3",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-sc_threshold",
        "0",
        "-c:a",
        "aac",
        "-shortest",
        src.to_str().unwrap(),
    ]);
    let profile = builtin_profile("mkv-x264").unwrap();
    let job = job_with(&src, dir.path(), profile, 15_300);
    let (done, _) = run_job(job, Duration::from_secs(5)).await;
    assert_eq!(done.segments, 4);
    let last = dir.path().join("item.seg-00/cuts/00003.mkv");
    let tail = media_facts(&last, LIMIT).await.unwrap();
    eprintln!("tiny tail: last segment {} frames", tail.frames);
    assert!(
        tail.frames < 25,
        "the last segment is under a second: {tail:?}"
    );
    assert_in_sync(
        "tiny last segment",
        &src,
        &done.outcome.output,
        profile,
        15_300,
    )
    .await;
}
