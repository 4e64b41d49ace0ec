//! Test media made with ffmpeg's lavfi sources, and ffprobe checks of results.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

fn ffmpeg(args: &[&str]) -> Result<()> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .context("running ffmpeg (install it: apt-get install ffmpeg)")?;
    if !out.status.success() {
        bail!(
            "ffmpeg {:?} failed: {}",
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// An MP4 whose index (moved to the front) promises 4 s, cut to half its size: ffprobe
/// accepts it (so it can be offered), but ffmpeg decodes only part of it, so the converter's
/// duration check fails the conversion.
pub fn make_truncated_clip(path: &Path) -> Result<()> {
    let full = path.with_extension("full.mp4");
    let full_s = full.to_str().context("path")?;
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=4:size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=4",
        "-c:v",
        "libx264",
        "-c:a",
        "aac",
        "-shortest",
        "-movflags",
        "+faststart",
        full_s,
    ])?;
    let bytes = std::fs::read(&full)?;
    std::fs::write(path, &bytes[..bytes.len() / 2])?;
    std::fs::remove_file(&full)?;
    Ok(())
}

/// An MP4 whose index (moved to the front) is intact, so ffprobe accepts it and it can be
/// offered, but whose media data past the first fifth is garbage: ffmpeg cannot decode it,
/// on any machine.
pub fn make_corrupt_clip(path: &Path) -> Result<()> {
    let full = path.with_extension("full.mp4");
    let full_s = full.to_str().context("path")?;
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=duration=4:size=320x240:rate=25",
        "-c:v",
        "libx264",
        "-movflags",
        "+faststart",
        full_s,
    ])?;
    let mut bytes = std::fs::read(&full)?;
    let n = bytes.len();
    for (i, b) in bytes.iter_mut().enumerate().take(n - 100).skip(n / 5) {
        *b = (i.wrapping_mul(7919) & 0xff) as u8;
    }
    std::fs::write(path, &bytes)?;
    std::fs::remove_file(&full)?;
    Ok(())
}

/// A video with a test pattern and a sine tone, H.264 and AAC in MP4.
pub fn make_clip(path: &Path, secs: u32, size: &str) -> Result<()> {
    video_with_tone(
        path,
        secs,
        &format!("testsrc=duration={secs}:size={size}:rate=25"),
    )
}

/// An uncompressed video (a test pattern, raw YUV 4:2:0 in NUT): 115 kB a frame at 320x240,
/// so `secs` of it make a large file quickly (24 s: 69 MB).
pub fn make_raw_clip(path: &Path, secs: u32, size: &str) -> Result<()> {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=duration={secs}:size={size}:rate=25"),
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "rawvideo",
        "-f",
        "nut",
        path.to_str().context("path")?,
    ])
}

/// `src` remuxed into Matroska without re-encoding: what `mkv-x264` makes of an H.264 clip,
/// for a rogue converter whose result must pass the origin's own check.
pub fn remux_to_mkv(src: &Path, dst: &Path) -> Result<()> {
    ffmpeg(&[
        "-i",
        src.to_str().context("path")?,
        "-c",
        "copy",
        "-f",
        "matroska",
        dst.to_str().context("path")?,
    ])
}

/// A video of moving noise that does not compress: about 2.5 MB per second of 640x360, so
/// transfers and conversions take long enough to be interrupted.
pub fn make_noisy_clip(path: &Path, secs: u32) -> Result<()> {
    let source = format!("testsrc2=duration={secs}:size=640x360:rate=25,noise=alls=30:allf=t");
    video_with_tone(path, secs, &source)
}

/// Encodes the lavfi video `source` with a 440 Hz tone as H.264 and AAC.
#[rustfmt::skip]
fn video_with_tone(path: &Path, secs: u32, source: &str) -> Result<()> {
    let tone = format!("sine=frequency=440:duration={secs}");
    let out = path.to_str().context("path")?;
    ffmpeg(&[
        "-f", "lavfi", "-i", source, "-f", "lavfi", "-i", &tone, "-c:v", "libx264", "-preset",
        "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out,
    ])
}

/// A 440 Hz tone of `secs` seconds (audio only; the container follows `path`'s extension).
pub fn make_tone(path: &Path, secs: u32) -> Result<()> {
    let tone = format!("sine=frequency=440:duration={secs}");
    ffmpeg(&["-f", "lavfi", "-i", &tone, path.to_str().context("path")?])
}

/// A PNG test pattern.
pub fn make_png(path: &Path) -> Result<()> {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=640x480",
        "-frames:v",
        "1",
        path.to_str().context("path")?,
    ])
}

/// `n` distinct small PNGs in `dir` (frames of a test pattern with a running counter, stored
/// uncompressed: about 21 KB each, which the `webp` profile shrinks to under 2 KB).
pub fn make_pngs(dir: &Path, n: u32) -> Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let pattern = dir.join("img%04d.png");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=96x72:rate=25",
        "-frames:v",
        &n.to_string(),
        "-compression_level",
        "0",
        pattern.to_str().context("path")?,
    ])?;
    Ok((1..=n)
        .map(|i| dir.join(format!("img{i:04}.png")))
        .collect())
}

/// A grey 256x256 PNG of one-pixel checks: a few hundred bytes, since deflate packs the
/// pattern, while any lossy encoding of it (the `webp` profile) is tens of times larger.
pub fn make_checkerboard_png(path: &Path) -> Result<()> {
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "nullsrc=s=256x256,geq=lum='255*mod(X+Y\\,2)':cb=128:cr=128,format=gray",
        "-frames:v",
        "1",
        path.to_str().context("path")?,
    ])
}

/// `(format_name, [(codec_type, codec_name)])` of a file, from ffprobe.
pub fn ffprobe_streams(path: &Path) -> Result<(String, Vec<(String, String)>)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    if !out.status.success() {
        bail!(
            "ffprobe {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let format = v["format"]["format_name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let streams = v["streams"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["codec_type"].as_str().unwrap_or_default().to_string(),
                        s["codec_name"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok((format, streams))
}

/// SHA-512 of a file, lowercase hex, by the system's `sha512sum` (an independent check).
pub fn sha512_hex(path: &Path) -> Result<String> {
    let out = Command::new("sha512sum")
        .arg(path)
        .output()
        .context("running sha512sum")?;
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(s.split_whitespace().next().unwrap_or_default().to_string())
}

/// A 25 fps H.264 clip with a keyframe every 2 s (so short segments can be cut) and a tone,
/// `secs` long, of `size`.
#[rustfmt::skip]
pub fn make_gop_clip(path: &Path, secs: u32, size: &str) -> Result<()> {
    let video = format!("testsrc2=duration={secs}:size={size}:rate=25");
    let tone = format!("sine=frequency=440:duration={secs}");
    let out = path.to_str().context("path")?;
    ffmpeg(&[
        "-f", "lavfi", "-i", &video, "-f", "lavfi", "-i", &tone, "-c:v", "libx264", "-preset",
        "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out,
    ])
}

/// The video frames of `path` (ffprobe counts the packets of its first video stream).
pub fn video_frames(path: &Path) -> Result<u64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .context("run ffprobe")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("ffprobe gave no frame count for {}: {text}", path.display()))
}

/// Sources that break naive splitting (issue 16, point 6), each at least 12 s of 320x180 at
/// 25 fps with sound, so that `split_min = "10s"` splits it into segments of about 4 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HardInput {
    /// libx264's default B-frames (3), a keyframe every 2 s; 20 s.
    BFrames,
    /// A keyframe only every 10 s: segments can only be cut there; 30 s.
    LongGop,
    /// Frame times that jitter (53, 53, 14 ms, …) around 25 fps in a 1 ms time base; 20 s, mkv.
    VariableRate,
    /// Two audio tracks (440 and 880 Hz) and an SRT subtitle track whose last cue ends at
    /// 13.5 s, after the 12 s of picture and sound (the container says 13.5 s); mkv.
    TwoAudioAndSubtitles,
    /// A keyframe every 2 s and 16.3 s long: in 4 s segments the last holds 0.3 s (8 frames).
    TinyLastSegment,
}

impl HardInput {
    pub const ALL: [HardInput; 5] = [
        HardInput::BFrames,
        HardInput::LongGop,
        HardInput::VariableRate,
        HardInput::TwoAudioAndSubtitles,
        HardInput::TinyLastSegment,
    ];

    /// Makes the source in `dir`; its path.
    pub fn make(self, dir: &Path) -> Result<std::path::PathBuf> {
        let (name, secs) = match self {
            HardInput::BFrames => ("bframes.mp4", "20"),
            HardInput::LongGop => ("long-gop.mp4", "30"),
            HardInput::VariableRate => ("vfr.mkv", "20"),
            HardInput::TwoAudioAndSubtitles => ("tracks.mkv", "12"),
            HardInput::TinyLastSegment => ("tiny-tail.mp4", "16.3"),
        };
        let path = dir.join(name);
        let video = format!("testsrc2=duration={secs}:size=320x180:rate=25");
        let tone = format!("sine=frequency=440:duration={secs}");
        let mut args: Vec<String> = ["-f", "lavfi", "-i", &video, "-f", "lavfi", "-i", &tone]
            .map(String::from)
            .to_vec();
        args.extend(self.extra_inputs(dir, secs)?);
        args.extend(self.encoding().iter().map(|s| s.to_string()));
        args.extend(["-c:a", "aac"].map(String::from));
        // With a sparse subtitle track `-shortest` cuts video and audio seconds early; the
        // inputs all last as long anyway.
        if self != HardInput::TwoAudioAndSubtitles {
            args.push("-shortest".into());
        }
        args.push(path.to_str().context("path")?.into());
        ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(path)
    }

    /// Inputs past the picture and the tone, with their `-map`s (two audio and subtitles).
    fn extra_inputs(self, dir: &Path, secs: &str) -> Result<Vec<String>> {
        if self != HardInput::TwoAudioAndSubtitles {
            return Ok(Vec::new());
        }
        let srt = dir.join("subs.srt");
        std::fs::write(
            &srt,
            "1\n00:00:01,000 --> 00:00:03,000\nfirst\n\n2\n00:00:09,000 --> 00:00:13,500\nlast\n",
        )?;
        let second = format!("sine=frequency=880:duration={secs}");
        let srt = srt.to_str().context("path")?;
        Ok(["-f", "lavfi", "-i", &second, "-i", srt]
            .into_iter()
            .chain([
                "-map", "0", "-map", "1", "-map", "2", "-map", "3", "-c:s", "srt",
            ])
            .map(String::from)
            .collect())
    }

    /// The video encoding that makes the source hard.
    #[rustfmt::skip]
    fn encoding(self) -> &'static [&'static str] {
        match self {
            HardInput::BFrames => &["-c:v", "libx264", "-preset", "medium", "-bf", "3", "-g", "50"],
            HardInput::LongGop => {
                &["-c:v", "libx264", "-preset", "veryfast", "-g", "250", "-sc_threshold", "0"]
            }
            HardInput::VariableRate => &[
                "-vf", "settb=1/1000,setpts='(N*0.04+0.013*mod(N\\,3))/TB'", "-fps_mode", "vfr",
                "-enc_time_base", "1/1000", "-c:v", "libx264", "-preset", "veryfast", "-g", "25",
            ],
            HardInput::TwoAudioAndSubtitles => &["-c:v", "libx264", "-preset", "veryfast", "-g", "25"],
            HardInput::TinyLastSegment => {
                &["-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-sc_threshold", "0"]
            }
        }
    }
}

/// What says whether a result is in step with its source, from ffprobe.
#[derive(Clone, Debug, PartialEq)]
pub struct SyncFacts {
    /// Packets of the first video stream.
    pub frames: u64,
    /// One frame, from the video's average (else nominal) frame rate, in microseconds.
    pub frame_us: u64,
    /// How long picture and sound last, in microseconds: the longest video or audio stream
    /// (its `duration`, else Matroska's `DURATION` tag), else the container.
    pub duration_us: i64,
    /// The first audio stream's start minus the first video stream's, in microseconds.
    pub av_offset_us: Option<i64>,
    /// The kinds of the streams (`video`, `audio`, `subtitle`), in order.
    pub kinds: Vec<String>,
}

/// The [`SyncFacts`] of `path`.
pub fn sync_facts(path: &Path) -> Result<SyncFacts> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-print_format", "json"])
        .args(["-show_format", "-show_streams"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("ffprobe of {}", path.display()))?;
    let streams = v["streams"].as_array().context("no streams")?;
    let first = |kind: &str| streams.iter().find(|s| s["codec_type"] == kind);
    let video = first("video").context("no video stream")?;
    let secs_us = |s: &serde_json::Value| -> Option<i64> {
        Some((s.as_str()?.parse::<f64>().ok()? * 1e6).round() as i64)
    };
    let video_start = secs_us(&video["start_time"]).unwrap_or(0);
    Ok(SyncFacts {
        frames: video["nb_read_packets"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .context("no packet count")?,
        frame_us: frame_us(&video["avg_frame_rate"])
            .or_else(|| frame_us(&video["r_frame_rate"]))
            .context("no frame rate")?,
        duration_us: streams
            .iter()
            .filter(|s| s["codec_type"] == "video" || s["codec_type"] == "audio")
            .filter_map(|s| secs_us(&s["duration"]).or_else(|| tag_us(&s["tags"]["DURATION"])))
            .max()
            .or_else(|| secs_us(&v["format"]["duration"]))
            .context("no duration")?,
        av_offset_us: first("audio")
            .and_then(|a| secs_us(&a["start_time"]))
            .map(|a| a - video_start),
        kinds: streams
            .iter()
            .filter_map(|s| s["codec_type"].as_str().map(String::from))
            .collect(),
    })
}

/// Microseconds of a Matroska `DURATION` tag like `"00:00:12.023000000"`.
fn tag_us(tag: &serde_json::Value) -> Option<i64> {
    let mut parts = tag.as_str()?.splitn(3, ':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(((hours * 3600.0 + minutes * 60.0 + seconds) * 1e6).round() as i64)
}

/// Microseconds of one frame at a rate like `"25/1"`.
fn frame_us(rate: &serde_json::Value) -> Option<u64> {
    let (num, den) = rate.as_str()?.split_once('/')?;
    let (num, den): (u64, u64) = (num.parse().ok()?, den.parse().ok()?);
    (num > 0 && den > 0).then(|| den * 1_000_000 / num)
}

/// The distinct intervals between the video frames of `path`, in milliseconds: more than one
/// means a variable frame rate.
pub fn frame_intervals_ms(path: &Path) -> Result<Vec<i64>> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .context("running ffprobe")?;
    let mut pts: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .map(|s| (s * 1000.0).round() as i64)
        .collect();
    pts.sort_unstable();
    let mut gaps: Vec<i64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    gaps.dedup();
    Ok(gaps)
}
