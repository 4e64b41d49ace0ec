//! `[notify]` (what the origin runs when one of its items ends): the raw TOML shape, defaults
//! and validation.

use std::time::Duration;

use serde::Deserialize;

use super::defaults::notify as defaults;
use super::duration::{format_duration, DurationValue};
use super::error::{fault, Fault};

/// Longest `[notify] on_done` command, in bytes.
pub const MAX_COMMAND_BYTES: usize = 4096;

/// `[notify]`
#[derive(Clone, Debug, PartialEq)]
pub struct NotifyConfig {
    /// Run through `sh -c` with the item's JSON on stdin when one of this node's items is
    /// delivered or fails for good.
    pub on_done: Option<String>,
    /// How long `on_done` may run before it is killed.
    pub timeout: Duration,
    /// Show a desktop notification with `notify-send` when there is a desktop session.
    pub desktop: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNotify {
    on_done: Option<String>,
    timeout: DurationValue,
    desktop: bool,
}

impl Default for RawNotify {
    fn default() -> Self {
        RawNotify {
            on_done: None,
            timeout: DurationValue::Text(format_duration(defaults::TIMEOUT)),
            desktop: defaults::DESKTOP,
        }
    }
}

pub(super) fn resolve_notify(raw: RawNotify) -> Result<NotifyConfig, Fault> {
    let on_done = raw.on_done.filter(|c| !c.trim().is_empty());
    if let Some(c) = &on_done {
        if c.len() > MAX_COMMAND_BYTES || c.contains('\0') {
            return Err(fault(
                "notify.on_done",
                None,
                format!("must be at most {MAX_COMMAND_BYTES} bytes without NUL characters"),
            ));
        }
    }
    let timeout = raw
        .timeout
        .parse()
        .map_err(|m| fault("notify.timeout", None, m))?;
    if timeout.is_zero() {
        return Err(fault(
            "notify.timeout",
            None,
            "must be more than 0, e.g. \"30s\"",
        ));
    }
    Ok(NotifyConfig {
        on_done,
        timeout,
        desktop: raw.desktop,
    })
}
