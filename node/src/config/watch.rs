//! `[[watch]]` (observed folders): the raw TOML shape, defaults and validation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_protocol::MediaType;
use serde::Deserialize;

use super::defaults::watch as defaults;
use super::duration::DurationValue;
use super::error::{fault, Fault};
use super::format_duration;
use super::paths::resolve_path;
use super::Profile;

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
    recursive: Option<bool>,
    #[serde(default)]
    settle: Option<DurationValue>,
    #[serde(default)]
    rescan: Option<DurationValue>,
    #[serde(default)]
    after_delivery: Option<String>,
    #[serde(default)]
    priority: Option<i32>,
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
        let entry = resolve_watch(w, data_dir, home, &profile_of, known, &out)
            .map_err(|m| fault(KEY, Some(i), m))?;
        out.push(entry);
    }
    Ok(out)
}

/// One entry, given the entries `before` it; the error is the message for that entry.
fn resolve_watch(
    w: RawWatch,
    data_dir: &Path,
    home: Option<&Path>,
    profile_of: impl Fn(&str) -> Option<&'static Profile>,
    known: &[&str],
    before: &[WatchConfig],
) -> Result<WatchConfig, String> {
    if w.path.trim().is_empty() {
        return Err("path must not be empty; give the folder to watch".into());
    }
    let path = resolve_path(&w.path, data_dir, home).map_err(|m| format!("path: {m}"))?;
    if before.iter().any(|o| o.path == path) {
        return Err(format!("{} is watched twice", path.display()));
    }
    let profile = profile_of(&w.profile).ok_or_else(|| {
        format!(
            "unknown profile `{}`; known profiles: {}",
            w.profile,
            known.join(", ")
        )
    })?;
    let media_types = match w.media_types {
        None => profile.media_types.to_vec(),
        Some(list) => media_types(list, profile)?,
    };
    let settle = w
        .settle
        .map_or(Ok(defaults::SETTLE), |d| d.parse())
        .map_err(|m| format!("settle: {m}"))?;
    let rescan = w
        .rescan
        .map_or(Ok(defaults::RESCAN), |d| d.parse())
        .map_err(|m| format!("rescan: {m}"))?;
    if rescan < MIN_RESCAN {
        return Err(format!(
            "rescan must be at least {}",
            format_duration(MIN_RESCAN)
        ));
    }
    let after_delivery = after_delivery(w.after_delivery.as_deref(), &path, home)?;
    Ok(WatchConfig {
        path,
        media_types,
        profile: profile.name.to_string(),
        recursive: w.recursive.unwrap_or(defaults::RECURSIVE),
        settle,
        rescan,
        after_delivery,
        priority: w.priority.unwrap_or(defaults::PRIORITY),
    })
}

/// `media_types` of an entry: types `profile` converts, duplicates dropped, at least one.
fn media_types(list: Vec<MediaType>, profile: &Profile) -> Result<Vec<MediaType>, String> {
    let mut m: Vec<MediaType> = Vec::new();
    for t in list {
        if !profile.media_types.contains(&t) {
            return Err(format!(
                "profile `{}` does not convert {t}; drop it from media_types or pick another \
                 profile",
                profile.name
            ));
        }
        if !m.contains(&t) {
            m.push(t);
        }
    }
    if m.is_empty() {
        return Err("media_types needs at least one of \"audio\", \"image\", \"video\"".into());
    }
    Ok(m)
}

/// `after_delivery` of the entry watching `path`: `keep`, `delete` or `move:<dir>` (relative
/// to `path`, and not `path` itself).
fn after_delivery(
    raw: Option<&str>,
    path: &Path,
    home: Option<&Path>,
) -> Result<AfterDelivery, String> {
    let Some(s) = raw.map(str::trim) else {
        return Ok(defaults::AFTER_DELIVERY);
    };
    match s {
        "keep" => Ok(AfterDelivery::Keep),
        "delete" => Ok(AfterDelivery::Delete),
        _ => match s.strip_prefix("move:").map(str::trim) {
            Some(dir) if !dir.is_empty() => {
                let dir =
                    resolve_path(dir, path, home).map_err(|m| format!("after_delivery: {m}"))?;
                if dir == path {
                    return Err(
                        "after_delivery = \"move:<dir>\" needs a folder other than the watched \
                         one"
                        .into(),
                    );
                }
                Ok(AfterDelivery::Move(dir))
            }
            _ => Err(format!(
                "after_delivery `{s}`: use \"keep\", \"delete\" or \"move:<dir>\""
            )),
        },
    }
}
