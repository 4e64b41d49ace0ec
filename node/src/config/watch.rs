//! `[[watch]]` (observed folders): the raw TOML shape, defaults and validation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ffmpeg::profiles::Profile;
use dmc_protocol::MediaType;
use serde::Deserialize;

use super::{fault, format_duration, parse_duration, resolve_path, Fault};

/// Default `[[watch]] settle`.
pub const DEFAULT_SETTLE: &str = "5s";
/// Default `[[watch]] rescan`.
pub const DEFAULT_RESCAN: &str = "60s";
/// Shortest `rescan` accepted.
pub const MIN_RESCAN: Duration = Duration::from_secs(1);
/// Most `[[watch]]` entries.
pub const MAX_WATCHES: usize = 64;

/// What happens to a watched source once its result is delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterDelivery {
    Keep,
    /// Moved into this folder (created when needed; a taken name gets ` (1)`, ` (2)`, …).
    Move(PathBuf),
    Delete,
}

impl AfterDelivery {
    /// The form stored with each offered file: `keep`, `delete` or `move:<absolute dir>`.
    pub fn to_stored(&self) -> String {
        match self {
            AfterDelivery::Keep => "keep".into(),
            AfterDelivery::Delete => "delete".into(),
            AfterDelivery::Move(d) => format!("move:{}", d.display()),
        }
    }

    /// Reads [`AfterDelivery::to_stored`]'s form back; anything else is `Keep`.
    pub fn from_stored(s: &str) -> AfterDelivery {
        match s {
            "delete" => AfterDelivery::Delete,
            _ => match s.strip_prefix("move:") {
                Some(d) if Path::new(d).is_absolute() => AfterDelivery::Move(PathBuf::from(d)),
                _ => AfterDelivery::Keep,
            },
        }
    }
}

/// One `[[watch]]` entry: a folder whose new media files this node offers.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchConfig {
    pub path: PathBuf,
    /// Media types offered from it; default: those of `profile`.
    pub media_types: Vec<MediaType>,
    pub profile: String,
    pub recursive: bool,
    /// How long size and mtime must stay the same before a file is offered.
    pub settle: Duration,
    /// How often the folder is scanned in full besides inotify (and once at start).
    pub rescan: Duration,
    pub after_delivery: AfterDelivery,
    /// `priority` of the offers made.
    pub priority: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWatch {
    path: String,
    #[serde(default)]
    media_types: Option<Vec<MediaType>>,
    profile: String,
    #[serde(default)]
    recursive: bool,
    #[serde(default)]
    settle: Option<DurationValue>,
    #[serde(default)]
    rescan: Option<DurationValue>,
    #[serde(default)]
    after_delivery: Option<String>,
    #[serde(default)]
    priority: i32,
}

/// A duration written as a string (`"5s"`) or a number of seconds (`5`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum DurationValue {
    Secs(i64),
    Text(String),
}

impl DurationValue {
    pub(super) fn parse(&self) -> Result<Duration, String> {
        match self {
            DurationValue::Secs(n) if *n >= 0 => parse_duration(&n.to_string()),
            DurationValue::Secs(n) => {
                Err(format!("`{n}` is negative; give seconds or e.g. \"5s\""))
            }
            DurationValue::Text(s) => parse_duration(s),
        }
    }
}

/// Validates the `[[watch]]` entries. `profile_of` finds a profile known to this config (built
/// in or custom); `known` lists them all for the error.
pub(super) fn resolve_watches(
    raw: Vec<RawWatch>,
    data_dir: &Path,
    home: Option<&Path>,
    profile_of: impl Fn(&str) -> Option<&'static Profile>,
    known: &[&str],
) -> Result<Vec<WatchConfig>, Fault> {
    const KEY: &str = "watch";
    if raw.len() > MAX_WATCHES {
        return Err(fault(
            KEY,
            None,
            format!("at most {MAX_WATCHES} [[watch]] entries"),
        ));
    }
    let mut out: Vec<WatchConfig> = Vec::new();
    for (i, w) in raw.into_iter().enumerate() {
        let bad = |m: String| fault(KEY, Some(i), m);
        if w.path.trim().is_empty() {
            return Err(bad(
                "path must not be empty; give the folder to watch".into()
            ));
        }
        let path = resolve_path(&w.path, data_dir, home).map_err(|m| bad(format!("path: {m}")))?;
        if out.iter().any(|o| o.path == path) {
            return Err(bad(format!("{} is watched twice", path.display())));
        }
        let profile = profile_of(&w.profile).ok_or_else(|| {
            bad(format!(
                "unknown profile `{}`; known profiles: {}",
                w.profile,
                known.join(", ")
            ))
        })?;
        let media_types = match w.media_types {
            None => profile.media_types.to_vec(),
            Some(list) => {
                let mut m: Vec<MediaType> = Vec::new();
                for t in list {
                    if !profile.media_types.contains(&t) {
                        return Err(bad(format!(
                            "profile `{}` does not convert {t}; drop it from media_types or \
                             pick another profile",
                            profile.name
                        )));
                    }
                    if !m.contains(&t) {
                        m.push(t);
                    }
                }
                if m.is_empty() {
                    return Err(bad(
                        "media_types needs at least one of \"audio\", \"image\", \"video\"".into(),
                    ));
                }
                m
            }
        };
        let settle = w
            .settle
            .map(|d| d.parse())
            .unwrap_or_else(|| parse_duration(DEFAULT_SETTLE))
            .map_err(|m| bad(format!("settle: {m}")))?;
        let rescan = w
            .rescan
            .map(|d| d.parse())
            .unwrap_or_else(|| parse_duration(DEFAULT_RESCAN))
            .map_err(|m| bad(format!("rescan: {m}")))?;
        if rescan < MIN_RESCAN {
            return Err(bad(format!(
                "rescan must be at least {}",
                format_duration(MIN_RESCAN)
            )));
        }
        let after_delivery = match w.after_delivery.as_deref().map(str::trim) {
            None | Some("keep") => AfterDelivery::Keep,
            Some("delete") => AfterDelivery::Delete,
            Some(s) => match s.strip_prefix("move:").map(str::trim) {
                Some(dir) if !dir.is_empty() => {
                    let dir = resolve_path(dir, &path, home)
                        .map_err(|m| bad(format!("after_delivery: {m}")))?;
                    if dir == path {
                        return Err(bad(
                            "after_delivery = \"move:<dir>\" needs a folder other than the \
                             watched one"
                                .into(),
                        ));
                    }
                    AfterDelivery::Move(dir)
                }
                _ => {
                    return Err(bad(format!(
                        "after_delivery `{s}`: use \"keep\", \"delete\" or \"move:<dir>\""
                    )))
                }
            },
        };
        out.push(WatchConfig {
            path,
            media_types,
            profile: profile.name.to_string(),
            recursive: w.recursive,
            settle,
            rescan,
            after_delivery,
            priority: w.priority,
        });
    }
    Ok(out)
}
