//! `[[converter.custom_profiles]]`: the raw tables, their validation, and the profiles built
//! from them.

use dmc_protocol::MediaType;
use serde::Deserialize;

use super::error::{fault, Fault};
use super::{builtin_profile, Profile};

/// Most `[[converter.custom_profiles]]`.
pub const MAX_CUSTOM_PROFILES: usize = 64;
/// Most ffmpeg arguments of one custom profile.
pub const MAX_PROFILE_ARGS: usize = 128;
/// Longest single ffmpeg argument of a custom profile, in bytes.
pub const MAX_PROFILE_ARG_BYTES: usize = 1024;

const KEY: &str = "converter.custom_profiles";

/// ffmpeg options a profile must not set: dmc chooses input, output, muxer and progress.
const RESERVED_ARGS: &[&str] = &["-i", "-f", "-y", "-n", "-progress", "-nostdin", "-threads"];

/// One `[[converter.custom_profiles]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProfile {
    name: String,
    media_types: Vec<MediaType>,
    encoder: String,
    args: Vec<String>,
    extension: String,
    /// ffprobe `codec_name` the output's first video (or, for audio-only profiles, audio)
    /// stream must have.
    codec: String,
    /// A name in ffprobe's `format_name` of the output, e.g. `matroska`, `mp4`, `ogg`.
    container: String,
    /// ffmpeg muxer (`-f`); defaults to `container`.
    #[serde(default)]
    muxer: Option<String>,
    /// Whether the output's duration must match the source's; default: unless image-only.
    #[serde(default)]
    check_duration: Option<bool>,
}

/// Validates `[[converter.custom_profiles]]` and builds their profiles.
pub(super) fn custom_profiles(raw: Vec<RawProfile>) -> Result<Vec<&'static Profile>, Fault> {
    if raw.len() > MAX_CUSTOM_PROFILES {
        return Err(fault(
            KEY,
            None,
            format!("at most {MAX_CUSTOM_PROFILES} custom profiles"),
        ));
    }
    let mut out: Vec<&'static Profile> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let profile = custom_profile(r, &out).map_err(|m| fault(KEY, Some(i), m))?;
        out.push(Box::leak(Box::new(profile)));
    }
    Ok(out)
}

/// Checks one table against the profiles `before` it and builds its profile; the error is the
/// message for that table.
fn custom_profile(r: RawProfile, before: &[&'static Profile]) -> Result<Profile, String> {
    check_name(&r.name, before)?;
    let mut media_types: Vec<MediaType> = Vec::new();
    for m in r.media_types {
        if !media_types.contains(&m) {
            media_types.push(m);
        }
    }
    if media_types.is_empty() {
        return Err(format!(
            "profile `{}`: media_types needs at least one of \"audio\", \"image\", \"video\"",
            r.name
        ));
    }
    for (what, v) in [
        ("encoder", &r.encoder),
        ("codec", &r.codec),
        ("container", &r.container),
    ] {
        if !token(v) {
            return Err(format!(
                "profile `{}`: {what} `{v}` must be 1 to 64 ASCII letters, digits, `_`, `-` \
                 or `.` (as `ffmpeg -encoders` / ffprobe print it)",
                r.name
            ));
        }
    }
    let muxer = r.muxer.unwrap_or_else(|| r.container.clone());
    if !token(&muxer) {
        return Err(format!(
            "profile `{}`: muxer `{muxer}` is not a muxer name (see `ffmpeg -muxers`)",
            r.name
        ));
    }
    let ext_ok = !r.extension.is_empty()
        && r.extension.len() <= 16
        && r.extension.chars().all(|c| c.is_ascii_alphanumeric());
    if !ext_ok {
        return Err(format!(
            "profile `{}`: extension `{}` must be 1 to 16 ASCII letters or digits, without \
             the dot",
            r.name, r.extension
        ));
    }
    check_args(&r.name, &r.encoder, &r.args)?;
    let audio_only = media_types.iter().all(|m| *m == MediaType::Audio);
    let image_only = media_types.iter().all(|m| *m == MediaType::Image);
    let codec: &'static str = leak(r.codec);
    let args: Vec<&'static str> = r.args.into_iter().map(leak).collect();
    Ok(Profile {
        name: leak(r.name),
        media_types: Vec::leak(media_types),
        encoder: leak(r.encoder),
        args: Vec::leak(args),
        muxer: leak(muxer),
        extension: leak(r.extension),
        expect_format: leak(r.container),
        expect_video_codec: (!audio_only).then_some(codec),
        expect_audio_codec: audio_only.then_some(codec),
        check_duration: r.check_duration.unwrap_or(!image_only),
    })
}

/// A valid profile name, neither built in nor defined `before`.
fn check_name(name: &str, before: &[&'static Profile]) -> Result<(), String> {
    if !dmc_protocol::media::valid_profile_name(name) {
        return Err(format!(
            "name `{name}` is not a profile name: 1 to {} ASCII letters, digits, `-`, `_` or \
             `.`, starting with a letter or digit",
            dmc_protocol::media::MAX_PROFILE_NAME
        ));
    }
    if builtin_profile(name).is_some() {
        return Err(format!(
            "name `{name}` is a built-in profile; give the custom profile another name"
        ));
    }
    if before.iter().any(|p| p.name == name) {
        return Err(format!("profile `{name}` is defined twice"));
    }
    Ok(())
}

/// The ffmpeg output arguments of profile `name`: bounded, none that dmc sets itself, and
/// selecting `encoder`.
fn check_args(name: &str, encoder: &str, args: &[String]) -> Result<(), String> {
    if args.is_empty() || args.len() > MAX_PROFILE_ARGS {
        return Err(format!(
            "profile `{name}`: args needs 1 to {MAX_PROFILE_ARGS} ffmpeg output arguments, e.g. \
             [\"-c:v\", \"{encoder}\"]"
        ));
    }
    for a in args {
        if a.is_empty() || a.len() > MAX_PROFILE_ARG_BYTES || a.chars().any(char::is_control) {
            return Err(format!(
                "profile `{name}`: argument `{a}` must be 1 to {MAX_PROFILE_ARG_BYTES} bytes \
                 without control characters"
            ));
        }
        if RESERVED_ARGS.contains(&a.as_str()) {
            return Err(format!(
                "profile `{name}`: argument `{a}` is set by dmc (input, output, muxer, progress, \
                 [converter] threads); remove it"
            ));
        }
    }
    if !args.iter().any(|a| a == encoder) {
        return Err(format!(
            "profile `{name}`: args never select the encoder `{encoder}`; add e.g. \"-c:v\", \
             \"{encoder}\""
        ));
    }
    Ok(())
}

/// Whether `s` is a plain token for an encoder, codec, container or muxer name.
fn token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Keeps `s` for the life of the process (custom profiles are read once, at start).
fn leak(s: String) -> &'static str {
    String::leak(s)
}
