//! `[converter]`: whether and how this node converts for others.

use std::path::Path;
use std::time::Duration;

use super::custom_profiles::custom_profiles;
use super::defaults::converter::WORK_DIR_IN_DATA_DIR;
use super::error::{fault, Fault};
use super::paths::resolve_path;
use super::raw::RawConverter;
use super::sections::known_profiles;
use super::{
    builtin_profile, format_duration, parse_duration, ConverterConfig, Profile, VerifyMode,
};
use crate::ffmpeg::{SplitPolicy, TimeLimit, MAX_NICE};

/// Most `-threads` a converter may give ffmpeg's encoders.
pub const MAX_THREADS: u32 = 256;
/// Largest `[converter] time_limit_factor`.
pub const MAX_TIME_LIMIT_FACTOR: u32 = 10_000;
/// Shortest `[converter] time_limit_min` and `time_limit_unknown`.
pub const MIN_TIME_LIMIT: Duration = Duration::from_secs(1);
/// Most concurrent conversions a converter may run (records refuse more).
pub const MAX_WORKERS: u32 = 1024;
/// Shortest `[converter] segment`.
pub const MIN_SEGMENT: Duration = Duration::from_secs(1);
/// Longest `[converter] segment`.
pub const MAX_SEGMENT: Duration = Duration::from_secs(3600);

/// Validates `[converter]`.
pub(super) fn resolve_converter(
    c: RawConverter,
    data_dir: &Path,
    home: Option<&Path>,
) -> Result<ConverterConfig, Fault> {
    if c.workers == 0 {
        return Err(fault("converter.workers", None, "must be at least 1"));
    }
    if c.workers > MAX_WORKERS {
        return Err(fault(
            "converter.workers",
            None,
            format!("must be at most {MAX_WORKERS}"),
        ));
    }
    let mut media_types = Vec::new();
    for m in c.media_types {
        if !media_types.contains(&m) {
            media_types.push(m);
        }
    }
    if c.enabled && media_types.is_empty() {
        return Err(fault(
            "converter.media_types",
            None,
            "an enabled converter needs at least one of \"audio\", \"image\", \"video\"",
        ));
    }
    if c.threads > MAX_THREADS {
        return Err(fault(
            "converter.threads",
            None,
            format!("must be at most {MAX_THREADS} (0 lets ffmpeg choose)"),
        ));
    }
    let verify: VerifyMode = c
        .verify
        .parse()
        .map_err(|m| fault("converter.verify", None, m))?;
    let custom_profiles = custom_profiles(c.custom_profiles)?;
    let profiles = offered_profiles(c.profiles, &custom_profiles)?;
    let work_dir = if c.work_dir.is_empty() {
        data_dir.join(WORK_DIR_IN_DATA_DIR)
    } else {
        resolve_path(&c.work_dir, data_dir, home)
            .map_err(|m| fault("converter.work_dir", None, m))?
    };
    let retention =
        parse_duration(&c.retention).map_err(|m| fault("converter.retention", None, m))?;
    Ok(ConverterConfig {
        enabled: c.enabled,
        media_types,
        workers: c.workers,
        work_dir,
        profiles,
        threads: c.threads,
        verify,
        allow_larger: c.allow_larger,
        custom_profiles,
        reserve_bytes: c.reserve_bytes,
        retention,
        nice: nice(c.nice)?,
        time_limit: time_limit(
            c.time_limit_factor,
            &c.time_limit_min,
            &c.time_limit_unknown,
        )?,
        split: split(&c.split_min, &c.segment)?,
    })
}

/// `[converter] profiles`: each built in or in `custom`, duplicates dropped.
fn offered_profiles(raw: Vec<String>, custom: &[&'static Profile]) -> Result<Vec<String>, Fault> {
    let mut profiles: Vec<String> = Vec::new();
    for (i, p) in raw.into_iter().enumerate() {
        if builtin_profile(&p).is_none() && !custom.iter().any(|c| c.name == p) {
            return Err(fault(
                "converter.profiles",
                Some(i),
                format!(
                    "unknown profile `{p}`; known profiles: {}",
                    known_names(custom).join(", ")
                ),
            ));
        }
        if !profiles.contains(&p) {
            profiles.push(p);
        }
    }
    Ok(profiles)
}

/// The names of the built-in profiles and of `custom`, for errors.
pub(super) fn known_names(custom: &[&'static Profile]) -> Vec<&'static str> {
    known_profiles(custom).map(|p| p.name).collect()
}

/// `[converter] nice`.
fn nice(raw: i64) -> Result<u8, Fault> {
    u8::try_from(raw)
        .ok()
        .filter(|n| *n <= MAX_NICE)
        .ok_or_else(|| {
            fault(
                "converter.nice",
                None,
                format!(
                    "must be between 0 (normal CPU priority) and {MAX_NICE} (lowest), not {raw}"
                ),
            )
        })
}

/// `[converter] time_limit_factor`, `time_limit_min`, `time_limit_unknown`.
fn time_limit(factor: i64, min: &str, unknown: &str) -> Result<TimeLimit, Fault> {
    let factor = u32::try_from(factor)
        .ok()
        .filter(|f| (1..=MAX_TIME_LIMIT_FACTOR).contains(f))
        .ok_or_else(|| {
            fault(
                "converter.time_limit_factor",
                None,
                format!(
                    "must be between 1 and {MAX_TIME_LIMIT_FACTOR} (times the media's duration \
                     a conversion may take)"
                ),
            )
        })?;
    let at_least_1s = |key: &'static str, text: &str| {
        let d = parse_duration(text).map_err(|m| fault(key, None, m))?;
        if d < MIN_TIME_LIMIT {
            return Err(fault(
                key,
                None,
                format!("must be at least {}", format_duration(MIN_TIME_LIMIT)),
            ));
        }
        Ok(d)
    };
    Ok(TimeLimit {
        factor,
        min: at_least_1s("converter.time_limit_min", min)?,
        unknown: at_least_1s("converter.time_limit_unknown", unknown)?,
    })
}

/// `[converter] split_min` and `segment`.
fn split(split_min: &str, segment: &str) -> Result<SplitPolicy, Fault> {
    let split_min = parse_duration(split_min).map_err(|m| fault("converter.split_min", None, m))?;
    let segment = parse_duration(segment).map_err(|m| fault("converter.segment", None, m))?;
    if !(MIN_SEGMENT..=MAX_SEGMENT).contains(&segment) {
        return Err(fault(
            "converter.segment",
            None,
            format!(
                "must be between {} and {}",
                format_duration(MIN_SEGMENT),
                format_duration(MAX_SEGMENT)
            ),
        ));
    }
    if split_min < segment {
        return Err(fault(
            "converter.split_min",
            None,
            format!(
                "must be at least `segment` ({}): a shorter video would make one segment",
                format_duration(segment)
            ),
        ));
    }
    Ok(SplitPolicy { split_min, segment })
}
