//! Debian's firefox-esr, headless, for the dashboard's Firefox check, driven through Marionette
//! (Firefox's own remote protocol, built in: Debian has no geckodriver): [`Firefox::start`]
//! runs it with a fresh profile on a free loopback port and opens a session; navigation,
//! scripts and screenshots as the chromium stories have them through WebDriver. Marionette
//! speaks WebDriver's commands as length-prefixed JSON on plain TCP: `LEN:[0, id, "Name",
//! {params}]`, answered `LEN:[1, id, error, result]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::{needs, wait_until};

/// How long a story waits for Firefox or the page.
pub const WAIT: Duration = Duration::from_secs(60);

/// The largest Marionette message taken (a screenshot of a big window is a few MiB).
const MAX_MESSAGE: usize = 64 << 20;

/// Preferences of the test profile: Marionette on a port the system picks (written to
/// `MarionetteActivePort` in the profile), and nothing fetched from the internet.
const USER_JS: &str = r#"user_pref("marionette.port", 0);
user_pref("app.update.enabled", false);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("extensions.update.enabled", false);
"#;

/// Panics unless firefox-esr is installed, saying how to get it.
pub fn needs_firefox() {
    needs::tool("firefox-esr", &["--version"], "apt-get install firefox-esr");
}

/// A headless firefox-esr with a Marionette session, killed when dropped.
pub struct Firefox {
    child: Child,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    next_id: u64,
}

impl Firefox {
    /// Starts firefox-esr with a new profile in `profile` (its output in `profile/../firefox.log`)
    /// and opens a session.
    pub fn start(profile: &Path) -> Result<Firefox> {
        std::fs::create_dir_all(profile)?;
        std::fs::write(profile.join("user.js"), USER_JS)?;
        let log = std::fs::File::create(profile.with_file_name("firefox.log"))?;
        let child = Command::new("firefox-esr")
            .args(["--headless", "--marionette", "--no-remote", "--profile"])
            .arg(profile)
            .env("HOME", profile)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting firefox-esr")?;
        let mut child = Some(child);
        let connected = wait_until("Firefox's Marionette port", WAIT, || {
            let port = std::fs::read_to_string(profile.join("MarionetteActivePort")).ok()?;
            TcpStream::connect(("127.0.0.1", port.trim().parse::<u16>().ok()?)).ok()
        });
        let stream = match connected {
            Ok(s) => s,
            Err(e) => {
                kill(child.as_mut());
                return Err(e);
            }
        };
        stream.set_read_timeout(Some(WAIT))?;
        let mut firefox = Firefox {
            child: child.take().context("the firefox process")?,
            reader: BufReader::new(stream.try_clone()?),
            stream,
            next_id: 0,
        };
        let hello = firefox.read_message()?;
        if hello["marionetteProtocol"] != 3 {
            bail!("Firefox greeted with {hello}, not Marionette protocol 3");
        }
        firefox.command("WebDriver:NewSession", json!({ "capabilities": {} }))?;
        Ok(firefox)
    }

    /// One command: its result, or the error Firefox answered.
    pub fn command(&mut self, name: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let body = json!([0, id, name, params]).to_string();
        write!(self.stream, "{}:{body}", body.len())?;
        let answer = self.read_message()?;
        if answer[0] != 1 || answer[1] != id {
            bail!("Marionette answered {name} (id {id}) with {answer}");
        }
        if !answer[2].is_null() {
            bail!("Marionette {name} failed: {}", answer[2]);
        }
        Ok(answer[3].clone())
    }

    /// A message `LEN:JSON`, LEN at most [`MAX_MESSAGE`].
    fn read_message(&mut self) -> Result<Value> {
        let mut len = Vec::new();
        self.reader.by_ref().take(12).read_until(b':', &mut len)?;
        let len: usize = std::str::from_utf8(len.strip_suffix(b":").context("no LEN: prefix")?)?
            .parse()
            .context("a Marionette length that is not a number")?;
        if len > MAX_MESSAGE {
            bail!("a Marionette message of {len} bytes, more than {MAX_MESSAGE}");
        }
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        serde_json::from_slice(&body).context("a Marionette message that is not JSON")
    }

    pub fn goto(&mut self, url: &str) -> Result<()> {
        self.command("WebDriver:Navigate", json!({ "url": url }))
            .map(drop)
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn execute(&mut self, script: &str) -> Result<Value> {
        let v = self.command(
            "WebDriver:ExecuteScript",
            json!({ "script": script, "args": [] }),
        )?;
        Ok(v["value"].clone())
    }

    /// Runs `script` until it returns something other than null, or fails (with the page).
    pub fn wait_js(&mut self, what: &str, script: &str) -> Result<Value> {
        let mut failed = None;
        let found = wait_until(what, WAIT, || match self.execute(script) {
            Ok(Value::Null) => None,
            Ok(v) => Some(v),
            Err(e) => {
                failed = Some(e);
                Some(Value::Null)
            }
        });
        if let Some(e) = failed {
            return Err(e.context(format!("waiting for {what}")));
        }
        found.map_err(|e| {
            let page = self
                .execute("return document.documentElement.outerHTML")
                .unwrap_or_default();
            e.context(format!("the page is:\n{page}"))
        })
    }

    /// The page's viewport as a PNG.
    pub fn screenshot(&mut self) -> Result<Vec<u8>> {
        let v = self.command("WebDriver:TakeScreenshot", json!({ "full": false }))?;
        crate::webdriver::base64_decode(v["value"].as_str().context("no screenshot")?)
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        kill(Some(&mut self.child));
    }
}

fn kill(child: Option<&mut Child>) {
    if let Some(c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
}
