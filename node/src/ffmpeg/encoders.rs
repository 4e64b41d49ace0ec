//! Which encoders the local ffmpeg has, and which profiles (built-in and custom) it can
//! therefore run.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::time::Duration;

use super::profiles::{Profile, BUILTIN_PROFILES};

use super::error::FfmpegError;
use super::tool::{run_capture, FFMPEG};

const MAX_ENCODERS_OUTPUT: usize = 1024 * 1024;
const ENCODERS_TIME_LIMIT: Duration = Duration::from_secs(30);

/// Names of the encoders `ffmpeg -hide_banner -encoders` lists.
pub async fn available_encoders() -> Result<HashSet<String>, FfmpegError> {
    let args = [OsStr::new("-hide_banner"), OsStr::new("-encoders")];
    let out = run_capture(FFMPEG, &args, MAX_ENCODERS_OUTPUT, ENCODERS_TIME_LIMIT).await?;
    if !out.status.success() {
        return Err(FfmpegError::BadOutput {
            tool: FFMPEG,
            detail: format!(
                "`ffmpeg -encoders` failed ({}): {}",
                out.status,
                out.stderr
                    .last()
                    .map(String::as_str)
                    .unwrap_or("no message")
            ),
        });
    }
    let encoders = parse_encoders(&String::from_utf8_lossy(&out.stdout));
    if encoders.is_empty() {
        return Err(FfmpegError::BadOutput {
            tool: FFMPEG,
            detail: "`ffmpeg -encoders` listed no encoders".into(),
        });
    }
    Ok(encoders)
}

/// Parses the listing: after the ` ------` line, each line is `<flags> <name> <description>`.
pub fn parse_encoders(listing: &str) -> HashSet<String> {
    listing
        .lines()
        .skip_while(|l| l.trim() != "------")
        .skip(1)
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let _flags = words.next()?;
            words.next().map(str::to_string)
        })
        .collect()
}

/// The built-in profiles whose encoder is in `encoders`.
pub fn runnable_profiles(encoders: &HashSet<String>) -> Vec<&'static Profile> {
    BUILTIN_PROFILES
        .iter()
        .filter(|p| encoders.contains(p.encoder))
        .collect()
}

/// A custom profile whose encoder the local ffmpeg lacks: the node refuses to start as a
/// converter with it (the operator asked for it explicitly).
#[derive(Debug, thiserror::Error)]
#[error(
    "custom profile `{profile}` needs the ffmpeg encoder `{encoder}`, which this ffmpeg lacks \
     (see `ffmpeg -encoders`); install an ffmpeg that has it, or remove the profile from \
     [[converter.custom_profiles]]"
)]
pub struct MissingEncoder {
    pub profile: &'static str,
    pub encoder: &'static str,
}

/// The profiles this converter can run: the built-in ones whose encoder `encoders` lists, then
/// every custom one. A custom profile whose encoder is missing is an error naming it (the
/// operator asked for it explicitly), where a missing built-in is silently left out.
pub fn converter_profiles(
    encoders: &HashSet<String>,
    custom: &[&'static Profile],
) -> Result<Vec<&'static Profile>, MissingEncoder> {
    let mut out = runnable_profiles(encoders);
    for p in custom {
        if !encoders.contains(p.encoder) {
            return Err(MissingEncoder {
                profile: p.name,
                encoder: p.encoder,
            });
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listing_and_filters_profiles() {
        let listing = "Encoders:\n V..... = Video\n A..... = Audio\n ------\n \
            V....D libx264              libx264 H.264 / AVC\n A....D libopus   libopus Opus\n";
        let enc = parse_encoders(listing);
        assert_eq!(
            enc,
            HashSet::from(["libx264".to_string(), "libopus".to_string()])
        );
        let names: Vec<_> = runnable_profiles(&enc).iter().map(|p| p.name).collect();
        assert_eq!(names, vec!["mkv-x264", "opus"]);
        assert!(parse_encoders("no separator here\n V..... x y").is_empty());

        let flac: &'static Profile = Box::leak(Box::new(Profile {
            name: "flac",
            encoder: "flac",
            ..BUILTIN_PROFILES[0].clone()
        }));
        let err = converter_profiles(&enc, &[flac]).unwrap_err().to_string();
        assert!(
            err.contains("`flac` needs the ffmpeg encoder `flac`"),
            "{err}"
        );
        let mut with_flac = enc.clone();
        with_flac.insert("flac".into());
        let names: Vec<_> = converter_profiles(&with_flac, &[flac])
            .unwrap()
            .iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, vec!["mkv-x264", "opus", "flac"]);
    }
}
