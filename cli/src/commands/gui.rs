//! `dmc gui`: asks the running node for a one-time login link to its dashboard, prints it,
//! and opens it with `xdg-open` when there is a desktop (`$DISPLAY` or `$WAYLAND_DISPLAY`);
//! `dmc gui api-key` makes a key for scripts; `dmc gui set-password` sets the password, in the
//! data dir directly, so it works whether or not the node runs.

use std::io::{BufRead, IsTerminal, Read};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use dmc_node::gui::password::{self, PasswordError};

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
        if let Some(fingerprint) = &link.fingerprint {
            emit(&format!(
                "The dashboard is served over HTTPS with a self-signed certificate whose SHA-256 \
                 fingerprint is\n  {fingerprint}\nCheck it against the one the browser shows \
                 before accepting the certificate. From another machine, open \
                 https://THIS-MACHINE:{port}/ and log in with the password.\n",
                port = link_port(&link.dashboard)
            ))?;
        }
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

/// The port of a dashboard URL (`https://127.0.0.1:8747/`).
fn link_port(dashboard: &str) -> &str {
    dashboard
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap_or("8747")
}

/// `dmc gui set-password`: reads the password, checks it and stores its hash.
pub fn set_password(data_dir: &Path) -> Result<()> {
    let given = read_password()?;
    password::check_new(&given)?;
    super::make_private_data_dir(data_dir)?;
    let path = password::set(data_dir, &given).map_err(|e| match e {
        PasswordError::Write { ref source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            anyhow::anyhow!(
                "{e}; the data dir belongs to the user the node runs as: for the system service \
                 run `sudo -u dmc dmc --data-dir {} gui set-password`",
                data_dir.display()
            )
        }
        e => e.into(),
    })?;
    emit(&format!(
        "password set: its argon2id hash is in {}\nThe dashboard's login page takes it from now \
         on; a node with [gui] listen on an address other than loopback can start now and \
         serves the dashboard over HTTPS.\n",
        path.display()
    ))
}

/// The password: from the terminal without echo, asked twice; else one line of stdin.
fn read_password() -> Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!(
            "New dashboard password (at least {} characters): ",
            password::MIN_CHARS
        ))
        .context("reading the password from the terminal")?;
        password::check_new(&first)?;
        let again = rpassword::prompt_password("The same password again: ")
            .context("reading the password from the terminal")?;
        if again != first {
            bail!("the two passwords differ; nothing was changed");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(password::MAX_BYTES as u64 + 2)
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(line.to_string())
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
