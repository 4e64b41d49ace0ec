//! What the segment checks need to know of a video file, from one ffprobe pass that counts
//! packets (a demux, no decode): the first video stream's frame count, frame duration and
//! start, the first audio stream's start, how long picture and sound last.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::ffmpeg::error::FfmpegError;
use crate::ffmpeg::probe::MAX_PROBE_OUTPUT;
use crate::ffmpeg::timing::{media_duration_secs, StreamTiming};
use crate::ffmpeg::tool::{file_arg, input_guard, run_capture, FFPROBE};

/// Frame duration assumed when the stream states no usable rate (25 fps).
const FALLBACK_FRAME_US: u64 = 40_000;

/// Timing facts of one file's first video stream (and first audio stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MediaFacts {
    /// Video packets (one per frame) of the first video stream.
    pub frames: u64,
    /// One frame's duration, in microseconds (from the average frame rate).
    pub frame_us: u64,
    /// Start of the first video stream, in microseconds (may be negative).
    pub video_start_us: i64,
    /// Start of the first audio stream, if there is one.
    pub audio_start_us: Option<i64>,
    /// Subtitle streams.
    pub subtitle_streams: usize,
    /// How long the picture and sound last ([`media_duration_secs`]), when stated.
    pub duration_us: Option<u64>,
}

impl MediaFacts {
    /// Audio start minus video start, when there is audio.
    pub fn av_offset_us(&self) -> Option<i64> {
        self.audio_start_us.map(|a| a - self.video_start_us)
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    streams: Vec<RawStream>,
    format: Option<RawFormat>,
}

#[derive(Deserialize)]
struct RawStream {
    #[serde(flatten)]
    timing: StreamTiming,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    start_time: Option<String>,
    nb_read_packets: Option<String>,
}

impl RawStream {
    fn is(&self, kind: &str) -> bool {
        self.timing.codec_type.as_deref() == Some(kind)
    }
}

#[derive(Deserialize)]
struct RawFormat {
    duration: Option<String>,
}

/// Seconds as text to microseconds; `None` for `N/A`, garbage or absurd values.
fn secs_to_us(text: Option<&str>) -> Option<i64> {
    us_of(text?.trim().parse().ok()?)
}

/// Seconds to microseconds; `None` for absurd values.
fn us_of(secs: f64) -> Option<i64> {
    let us = (secs * 1e6).round();
    (us.is_finite() && us.abs() < 1e15).then_some(us as i64)
}

/// A rate `num/den` as one frame's duration in microseconds.
fn frame_us(rate: Option<&str>) -> Option<u64> {
    let (num, den) = rate?.split_once('/')?;
    let (num, den): (u64, u64) = (num.trim().parse().ok()?, den.trim().parse().ok()?);
    if num == 0 || den == 0 {
        return None;
    }
    let us = den.checked_mul(1_000_000)? / num;
    (us > 0).then_some(us)
}

impl MediaFacts {
    /// Parses the counting ffprobe's JSON; fails when there is no video stream.
    pub fn from_json(json: &[u8]) -> Result<MediaFacts, String> {
        let raw: Raw =
            serde_json::from_slice(json).map_err(|e| format!("invalid ffprobe JSON: {e}"))?;
        let video = raw
            .streams
            .iter()
            .find(|s| s.is("video") && !s.timing.attached_pic())
            .ok_or("no video stream")?;
        let audio = raw.streams.iter().find(|s| s.is("audio"));
        let frames = video
            .nb_read_packets
            .as_deref()
            .and_then(|n| n.trim().parse().ok())
            .ok_or("ffprobe did not count the video packets")?;
        Ok(MediaFacts {
            frames,
            frame_us: frame_us(video.avg_frame_rate.as_deref())
                .or_else(|| frame_us(video.r_frame_rate.as_deref()))
                .unwrap_or(FALLBACK_FRAME_US),
            video_start_us: secs_to_us(video.start_time.as_deref()).unwrap_or(0),
            audio_start_us: audio.and_then(|a| secs_to_us(a.start_time.as_deref())),
            subtitle_streams: raw.streams.iter().filter(|s| s.is("subtitle")).count(),
            duration_us: media_duration_secs(
                raw.format.as_ref().and_then(|f| f.duration.as_deref()),
                raw.streams.iter().map(|s| &s.timing),
            )
            .and_then(us_of)
            .and_then(|d| u64::try_from(d).ok()),
        })
    }
}

/// Counts the video frames of `path` (and reads its starts and duration) with ffprobe; `limit`
/// bounds the run (a demux of the whole file).
pub(crate) async fn media_facts(path: &Path, limit: Duration) -> Result<MediaFacts, FfmpegError> {
    let input = file_arg(path);
    let mut args: Vec<&OsStr> = vec![OsStr::new("-v"), OsStr::new("error")];
    args.extend(input_guard());
    args.extend(
        [
            "-count_packets",
            "-show_entries",
            "stream=codec_type,avg_frame_rate,r_frame_rate,start_time,nb_read_packets,duration:\
             stream_tags:stream_disposition=attached_pic:format=duration",
            "-of",
            "json",
            "-i",
        ]
        .map(OsStr::new),
    );
    args.push(&input);
    // The streams' tags (for their `DURATION`) are asked for, so the same bound as the probe
    // that already accepted the source.
    let out = run_capture(FFPROBE, &args, MAX_PROBE_OUTPUT, limit).await?;
    if !out.status.success() {
        return Err(FfmpegError::OutputCheck(format!(
            "ffprobe cannot count the frames of {} ({}): {}",
            path.display(),
            out.status,
            out.stderr
                .last()
                .map(String::as_str)
                .unwrap_or("no message")
        )));
    }
    MediaFacts::from_json(&out.stdout).map_err(|detail| {
        FfmpegError::OutputCheck(format!(
            "cannot count the frames of {}: {detail}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_from_ffprobe_json() {
        let json = br#"{"streams":[
            {"codec_type":"video","avg_frame_rate":"25/1","r_frame_rate":"25/1",
             "start_time":"0.080000","nb_read_packets":"750","disposition":{"attached_pic":0}},
            {"codec_type":"audio","avg_frame_rate":"0/0","start_time":"0.000000",
             "nb_read_packets":"1293"}],
            "format":{"duration":"30.023000"}}"#;
        let f = MediaFacts::from_json(json).unwrap();
        assert_eq!(f.frames, 750);
        assert_eq!(f.frame_us, 40_000);
        assert_eq!(f.video_start_us, 80_000);
        assert_eq!(f.av_offset_us(), Some(-80_000));
        assert_eq!(f.duration_us, Some(30_023_000));
        let ntsc = br#"{"streams":[{"codec_type":"video","avg_frame_rate":"0/0",
            "r_frame_rate":"30000/1001","start_time":"N/A","nb_read_packets":"3"}]}"#;
        let f = MediaFacts::from_json(ntsc).unwrap();
        assert_eq!(
            (f.frame_us, f.video_start_us, f.audio_start_us),
            (33_366, 0, None)
        );
        assert!(MediaFacts::from_json(br#"{"streams":[{"codec_type":"audio"}]}"#).is_err());
        assert!(MediaFacts::from_json(b"nonsense").is_err());
    }
}
