//! Debian's chromium, headless, for the dashboard's browser stories: chromedriver on a free
//! loopback port ([`Driver`]), a browser session on it ([`open`]), waiting for a script's
//! answer in the page ([`wait_js`]) and screenshots under `target/gui-screenshots/`
//! ([`save_screenshot`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::webdriver::Browser;
use crate::{dmc_bin, needs, wait_until};

/// How long a story waits for the page or the driver.
pub const WAIT: Duration = Duration::from_secs(30);

/// Panics unless chromium and chromedriver are installed, saying how to get them.
pub fn needs_chromium() {
    needs::tool("chromium", &["--version"], "apt-get install chromium");
    needs::tool(
        "chromedriver",
        &["--version"],
        "apt-get install chromium-driver",
    );
}

/// chromedriver on a free loopback port, killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// Starts chromedriver, its output in `log`; returns once it listens.
    pub fn start(log: PathBuf) -> Result<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(log)?;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting chromedriver")?;
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_until("chromedriver to listen", WAIT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })?;
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless chromium session on `driver`, with its profile in `profile`.
pub fn open(driver: &Driver, profile: &Path) -> Result<Browser> {
    open_with(driver, profile, &[])
}

/// [`open`] with more command-line switches (e.g. `--ignore-certificate-errors` for a
/// dashboard's self-signed certificate).
pub fn open_with(driver: &Driver, profile: &Path, extra: &[&str]) -> Result<Browser> {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1200,800",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(extra.iter().map(|a| a.to_string()));
    Browser::open(
        &driver.url,
        json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
            },
        }),
    )
}

/// Runs `script` in the page until it returns something other than null, or fails (with
/// the page's HTML).
pub fn wait_js(c: &Browser, what: &str, script: &str) -> Result<Value> {
    wait_js_for(c, what, script, WAIT)
}

/// [`wait_js`], waiting up to `timeout`.
pub fn wait_js_for(c: &Browser, what: &str, script: &str, timeout: Duration) -> Result<Value> {
    let found = wait_until(what, timeout, || match c.execute(script) {
        Ok(Value::Null) => None,
        Ok(v) => Some(Ok(v)),
        Err(e) => Some(Err(e)),
    });
    match found {
        Ok(v) => v,
        Err(e) => {
            let page = c
                .execute("return document.documentElement.outerHTML")
                .unwrap_or_default();
            Err(e.context(format!("the page is:\n{page}")))
        }
    }
}

/// Where the screenshots go: `target/gui-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let bin = dmc_bin();
    let target = bin.parent().and_then(|p| p.parent()).expect("target dir");
    target.join("gui-screenshots")
}

/// Saves the page as `target/gui-screenshots/NAME`.
pub fn save_screenshot(c: &Browser, name: &str) -> Result<()> {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), c.screenshot()?)?;
    Ok(())
}

/// A script listing every URL the page has loaded (the browser's resource timing entries).
pub const RESOURCE_URLS: &str = "return performance.getEntriesByType('resource').map(e => e.name)";

/// Every URL the page has loaded that is not under `origin` (`http://HOST:PORT`): what a page
/// that loads nothing off the node never has.
pub fn loaded_off(c: &Browser, origin: &str) -> Result<Vec<String>> {
    Ok(urls_off(&c.execute(RESOURCE_URLS)?, origin))
}

/// The URLs of `urls` (a JSON array, as [`RESOURCE_URLS`] gives) not under `origin`; for any
/// browser's client.
pub fn urls_off(urls: &Value, origin: &str) -> Vec<String> {
    let prefix = format!("{}/", origin.trim_end_matches('/'));
    urls.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|u| !u.starts_with(&prefix))
        .map(str::to_string)
        .collect()
}
