//! A desktop notification through `notify-send`, when there is a desktop session (DISPLAY,
//! WAYLAND_DISPLAY or DBUS_SESSION_BUS_ADDRESS set) and the program is on PATH.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::control::api::ItemView;
use dmc_protocol::Phase;
use tokio::process::Command;

use super::text::{for_notification, for_terminal};

/// How long `notify-send` may take.
const LIMIT: Duration = Duration::from_secs(10);

/// The `notify-send` program, when a desktop notification can be shown.
pub fn desktop_available() -> Option<PathBuf> {
    let session = ["DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !session {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("notify-send"))
        .find(|p| p.is_file())
}

/// The title and body of the notification for `item`: names and errors come from peers, so
/// both have their control characters escaped, and the body (which `notify-send` reads as
/// markup) its `&`, `<`, `>` too. The title is plain text by the notification spec.
pub(crate) fn message(item: &ItemView) -> (String, String) {
    let (title, body) = if item.phase == Phase::Delivered {
        (
            format!("dmc: {} converted", item.file_name),
            item.output_path.clone().unwrap_or_default(),
        )
    } else {
        (
            format!("dmc: {} failed", item.file_name),
            item.errors.last().cloned().unwrap_or_default(),
        )
    };
    (for_terminal(&title).into_owned(), for_notification(&body))
}

/// Shows that `item` ended; skips silently (debug log) without a desktop.
pub async fn notify_desktop(item: &ItemView) {
    let Some(prog) = desktop_available() else {
        tracing::debug!("no desktop session or notify-send: no desktop notification");
        return;
    };
    let (title, body) = message(item);
    let mut c = Command::new(prog);
    c.args(["--app-name", "dmc", "--"])
        .arg(title)
        .arg(body)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    match tokio::time::timeout(LIMIT, c.status()).await {
        Ok(Ok(s)) if s.success() => {}
        Ok(Ok(s)) => tracing::debug!("notify-send failed ({s})"),
        Ok(Err(e)) => tracing::debug!("cannot run notify-send: {e}"),
        Err(_) => tracing::debug!("notify-send did not finish in time"),
    }
}
