//! A small WebDriver client (the W3C protocol chromedriver speaks) over [`crate::http`]: a
//! session, navigation, scripts, clicks, typing (and picking files), cookies, window size and
//! screenshots; what the dashboard's browser tests need, without a WebDriver crate's
//! dependencies (whose features would make the workspace and `cargo build -p dmc` build
//! different copies of shared crates).

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::http::request_with_body;

/// The key of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How many times [`Browser::click`] finds an element again that the page replaced.
const STALE_RETRIES: u32 = 5;

/// A browser session of a WebDriver server.
pub struct Browser {
    base: String,
}

impl Browser {
    /// Opens a session at `driver` (`http://127.0.0.1:PORT`) with `capabilities`.
    pub fn open(driver: &str, capabilities: Value) -> Result<Browser> {
        let v = call(
            "POST",
            &format!("{driver}/session"),
            Some(json!({ "capabilities": { "alwaysMatch": capabilities } })),
        )?;
        let id = v["sessionId"]
            .as_str()
            .context("no sessionId in the new session's answer")?;
        Ok(Browser {
            base: format!("{driver}/session/{id}"),
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        call(method, &format!("{}{path}", self.base), body)
    }

    pub fn goto(&self, url: &str) -> Result<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// Runs `script` (a function body) in the page; its return value.
    pub fn execute(&self, script: &str) -> Result<Value> {
        self.execute_with(script, json!([]))
    }

    /// [`Browser::execute`] with `args` (a JSON array), which the script reads as `arguments`.
    pub fn execute_with(&self, script: &str, args: Value) -> Result<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The WebDriver reference of the first element matching the CSS `selector`.
    fn element(&self, selector: &str) -> Result<String> {
        let found = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": selector })),
        )?;
        found
            .get(ELEMENT_KEY)
            .and_then(Value::as_str)
            .map(str::to_string)
            .with_context(|| format!("no element reference for {selector} in {found}"))
    }

    /// Clicks the first element matching the CSS `selector` (through WebDriver's element
    /// click, which scrolls it into view and checks nothing covers it). A live page may
    /// replace the element between finding and clicking it (the dashboard redraws its rows
    /// on every change): then the new one is found and clicked, a few times at most.
    pub fn click(&self, selector: &str) -> Result<()> {
        let mut tries = 0;
        loop {
            let id = self.element(selector)?;
            match self.cmd("POST", &format!("/element/{id}/click"), Some(json!({}))) {
                Err(e) if tries < STALE_RETRIES && e.to_string().contains("stale element") => {
                    tries += 1;
                }
                done => return done.map(drop),
            }
        }
    }

    /// Types `text` into the first element matching `selector`; for a file input, `text` is
    /// the path of a local file, which the input then holds (as if the user had picked it).
    pub fn send_keys(&self, selector: &str, text: &str) -> Result<()> {
        let id = self.element(selector)?;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .map(drop)
    }

    /// The value of the page's cookie `name` (HttpOnly ones too: WebDriver sees them).
    pub fn cookie(&self, name: &str) -> Result<String> {
        let v = self.cmd("GET", &format!("/cookie/{name}"), None)?;
        v["value"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("no value in cookie {name}: {v}"))
    }

    pub fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .map(drop)
    }

    /// The page as a PNG.
    pub fn screenshot(&self) -> Result<Vec<u8>> {
        let v = self.cmd("GET", "/screenshot", None)?;
        base64_decode(v.as_str().context("a screenshot that is not text")?)
    }

    pub fn close(&self) -> Result<()> {
        self.cmd("DELETE", "", None).map(drop)
    }
}

/// One WebDriver command: its `value`, or the error it answered.
fn call(method: &str, url: &str, body: Option<Value>) -> Result<Value> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let headers: &[(&str, &str)] = if body.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    let answer = request_with_body(method, url, headers, body.as_bytes())?;
    let v = answer.json()?;
    if answer.status != 200 {
        bail!(
            "WebDriver {method} {url} answered {}: {}",
            answer.status,
            v["value"]["message"]
        );
    }
    Ok(v["value"].clone())
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("{:?} is not base64", c as char),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGk=").unwrap(), b"hi");
        assert!(super::base64_decode("a*").is_err());
    }
}
