//! `dmc gui`: asks the running node for a one-time login link to its dashboard, prints it,
//! and opens it with `xdg-open` when there is a desktop (`$DISPLAY` or `$WAYLAND_DISPLAY`);
//! `dmc gui api-key` makes a key for scripts.

use std::process::{Command, Stdio};

use anyhow::Result;

use crate::client::Client;
use crate::output::{emit, json};

/// Whether to open the link in a browser (when there is a desktop).
pub struct Open(pub bool);

pub async fn run(client: &Client, open: Open, as_json: bool) -> Result<()> {
    let link = client.gui_login_link().await?;
    if as_json {
        emit(&json(&link)?)?;
    } else {
        emit(&format!(
            "{}\nThis link logs one browser in to the dashboard at {}; it works once, within {} \
             seconds.\n",
            link.url, link.dashboard, link.expires_in_secs
        ))?;
    }
    if open.0 && has_desktop() {
        open_in_browser(&link.url);
    }
    Ok(())
}

/// `dmc gui api-key`: a new key for scripts, printed once.
pub async fn api_key(client: &Client, as_json: bool) -> Result<()> {
    let key = client.gui_api_key().await?;
    if as_json {
        emit(&json(&key)?)
    } else {
        emit(&format!(
            "{}\nUse it as `Authorization: Bearer KEY` on the dashboard's port (e.g. \
             curl -H \"Authorization: Bearer KEY\" http://127.0.0.1:8747/metrics). It replaces \
             the previous key and is not shown again.\n",
            key.api_key
        ))
    }
}

fn has_desktop() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Starts `xdg-open URL` without waiting for the browser; says so when it cannot.
fn open_in_browser(url: &str) {
    let started = Command::new("xdg-open")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Err(e) = started {
        eprintln!("could not start xdg-open ({e}); open the link above in a browser");
    }
}
