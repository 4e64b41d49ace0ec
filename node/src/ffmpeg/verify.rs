//! Checking a conversion's output against what its profile promises.

use std::path::Path;

use dmc_protocol::Profile;

use super::error::FfmpegError;
use super::probe::{probe, Probe};

/// Least duration difference always tolerated, in milliseconds.
const DURATION_SLACK_MS: u64 = 500;

/// Probes `path` and checks it against `profile`: container format, video and audio codecs,
/// and (when the profile asks and the source duration is known) a duration within
/// max(1 %, 500 ms) of the source's. Returns the output's probe.
pub async fn verify_output(
    path: &Path,
    profile: &Profile,
    source_duration_ms: Option<u64>,
) -> Result<Probe, FfmpegError> {
    let found = probe(path).await.map_err(|e| match e {
        FfmpegError::NotMedia { detail, .. } => {
            FfmpegError::OutputCheck(format!("ffprobe cannot read the output: {detail}"))
        }
        other => other,
    })?;
    check_output(&found, profile, source_duration_ms).map_err(FfmpegError::OutputCheck)?;
    Ok(found)
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
