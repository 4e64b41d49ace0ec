//! A small HTTP/1.1 client over a plain TCP stream, for tests of a node's dashboard: one
//! request per connection (`Connection: close`), the answer read whole, bounded in size and
//! time. It sends exactly the headers given, so tests see what a browser without a cookie or
//! token would get.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::node::Node;

/// Largest answer read.
const MAX_ANSWER: u64 = 64 << 20;
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: status, headers (names lower-case) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header called `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| format!("not JSON: {}", self.text()))
    }
}

/// `METHOD http://HOST:PORT/PATH` with `headers` (and `Host: HOST:PORT` unless given).
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<Answer> {
    request_with_body(method, url, headers, &[])
}

/// [`request`] with a body (its `Content-Length` is added).
pub fn request_with_body(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer> {
    let rest = url.strip_prefix("http://").context("an http:// URL")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {host}\r\n"));
    }
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    parse(&read_answer(&mut stream)?)
}

/// The answer's bytes: up to its `Content-Length` when it has one (some servers keep the
/// connection open), else to the end of the stream.
fn read_answer(stream: &mut TcpStream) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() as u64 > MAX_ANSWER {
            bail!("an answer over {MAX_ANSWER} bytes");
        }
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .filter_map(|l| l.strip_prefix("content-length:"))
                .find_map(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|len| raw.len() >= end + 4 + len) {
                return Ok(raw);
            }
        }
    }
}

fn parse(raw: &[u8]) -> Result<Answer> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("an answer without an end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = unchunk(&body)?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn unchunk(mut data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("a chunk without its size line")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .with_context(|| format!("chunk size {size_text:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            bail!("a chunk shorter than its size");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A one-time login link to `node`'s dashboard, from `dmc gui --json --no-open`: the link and
/// the dashboard's base URL (without the trailing `/`).
pub fn login_link(node: &Node) -> Result<(String, String)> {
    let v = node.json(&["gui", "--json", "--no-open"])?;
    let url = v["url"]
        .as_str()
        .context("dmc gui printed no url")?
        .to_string();
    let base = v["dashboard"]
        .as_str()
        .context("dmc gui printed no dashboard")?
        .trim_end_matches('/')
        .to_string();
    Ok((url, base))
}

/// Logs in with a fresh link: the session cookie (`dmc_session=…`) and the base URL.
pub fn log_in(node: &Node) -> Result<(String, String)> {
    let (url, base) = login_link(node)?;
    let answer = request("GET", &url, &[])?;
    let cookie = answer
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .with_context(|| format!("login answered {} without a cookie", answer.status))?;
    Ok((cookie.to_string(), base))
}
