//! A small HTTP/1.1 client over a plain TCP stream, or over TLS with the server's
//! certificate pinned by its SHA-256 fingerprint (`https_request`), for tests of a node's
//! dashboard: one request per connection (`Connection: close`), the answer read whole, bounded
//! in size and time. It sends exactly the headers given, so tests see what a browser without a
//! cookie or token would get; `set_password` runs `dmc gui set-password` with the password on
//! standard input.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

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
    let (host, path) = host_and_path(rest);
    let mut stream = connect(host)?;
    exchange(&mut stream, method, host, path, headers, body)
}

/// [`request_with_body`] over HTTPS, accepting only the certificate whose SHA-256 fingerprint
/// is `fingerprint` (`AB:CD:…`, as `dmc gui` prints it).
pub fn https_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    fingerprint: &str,
) -> Result<Answer> {
    let rest = url.strip_prefix("https://").context("an https:// URL")?;
    let (host, path) = host_and_path(rest);
    let tcp = connect(host)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned {
            fingerprint: fingerprint.to_string(),
            provider,
        }))
        .with_no_client_auth();
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let name = ServerName::try_from(name.trim_matches(['[', ']']).to_string())?;
    let conn = rustls::ClientConnection::new(Arc::new(config), name)?;
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    exchange(&mut stream, method, host, path, headers, body)
}

fn host_and_path(rest: &str) -> (&str, &str) {
    match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    }
}

fn connect(host: &str) -> Result<TcpStream> {
    let stream = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// Writes the request to `stream` and reads the answer.
fn exchange(
    stream: &mut impl ReadWrite,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer> {
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
    stream.flush()?;
    parse(&read_answer(stream)?)
}

/// A stream a request goes over: TCP, or TLS over TCP.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The answer's bytes: up to its `Content-Length` when it has one (some servers keep the
/// connection open), else to the end of the stream.
fn read_answer(stream: &mut impl Read) -> Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            // A TLS peer that closed without close_notify: the answer ends there.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => 0,
            Err(e) => return Err(e.into()),
        };
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

/// The dashboard's origin (`http://HOST:PORT`) of a login link.
pub fn origin_of(link: &str) -> &str {
    link.split("/login").next().unwrap_or_default()
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

/// The SHA-256 of a certificate's DER bytes as `AB:CD:…`.
pub fn fingerprint_of(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Accepts the one certificate whose fingerprint is pinned (signatures still checked).
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = fingerprint_of(end_entity);
        if got == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate is {got}, not the pinned {}",
                self.fingerprint
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `dmc --data-dir DIR gui set-password` with `password` and a newline on standard input.
pub fn set_password(data_dir: &std::path::Path, password: &str) -> Result<Output> {
    let mut child = Command::new(crate::dmc_bin())
        .arg("--data-dir")
        .arg(data_dir)
        .args(["gui", "set-password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running dmc gui set-password")?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    stdin.write_all(format!("{password}\n").as_bytes())?;
    drop(stdin);
    child
        .wait_with_output()
        .context("waiting for dmc gui set-password")
}

/// Serves `node`'s dashboard on every address with `password`, as a user exposing it to the
/// LAN does: stops the node, sets the password with `dmc gui set-password`, changes the
/// helpers' loopback `[gui] listen` to `0.0.0.0:0` and starts the node again.
pub fn expose_with_password(node: &mut Node, password: &str) -> Result<()> {
    node.stop();
    let set = set_password(&node.data_dir, password)?;
    if !set.status.success() {
        bail!(
            "dmc gui set-password: {}",
            String::from_utf8_lossy(&set.stderr)
        );
    }
    let config = std::fs::read_to_string(&node.config)?;
    let exposed = config.replace(
        "[gui]\nlisten = \"127.0.0.1:0\"",
        "[gui]\nlisten = \"0.0.0.0:0\"",
    );
    if exposed == config {
        bail!(
            "{} has no loopback [gui] listen to change",
            node.config.display()
        );
    }
    std::fs::write(&node.config, exposed)?;
    node.restart()
}
