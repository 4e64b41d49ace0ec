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
