//! Checking a conversion's output against what its profile promises: ffprobe (streams,
//! codecs, container, duration), its size against the source's, and optionally a full decode.

use std::ffi::OsStr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::profiles::Profile;

use super::cancel::CancelToken;
use super::error::FfmpegError;
use super::probe::{probe, Probe};
use super::tool::{file_arg, input_guard, run_capture, FFMPEG};

/// Least duration difference always tolerated, in milliseconds.
const DURATION_SLACK_MS: u64 = 500;
/// Least time a decode pass is given; it also gets four times the media's duration.
const DECODE_MIN_LIMIT: Duration = Duration::from_secs(300);

/// How thoroughly outputs are checked (`[converter] verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyMode {
    /// ffprobe only: container, codecs, duration.
    Probe,
    /// ffprobe, then a full decode (`ffmpeg -v error -i OUT -f null -`) that must print no
    /// error.
    Decode,
}

impl VerifyMode {
    /// The name `[converter] verify` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyMode::Probe => "probe",
            VerifyMode::Decode => "decode",
        }
    }
}

impl FromStr for VerifyMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "probe" => Ok(VerifyMode::Probe),
            "decode" => Ok(VerifyMode::Decode),
            other => Err(format!(
                "unknown verify mode `{other}`: expected \"probe\" (ffprobe the output) or \
                 \"decode\" (also decode it fully)"
            )),
        }
    }
}

/// What else [`verify_output`] checks besides the profile.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub mode: VerifyMode,
    /// The source's size in bytes; an output larger than it fails unless `allow_larger`.
    pub source_size: Option<u64>,
    pub allow_larger: bool,
    /// Cancelling it stops a decode pass.
    pub cancel: CancelToken,
}

/// The configuration's default mode, any size, no cancel: what tests start from.
#[cfg(test)]
impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            mode: crate::config::defaults::converter::VERIFY,
            source_size: None,
            allow_larger: false,
            cancel: CancelToken::default(),
        }
    }
}

/// Checks `path` against `profile` and `opts`: its size against the source's, then ffprobe's
/// container format, video and audio codecs, and (when the profile asks and the source duration
/// is known) a duration within max(1 %, 500 ms) of the source's; with
/// [`VerifyMode::Decode`], a full decode without errors. Returns the output's probe.
pub async fn verify_output(
    path: &Path,
    profile: &Profile,
    source_duration_ms: Option<u64>,
    opts: &VerifyOptions,
) -> Result<Probe, FfmpegError> {
    let size = tokio::fs::metadata(path)
        .await
        .map_err(|e| FfmpegError::io(format!("read the size of {}", path.display()), e))?
        .len();
    if let Some(source) = opts.source_size {
        check_size(size, source, opts.allow_larger).map_err(FfmpegError::LargerThanSource)?;
    }
    let found = probe(path).await.map_err(|e| match e {
        FfmpegError::NotMedia { detail, .. } => {
            FfmpegError::OutputCheck(format!("ffprobe cannot read the output: {detail}"))
        }
        other => other,
    })?;
    check_output(&found, profile, source_duration_ms).map_err(FfmpegError::OutputCheck)?;
    if opts.mode == VerifyMode::Decode {
        let media_ms = found.duration_ms.or(source_duration_ms).unwrap_or(0);
        let limit = DECODE_MIN_LIMIT.max(Duration::from_millis(media_ms.saturating_mul(4)));
        tokio::select! {
            biased;
            _ = opts.cancel.cancelled() => return Err(FfmpegError::Cancelled),
            r = decode(path, limit) => r?,
        }
    }
    Ok(found)
}

/// An output larger than its source fails ("output larger than source") unless allowed.
pub fn check_size(output: u64, source: u64, allow_larger: bool) -> Result<(), String> {
    if output > source && !allow_larger {
        return Err(format!(
            "output larger than source ({output} bytes from {source}); set [converter] \
             allow_larger = true to keep such outputs"
        ));
    }
    Ok(())
}

/// Decodes every stream of `path` to nothing; any error ffmpeg prints, or a failed exit,
/// fails the check.
async fn decode(path: &Path, limit: Duration) -> Result<(), FfmpegError> {
    let input = file_arg(path);
    let args = decode_args(&input);
    let out = run_capture(FFMPEG, &args, 64 * 1024, limit).await?;
    let errors: Vec<&String> = out.stderr.iter().filter(|l| !l.trim().is_empty()).collect();
    if !out.status.success() || !errors.is_empty() {
        let detail = errors
            .iter()
            .rev()
            .take(5)
            .rev()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(FfmpegError::OutputCheck(format!(
            "the output does not decode cleanly ({}): {}",
            out.status,
            if detail.is_empty() {
                "no message"
            } else {
                &detail
            }
        )));
    }
    Ok(())
}

/// The ffmpeg arguments of a decode pass over `input` (a `file:` URL): no stdin, the protocol
/// whitelist before `-i`, output to the null muxer.
pub(crate) fn decode_args(input: &OsStr) -> Vec<&OsStr> {
    let mut args: Vec<&OsStr> = ["-hide_banner", "-nostdin", "-v", "error"]
        .map(OsStr::new)
        .to_vec();
    args.extend(input_guard());
    args.extend([OsStr::new("-i"), input]);
    args.extend(["-f", "null", "-"].map(OsStr::new));
    args
}

/// The checks of [`verify_output`] on an existing probe; the error says expected vs found.
pub fn check_output(
    found: &Probe,
    profile: &Profile,
    source_duration_ms: Option<u64>,
) -> Result<(), String> {
    if !found
        .format_name
        .split(',')
        .any(|f| f.contains(profile.expect_format))
    {
        return Err(format!(
            "expected container {}, found {}",
            profile.expect_format, found.format_name
        ));
    }
    if let Some(want) = profile.expect_video_codec {
        let got = found.video_codec();
        if got != Some(want) {
            return Err(format!(
                "expected video codec {want}, found {}",
                got.unwrap_or("no video stream")
            ));
        }
    }
    if let Some(want) = profile.expect_audio_codec {
        let got = found.audio_codec();
        if got != Some(want) {
            return Err(format!(
                "expected audio codec {want}, found {}",
                got.unwrap_or("no audio stream")
            ));
        }
    }
    if let (true, Some(src)) = (profile.check_duration, source_duration_ms) {
        let Some(out) = found.duration_ms else {
            return Err(format!("expected a duration of {src} ms, found none"));
        };
        let allowed = (src / 100).max(DURATION_SLACK_MS);
        if out.abs_diff(src) > allowed {
            return Err(format!(
                "expected a duration of {src} ms (± {allowed} ms), found {out} ms"
            ));
        }
    }
    Ok(())
}
