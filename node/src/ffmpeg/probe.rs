//! `ffprobe` of a local file into a [`Probe`], and the media type it implies.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use dmc_protocol::MediaType;
use serde::Deserialize;

use super::error::FfmpegError;
use super::timing::{media_duration_secs, StreamTiming};
use super::tool::{file_arg, input_guard, run_capture, FFPROBE};

/// Most JSON accepted from ffprobe (its streams' tags included); also the segment checks'.
pub(crate) const MAX_PROBE_OUTPUT: usize = 4 * 1024 * 1024;
/// Longest an ffprobe run may take.
const PROBE_TIME_LIMIT: Duration = Duration::from_secs(60);
/// Longest duration believed (about 31 years); anything longer is treated as unknown.
const MAX_DURATION_MS: f64 = 1e12;

/// Formats (demuxers) that hold still images.
const IMAGE_FORMATS: &[&str] = &["image2", "image2pipe"];
/// Codecs of still pictures, for containers that are not image demuxers.
const STILL_CODECS: &[&str] = &[
    "png", "mjpeg", "webp", "bmp", "tiff", "gif", "jpegls", "jpeg2000",
];

/// What ffprobe reports about a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// ffprobe's `format_name`, e.g. `matroska,webm` or `png_pipe`.
    pub format_name: String,
    /// How long the picture and sound last, when known: the longest video or audio stream's
    /// duration, else the container's ([`media_duration_secs`]).
    pub duration_ms: Option<u64>,
    pub streams: Vec<StreamInfo>,
}

/// One stream of a probed file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// `video`, `audio`, `subtitle`, `data`, `attachment`.
    pub codec_type: String,
    /// e.g. `h264`, `opus`; empty when ffprobe does not know it.
    pub codec_name: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// True for cover art and other attached pictures (not a real video track).
    pub attached_pic: bool,
    /// Frame count, when the container states it.
    pub frames: Option<u64>,
}

impl StreamInfo {
    fn is_real_video(&self) -> bool {
        self.codec_type == "video" && !self.attached_pic
    }
}

#[derive(Deserialize)]
struct RawProbe {
    format: Option<RawFormat>,
    #[serde(default)]
    streams: Vec<RawStream>,
}

#[derive(Deserialize)]
struct RawFormat {
    format_name: Option<String>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    #[serde(flatten)]
    timing: StreamTiming,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    nb_frames: Option<String>,
}

fn seconds_to_ms(secs: f64) -> Option<u64> {
    let ms = (secs * 1000.0).round();
    (ms.is_finite() && (0.0..=MAX_DURATION_MS).contains(&ms)).then_some(ms as u64)
}

impl Probe {
    /// Parses `ffprobe -print_format json -show_format -show_streams` output.
    pub fn from_json(json: &[u8]) -> Result<Probe, String> {
        let raw: RawProbe =
            serde_json::from_slice(json).map_err(|e| format!("invalid ffprobe JSON: {e}"))?;
        let format = raw.format.ok_or("ffprobe reported no format")?;
        let streams: Vec<StreamInfo> = raw
            .streams
            .iter()
            .map(|s| StreamInfo {
                codec_type: s.timing.codec_type.clone().unwrap_or_default(),
                codec_name: s.codec_name.clone().unwrap_or_default(),
                width: s.width,
                height: s.height,
                attached_pic: s.timing.attached_pic(),
                frames: s.nb_frames.as_deref().and_then(|n| n.trim().parse().ok()),
            })
            .collect();
        let duration_ms = media_duration_secs(
            format.duration.as_deref(),
            raw.streams.iter().map(|s| &s.timing),
        )
        .and_then(seconds_to_ms);
        Ok(Probe {
            format_name: format.format_name.unwrap_or_default(),
            duration_ms,
            streams,
        })
    }

    /// Whether the container is one of ffmpeg's still-image demuxers.
    fn is_image_format(&self) -> bool {
        self.format_name
            .split(',')
            .any(|f| f.ends_with("_pipe") || IMAGE_FORMATS.contains(&f))
    }

    /// The kind of media: image for still-image formats (or a lone still-picture stream with
    /// one frame or no duration), video when a real video stream is present, audio when only
    /// audio (plus cover art) is. `None` for anything else.
    pub fn media_type(&self) -> Option<MediaType> {
        let videos: Vec<&StreamInfo> = self.streams.iter().filter(|s| s.is_real_video()).collect();
        let has_audio = self.streams.iter().any(|s| s.codec_type == "audio");
        if !videos.is_empty() && self.is_image_format() {
            return Some(MediaType::Image);
        }
        if let [only] = videos.as_slice() {
            let still = STILL_CODECS.contains(&only.codec_name.as_str())
                && (only.frames == Some(1) || self.duration_ms.is_none());
            if still && !has_audio {
                return Some(MediaType::Image);
            }
        }
        if !videos.is_empty() {
            Some(MediaType::Video)
        } else if has_audio {
            Some(MediaType::Audio)
        } else {
            None
        }
    }

    /// The codec of the first real video stream.
    pub fn video_codec(&self) -> Option<&str> {
        self.streams
            .iter()
            .find(|s| s.is_real_video())
            .map(|s| s.codec_name.as_str())
    }

    /// The codec of the first audio stream.
    pub fn audio_codec(&self) -> Option<&str> {
        self.streams
            .iter()
            .find(|s| s.codec_type == "audio")
            .map(|s| s.codec_name.as_str())
    }
}

/// The ffprobe arguments for `input` (a `file:` URL): the protocol whitelist comes before
/// `-i`, where it applies to the input.
pub(crate) fn probe_args(input: &OsStr) -> Vec<&OsStr> {
    let mut args = vec![OsStr::new("-v"), OsStr::new("error")];
    args.extend(input_guard());
    args.extend(
        [
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-i",
        ]
        .map(OsStr::new),
    );
    args.push(input);
    args
}

/// Runs ffprobe on a local file. Fails with [`FfmpegError::NotMedia`] when ffprobe cannot read
/// it or finds no audio, video or image in it.
pub async fn probe(path: &Path) -> Result<Probe, FfmpegError> {
    let input = file_arg(path);
    let args = probe_args(&input);
    let out = run_capture(FFPROBE, &args, MAX_PROBE_OUTPUT, PROBE_TIME_LIMIT).await?;
    let not_media = |detail: String| FfmpegError::NotMedia {
        path: path.to_path_buf(),
        detail,
    };
    if !out.status.success() {
        let last = out
            .stderr
            .last()
            .map(String::as_str)
            .unwrap_or("no message");
        // ffprobe prefixes the message with the URL we gave it; the caller names the path.
        let prefix = format!("{}: ", input.to_string_lossy());
        let detail = last.strip_prefix(prefix.as_str()).unwrap_or(last);
        return Err(not_media(format!("{detail} ({})", out.status)));
    }
    let probe = Probe::from_json(&out.stdout).map_err(|detail| FfmpegError::BadOutput {
        tool: FFPROBE,
        detail,
    })?;
    if probe.media_type().is_none() {
        return Err(not_media(format!(
            "format {} has no audio, video or image stream",
            probe.format_name
        )));
    }
    if probe.format_name == "tty" {
        return Err(not_media("it is a text file".into()));
    }
    Ok(probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(codec_type: &str, codec: &str) -> StreamInfo {
        StreamInfo {
            codec_type: codec_type.into(),
            codec_name: codec.into(),
            width: None,
            height: None,
            attached_pic: false,
            frames: None,
        }
    }

    #[test]
    fn media_types_from_streams() {
        let mut p = Probe {
            format_name: "mp3".into(),
            duration_ms: Some(3000),
            streams: vec![],
        };
        assert_eq!(p.media_type(), None);
        p.streams.push(stream("audio", "mp3"));
        assert_eq!(p.media_type(), Some(MediaType::Audio));
        let mut cover = stream("video", "mjpeg");
        cover.attached_pic = true;
        p.streams.push(cover);
        assert_eq!(p.media_type(), Some(MediaType::Audio));
        p.format_name = "mov,mp4,m4a,3gp,3g2,mj2".into();
        p.streams.push(stream("video", "h264"));
        assert_eq!(p.media_type(), Some(MediaType::Video));

        let jpeg = Probe {
            format_name: "jpeg_pipe".into(),
            duration_ms: None,
            streams: vec![stream("video", "mjpeg")],
        };
        assert_eq!(jpeg.media_type(), Some(MediaType::Image));
        let mut one = stream("video", "png");
        one.frames = Some(1);
        let png_in_mkv = Probe {
            format_name: "matroska,webm".into(),
            duration_ms: Some(40),
            streams: vec![one],
        };
        assert_eq!(png_in_mkv.media_type(), Some(MediaType::Image));
        let mjpeg_avi = Probe {
            format_name: "avi".into(),
            duration_ms: Some(4000),
            streams: vec![stream("video", "mjpeg")],
        };
        assert_eq!(mjpeg_avi.media_type(), Some(MediaType::Video));
    }

    #[test]
    fn json_parsing_is_tolerant_and_bounded() {
        let json =
            br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":320,"height":240,
            "nb_frames":"100","disposition":{"default":1,"attached_pic":0}},
            {"codec_type":"audio","codec_name":"aac","duration":"4.010000"}],
            "format":{"format_name":"mov,mp4","duration":"N/A"}}"#;
        let p = Probe::from_json(json).unwrap();
        assert_eq!(p.duration_ms, Some(4010));
        assert_eq!(p.streams[0].width, Some(320));
        assert_eq!(p.streams[0].frames, Some(100));
        assert_eq!(p.video_codec(), Some("h264"));
        assert_eq!(p.audio_codec(), Some("aac"));
        assert!(Probe::from_json(b"{}").is_err());
        assert!(Probe::from_json(b"garbage").is_err());
        let huge = br#"{"format":{"format_name":"x","duration":"1e300"}}"#;
        assert_eq!(Probe::from_json(huge).unwrap().duration_ms, None);
        let neg = br#"{"format":{"format_name":"x","duration":"-5"}}"#;
        assert_eq!(Probe::from_json(neg).unwrap().duration_ms, None);
    }
}
