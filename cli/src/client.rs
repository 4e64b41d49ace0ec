//! HTTP/1.1 client of a node's control API over its Unix socket (hyper), with timeouts.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use dmc_node::control::api::{
    ApiKey, ConfigView, ErrorBody, ErrorKind, FetchRequest, FetchResponse, ItemPage, ItemView,
    ListQuery, LoginLink, NodeView, OfferOutcome, OfferRequest, PeerView, PriorityRequest,
    ProfileView,
};
use dmc_node::control::socket_path;
use dmc_protocol::ItemId;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{header, Method, Request};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::UnixStream;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a quick request (status, list, …) may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an offer (the node hashes the file) or a fetch (it copies the result) may take.
pub const LONG_TIMEOUT: Duration = Duration::from_secs(3600);
/// Largest answer read from the node.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// No node answers on the data dir's socket.
#[derive(Debug)]
pub struct NoNode {
    pub data_dir: PathBuf,
    pub socket: PathBuf,
}

impl fmt::Display for NoNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.data_dir.display();
        write!(
            f,
            "no dmc node is running with data dir {dir} (socket {}). Start one with: dmc --data-dir {dir} node \
             (or, where dmc is installed as a service: systemctl --user start dmc, or for the system \
             node sudo systemctl start dmc and pass --data-dir /var/lib/dmc)",
            self.socket.display()
        )
    }
}

impl std::error::Error for NoNode {}

/// The node refused a request: its message, and its kind where the CLI acts on it.
#[derive(Debug)]
pub struct NodeRefused {
    pub message: String,
    pub kind: Option<ErrorKind>,
}

impl fmt::Display for NodeRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NodeRefused {}

/// A client of one node, found by its data dir.
pub struct Client {
    data_dir: PathBuf,
    socket: PathBuf,
}

impl Client {
    pub fn new(data_dir: &Path) -> Self {
        Client {
            data_dir: data_dir.to_path_buf(),
            socket: socket_path(data_dir),
        }
    }

    pub async fn info(&self) -> Result<NodeView> {
        self.call(Method::GET, "/v1/info", None::<&()>, QUERY_TIMEOUT)
            .await
    }

    /// The configuration the node loaded and runs with.
    pub async fn config(&self) -> Result<ConfigView> {
        self.call(Method::GET, "/v1/config", None::<&()>, QUERY_TIMEOUT)
            .await
    }

    /// Offers one file; `path` must be absolute. `again`: a new item even for content offered
    /// before.
    pub async fn offer(
        &self,
        path: &Path,
        profile: Option<&str>,
        priority: i32,
        again: bool,
    ) -> Result<OfferOutcome> {
        let path = path.to_str().ok_or_else(|| {
            anyhow!(
                "{} is not valid UTF-8; rename it to offer it",
                path.display()
            )
        })?;
        let body = OfferRequest {
            path: path.to_owned(),
            profile: profile.map(str::to_owned),
            priority,
            again,
        };
        self.call(Method::POST, "/v1/offer", Some(&body), LONG_TIMEOUT)
            .await
    }

    /// A page of items, newest first (the node fills in what `query` leaves out).
    pub async fn list(&self, query: &ListQuery) -> Result<ItemPage> {
        let mut uri = format!("/v1/items?all={}", query.all);
        if let Some(n) = query.limit {
            uri.push_str(&format!("&limit={n}"));
        }
        if let Some(n) = query.offset {
            uri.push_str(&format!("&offset={n}"));
        }
        if let Some(p) = &query.prefix {
            // Hex digits only (see `resolve::normalize_prefix`): nothing to escape.
            uri.push_str(&format!("&prefix={p}"));
        }
        self.call(Method::GET, &uri, None::<&()>, QUERY_TIMEOUT)
            .await
    }

    pub async fn status(&self, item: ItemId) -> Result<ItemView> {
        self.call(
            Method::GET,
            &format!("/v1/items/{item}"),
            None::<&()>,
            QUERY_TIMEOUT,
        )
        .await
    }

    pub async fn cancel(&self, item: ItemId) -> Result<ItemView> {
        self.call(
            Method::POST,
            &format!("/v1/items/{item}/cancel"),
            None::<&()>,
            QUERY_TIMEOUT,
        )
        .await
    }

    /// Gives one of this node's open items a new queue priority.
    pub async fn set_priority(&self, item: ItemId, priority: i32) -> Result<ItemView> {
        self.call(
            Method::POST,
            &format!("/v1/items/{item}/priority"),
            Some(&PriorityRequest { priority }),
            QUERY_TIMEOUT,
        )
        .await
    }

    /// Fetches the result to `output` (absolute: a folder or a file, replaced only with
    /// `force`), or checks it where it was delivered.
    pub async fn fetch(
        &self,
        item: ItemId,
        output: Option<&Path>,
        force: bool,
    ) -> Result<FetchResponse> {
        let output = match output {
            Some(p) => Some(
                p.to_str()
                    .ok_or_else(|| {
                        anyhow!("{} is not valid UTF-8; pick another name", p.display())
                    })?
                    .to_owned(),
            ),
            None => None,
        };
        let body = FetchRequest { output, force };
        self.call(
            Method::POST,
            &format!("/v1/items/{item}/fetch"),
            Some(&body),
            LONG_TIMEOUT,
        )
        .await
    }

    pub async fn peers(&self) -> Result<Vec<PeerView>> {
        self.call(Method::GET, "/v1/peers", None::<&()>, QUERY_TIMEOUT)
            .await
    }

    /// A one-time login link to the node's dashboard.
    pub async fn gui_login_link(&self) -> Result<LoginLink> {
        self.call(
            Method::POST,
            "/v1/gui/login-link",
            None::<&()>,
            QUERY_TIMEOUT,
        )
        .await
    }

    /// A new API key for the dashboard, replacing the previous one.
    pub async fn gui_api_key(&self) -> Result<ApiKey> {
        self.call(Method::POST, "/v1/gui/api-key", None::<&()>, QUERY_TIMEOUT)
            .await
    }

    pub async fn profiles(&self) -> Result<Vec<ProfileView>> {
        self.call(Method::GET, "/v1/profiles", None::<&()>, QUERY_TIMEOUT)
            .await
    }

    fn no_node(&self) -> NoNode {
        NoNode {
            data_dir: self.data_dir.clone(),
            socket: self.socket.clone(),
        }
    }

    async fn connect(&self) -> Result<UnixStream> {
        match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&self.socket)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Err(self.no_node().into())
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::PermissionDenied => bail!(
                "cannot connect to {}: permission denied; the node runs as another user. For the system \
                 service join its group (sudo usermod -aG dmc $USER, then log in again), or run dmc as \
                 the node's user",
                self.socket.display()
            ),
            Ok(Err(e)) => {
                Err(e).with_context(|| format!("cannot connect to {}", self.socket.display()))
            }
            Err(_) => bail!(
                "the node on {} did not accept a connection within {}s; it may be stuck: check its \
             log (journalctl -u dmc) or restart it",
                self.socket.display(),
                CONNECT_TIMEOUT.as_secs()
            ),
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        target: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<T> {
        let stream = self.connect().await?;
        let body = match body {
            Some(b) => serde_json::to_vec(b).context("encoding the request")?,
            None => Vec::new(),
        };
        let request = Request::builder()
            .method(method.clone())
            .uri(target)
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .context("building the request")?;
        let exchange = async {
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            let conn = tokio::spawn(conn);
            let response = sender.send_request(request).await?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| anyhow!("reading the answer: {e}"))?
                .to_bytes();
            drop(sender);
            conn.abort();
            anyhow::Ok((status, bytes))
        };
        let (status, bytes) = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return Err(e.context(format!(
                    "{method} {target} on {} failed (did the node stop? its log says why: \
                     journalctl -u dmc, journalctl --user -u dmc, or the terminal running dmc node)",
                    self.socket.display()
                )))
            }
            Err(_) => bail!(
                "the node did not answer {method} {target} within {}s; it may be overloaded or \
                 stuck: check its log (journalctl -u dmc) and try again",
                timeout.as_secs()
            ),
        };
        if status.is_success() {
            return serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "the node's answer to {method} {target} is not what this dmc expects; \
                    the node probably runs another version: restart it with this dmc ({}), e.g. \
                    systemctl restart dmc",
                    env!("CARGO_PKG_VERSION")
                )
            });
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(NodeRefused {
                message: e.error,
                kind: e.kind,
            }
            .into()),
            Err(_) => bail!(
                "the node answered {status}: {}",
                String::from_utf8_lossy(&bytes)
                    .chars()
                    .take(500)
                    .collect::<String>()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use dmc_protocol::Phase;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    use super::*;
    use crate::output::tests::sample;

    const ID: &str = "7f1c2a90-1111-4222-8333-444455556666";

    #[test]
    fn no_node_message_says_how_to_start_one() {
        let c = Client::new(Path::new("/x"));
        let msg = c.no_node().to_string();
        assert!(
            msg.starts_with("no dmc node is running with data dir /x (socket /x/control.sock). Start one with: dmc --data-dir /x node"),
            "{msg}"
        );
        assert!(msg.contains("systemctl --user start dmc"), "{msg}");
    }

    /// Answers one request on the data dir's socket with `answer` (None: hang up) and returns
    /// the request it read (head and body).
    fn serve_once(
        dir: &Path,
        answer: Option<(&'static str, String)>,
    ) -> tokio::task::JoinHandle<String> {
        let listener = UnixListener::bind(socket_path(dir)).unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break;
                    }
                }
                assert!(n > 0, "client hung up early");
            }
            if let Some((status, body)) = answer {
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(resp.as_bytes()).await.unwrap();
            }
            String::from_utf8(req).unwrap()
        })
    }

    #[tokio::test]
    async fn reads_an_item() {
        let dir = tempfile::tempdir().unwrap();
        let item = sample(ID, "clip.mp4", Phase::Converting, 0.5);
        let server = serve_once(
            dir.path(),
            Some(("200 OK", serde_json::to_string(&item).unwrap())),
        );
        let got = Client::new(dir.path()).status(item.item_id).await.unwrap();
        assert_eq!(got, item);
        let req = server.await.unwrap();
        assert!(
            req.starts_with(&format!("GET /v1/items/{ID} HTTP/1.1\r\n")),
            "{req}"
        );
    }

    #[tokio::test]
    async fn sends_the_offer_body() {
        let dir = tempfile::tempdir().unwrap();
        let item = sample(ID, "clip.mp4", Phase::Offered, 0.0);
        let answer = serde_json::json!({"existing": true, "item": item}).to_string();
        let server = serve_once(dir.path(), Some(("200 OK", answer)));
        let out = Client::new(dir.path())
            .offer(Path::new("/media/clip.mp4"), Some("mkv-x265"), 7, true)
            .await
            .unwrap();
        assert!(out.existing);
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /v1/offer HTTP/1.1\r\n"), "{req}");
        let body = req.split_once("\r\n\r\n").unwrap().1;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap(),
            serde_json::json!({"path": "/media/clip.mp4", "profile": "mkv-x265", "priority": 7, "again": true})
        );
    }

    #[tokio::test]
    async fn error_answers_become_their_message() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve_once(
            dir.path(),
            Some((
                "404 Not Found",
                r#"{"error":"no item x is known here"}"#.into(),
            )),
        );
        let err = Client::new(dir.path()).info().await.unwrap_err();
        assert_eq!(format!("{err:#}"), "no item x is known here");
        server.await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let server = serve_once(dir.path(), Some(("502 Bad Gateway", "oops".into())));
        let err = Client::new(dir.path()).peers().await.unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "the node answered 502 Bad Gateway: oops"
        );
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_node_that_hangs_up_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let server = serve_once(dir.path(), None);
        let err = Client::new(dir.path()).profiles().await.unwrap_err();
        server.await.unwrap();
        assert!(
            format!("{err:#}").contains("GET /v1/profiles on"),
            "{err:#}"
        );
        assert!(format!("{err:#}").contains("did the node stop?"), "{err:#}");
    }

    #[tokio::test]
    async fn no_socket_is_no_node() {
        let dir = tempfile::tempdir().unwrap();
        let err = Client::new(dir.path()).info().await.unwrap_err();
        assert!(err.downcast_ref::<NoNode>().is_some(), "{err:#}");
    }
}
