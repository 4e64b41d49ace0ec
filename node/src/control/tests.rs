//! Tests of the control API over a real Unix socket, with a small scripted core task behind
//! the handle (the HTTP layer is what is under test here).

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dmc_protocol::{ItemId, MediaType, NodeId, Phase};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::api::{ItemPage, ItemView, NodeView, OfferOutcome, PeerView, ProfileView};
use super::{serve, serve_for, socket_path, ControlError};
use crate::core::handle::Command;
use crate::core::{CoreError, CoreHandle};

fn known_id() -> ItemId {
    ItemId::parse("7f1c2a90-1111-4222-8333-444455556666").unwrap()
}

fn other_id() -> ItemId {
    ItemId::parse("0a0b0c0d-1111-4222-8333-444455556666").unwrap()
}

/// A core that answers from a script: enough to exercise every route and error.
fn scripted_core() -> CoreHandle {
    let (tx, mut rx) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Command::Offer {
                    path,
                    profile,
                    reply,
                    ..
                } => {
                    let r = if profile.as_deref() == Some("nope") {
                        Err(CoreError::BadRequest("unknown profile nope".into()))
                    } else {
                        let mut item = ItemView::sample(known_id(), Phase::Offered);
                        item.file_name = path.file_name().unwrap().to_string_lossy().into();
                        item.conversion_type = profile.unwrap_or_else(|| "default".into());
                        Ok(OfferOutcome {
                            existing: path == Path::new("/media/again.mp4"),
                            item,
                        })
                    };
                    let _ = reply.send(r);
                }
                Command::Status { item, reply } => {
                    let r = if item == known_id() {
                        Ok(ItemView::sample(item, Phase::Converting))
                    } else {
                        Err(CoreError::UnknownItem(item))
                    };
                    let _ = reply.send(r);
                }
                Command::List { query, reply } => {
                    let mut items = vec![ItemView::sample(known_id(), Phase::Offered)];
                    if query.all {
                        items.push(ItemView::sample(other_id(), Phase::Delivered));
                    }
                    let total = items.len() as u64;
                    let items = items
                        .into_iter()
                        .skip(query.offset as usize)
                        .take(query.limit as usize)
                        .collect();
                    let page = ItemPage::new(items, total, query.offset, query.limit, 1);
                    let _ = reply.send(Ok(page));
                }
                Command::Cancel { item, reply } => {
                    let _ = reply.send(Err(CoreError::Conflict(format!(
                        "item {item} is already delivered"
                    ))));
                }
                Command::Priority {
                    item,
                    priority,
                    reply,
                } => {
                    let mut view = ItemView::sample(item, Phase::Accepted);
                    view.priority = priority;
                    view.queue_position = Some(1);
                    let _ = reply.send(Ok(view));
                }
                Command::Retry { item, reply } => {
                    let _ = reply.send(Err(CoreError::Conflict(format!(
                        "item {item} is converting: only a failed item can be retried"
                    ))));
                }
                Command::Fetch { output, reply, .. } => {
                    let r = match output {
                        Some(p) if p == Path::new("/broken") => {
                            Err(CoreError::Internal("disk on fire".into()))
                        }
                        Some(p) => Ok(p),
                        None => Ok(PathBuf::from("/out/clip.mkv")),
                    };
                    let _ = reply.send(r);
                }
                Command::Peers { reply } => {
                    let _ = reply.send(Ok(vec![PeerView {
                        node_id: NodeId::new("12D3KooWPeer"),
                        name: Some("box".into()),
                        addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
                        online: true,
                        last_seen: None,
                        seen_secs_ago: None,
                        role: "converter".into(),
                        media_types: vec![MediaType::Video],
                        profiles: vec!["mkv-x265".into()],
                        workers: Some(2),
                        free_slots: Some(1),
                        measured_speed: None,
                        rejected: None,
                        over_budget: None,
                    }]));
                }
                Command::Profiles { reply } => {
                    let _ = reply.send(Ok(vec![ProfileView {
                        name: "mkv-x265".into(),
                        media_types: vec![MediaType::Video],
                        encoder: "libx265".into(),
                        extension: "mkv".into(),
                        local: false,
                        converters: vec![],
                        converter_names: vec![],
                    }]));
                }
                Command::Info { reply } => {
                    let _ = reply.send(Ok(NodeView {
                        node_id: NodeId::new("12D3KooWSelf"),
                        name: "self".into(),
                        version: "0.1.0".into(),
                        data_dir: "/data".into(),
                        listen_addrs: vec![],
                        converter: false,
                        output_dir: "/out".into(),
                        upgrading: None,
                    }));
                }
            }
        }
    });
    CoreHandle { tx }
}

struct Server {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ControlError>>,
}

impl Server {
    async fn start(socket: PathBuf, core: CoreHandle) -> Server {
        Server::start_for(socket, None, core).await
    }

    async fn start_for(socket: PathBuf, group: Option<String>, core: CoreHandle) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let s = socket.clone();
        let task = tokio::spawn(async move {
            serve_for(&s, group.as_deref(), core, async move {
                let _ = stopped.await;
            })
            .await
        });
        // Wait until the server answers on the socket (a stale file may be there before).
        while UnixStream::connect(&socket).await.is_err() {
            assert!(!task.is_finished(), "server stopped before binding");
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        Server {
            socket,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) -> Result<(), ControlError> {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap()
    }
}

/// One HTTP/1.1 request over the socket; returns the status and the JSON body.
async fn call(socket: &Path, method: &str, target: &str, body: Option<&str>) -> (u16, Value) {
    call_raw(socket, method, target, body, "application/json").await
}

async fn call_raw(
    socket: &Path,
    method: &str,
    target: &str,
    body: Option<&str>,
    ctype: &str,
) -> (u16, Value) {
    let mut s = UnixStream::connect(socket).await.unwrap();
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {target} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

fn error_of(v: &Value) -> &str {
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field in {v}"))
}

#[tokio::test]
async fn routes_answer_with_the_core_views() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(socket_path(dir.path()), scripted_core()).await;
    let sock = srv.socket.clone();

    let (st, info) = call(&sock, "GET", "/v1/info", None).await;
    assert_eq!(st, 200);
    assert_eq!(info["node_id"], "12D3KooWSelf");
    assert_eq!(info["output_dir"], "/out");

    let (st, out) = call(
        &sock,
        "POST",
        "/v1/offer",
        Some(r#"{"path":"/media/clip.mp4","profile":"mkv-x265"}"#),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(out["existing"], false);
    assert_eq!(out["item"]["file_name"], "clip.mp4");
    assert_eq!(out["item"]["conversion_type"], "mkv-x265");
    assert_eq!(out["item"]["item_id"], known_id().to_string());

    let (st, out) = call(
        &sock,
        "POST",
        "/v1/offer",
        Some(r#"{"path":"/media/again.mp4","profile":null}"#),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(out["existing"], true);
    assert_eq!(out["item"]["conversion_type"], "default");

    let (st, page) = call(&sock, "GET", "/v1/items", None).await;
    assert_eq!((st, page["items"].as_array().unwrap().len()), (200, 1));
    assert_eq!(
        (page["total"].as_u64(), page["limit"].as_u64()),
        (Some(1), Some(50))
    );
    assert!(page["next_offset"].is_null(), "{page}");
    let (st, page) = call(&sock, "GET", "/v1/items?all=false", None).await;
    assert_eq!((st, page["items"].as_array().unwrap().len()), (200, 1));
    let (st, page) = call(&sock, "GET", "/v1/items?all=true", None).await;
    let items = &page["items"];
    assert_eq!((st, items.as_array().unwrap().len()), (200, 2));
    assert_eq!(items[1]["phase"], "delivered");
    assert_eq!(items[1]["status"], "finished_successful");
    let (st, page) = call(&sock, "GET", "/v1/items?all=true&limit=1", None).await;
    assert_eq!((st, page["items"].as_array().unwrap().len()), (200, 1));
    assert_eq!(
        (page["total"].as_u64(), page["next_offset"].as_u64()),
        (Some(2), Some(1))
    );
    let (st, page) = call(&sock, "GET", "/v1/items?all=true&limit=1&offset=1", None).await;
    assert_eq!(
        (st, page["items"][0]["phase"].as_str()),
        (200, Some("delivered"))
    );
    assert!(page["next_offset"].is_null(), "{page}");

    let (st, item) = call(&sock, "GET", &format!("/v1/items/{}", known_id()), None).await;
    assert_eq!(st, 200);
    assert_eq!(item["phase"], "converting");
    assert_eq!(item["status"], "in_progress");

    let (st, f) = call(
        &sock,
        "POST",
        &format!("/v1/items/{}/fetch", known_id()),
        Some(r#"{"output":null}"#),
    )
    .await;
    assert_eq!((st, f), (200, json!({"path": "/out/clip.mkv"})));
    let (st, f) = call(
        &sock,
        "POST",
        &format!("/v1/items/{}/fetch", known_id()),
        Some(r#"{"output":"/tmp/x.mkv"}"#),
    )
    .await;
    assert_eq!((st, f), (200, json!({"path": "/tmp/x.mkv"})));
    let (st, f) = call(
        &sock,
        "POST",
        &format!("/v1/items/{}/fetch", known_id()),
        Some("{}"),
    )
    .await;
    assert_eq!((st, f), (200, json!({"path": "/out/clip.mkv"})));

    let (st, peers) = call(&sock, "GET", "/v1/peers", None).await;
    assert_eq!(st, 200);
    assert_eq!(peers[0]["role"], "converter");
    assert_eq!(peers[0]["workers"], 2);
    assert_eq!(peers[0]["free_slots"], 1);

    let (st, profiles) = call(&sock, "GET", "/v1/profiles", None).await;
    assert_eq!(st, 200);
    assert_eq!(profiles[0]["name"], "mkv-x265");
    assert_eq!(profiles[0]["media_types"], json!(["video"]));

    srv.stop().await.unwrap();
}

#[tokio::test]
async fn errors_are_json_with_a_fitting_status() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(socket_path(dir.path()), scripted_core()).await;
    let sock = srv.socket.clone();

    let (st, e) = call(&sock, "GET", &format!("/v1/items/{}", other_id()), None).await;
    assert_eq!(st, 404);
    assert!(error_of(&e).contains("dmc list --all"), "{e}");

    let (st, e) = call(&sock, "GET", "/v1/items/not-a-uuid", None).await;
    assert_eq!(st, 400);
    assert!(error_of(&e).contains("is not an item id"), "{e}");

    let (st, e) = call(
        &sock,
        "POST",
        "/v1/offer",
        Some(r#"{"path":"relative/clip.mp4"}"#),
    )
    .await;
    assert_eq!(st, 400);
    assert!(error_of(&e).contains("absolute"), "{e}");

    let (st, e) = call(
        &sock,
        "POST",
        "/v1/offer",
        Some(r#"{"path":"/media/clip.mp4","profile":"nope"}"#),
    )
    .await;
    assert_eq!((st, error_of(&e)), (400, "unknown profile nope"));

    let long = "x".repeat(100);
    let (st, _) = call(
        &sock,
        "POST",
        "/v1/offer",
        Some(&format!(r#"{{"path":"/a","profile":"{long}"}}"#)),
    )
    .await;
    assert_eq!(st, 400);

    let (st, e) = call(
        &sock,
        "POST",
        "/v1/offer",
        Some(r#"{"path":"/a","extra":1}"#),
    )
    .await;
    assert!(st == 400 || st == 422, "{st}");
    assert!(error_of(&e).starts_with("bad request body"), "{e}");

    let (st, e) = call(&sock, "POST", "/v1/offer", Some("{not json")).await;
    assert_eq!(st, 400);
    assert!(error_of(&e).starts_with("bad request body"), "{e}");

    let (st, _) = call_raw(
        &sock,
        "POST",
        "/v1/offer",
        Some(r#"{"path":"/a"}"#),
        "text/plain",
    )
    .await;
    assert_eq!(st, 415);

    let big = format!(r#"{{"path":"/{}"}}"#, "a".repeat(70 * 1024));
    let (st, _) = call(&sock, "POST", "/v1/offer", Some(&big)).await;
    assert_eq!(st, 413);

    let (st, e) = call(
        &sock,
        "POST",
        &format!("/v1/items/{}/cancel", known_id()),
        None,
    )
    .await;
    assert_eq!(st, 409);
    assert!(error_of(&e).contains("already delivered"), "{e}");

    let priority = format!("/v1/items/{}/priority", known_id());
    let (st, v) = call(&sock, "POST", &priority, Some(r#"{"priority":-7}"#)).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["priority"].clone(), v["queue_position"].clone()),
        (json!(-7), json!(1))
    );
    for body in [
        r#"{"priority":2147483648}"#,
        r#"{"priority":"high"}"#,
        r#"{}"#,
        r#"{"priority":1,"extra":true}"#,
    ] {
        let (st, e) = call(&sock, "POST", &priority, Some(body)).await;
        assert!(st == 400 || st == 422, "{body}: {st}");
        assert!(error_of(&e).starts_with("bad request body"), "{body}: {e}");
    }

    let (st, e) = call(
        &sock,
        "POST",
        &format!("/v1/items/{}/fetch", known_id()),
        Some(r#"{"output":"/broken"}"#),
    )
    .await;
    assert_eq!(st, 500);
    assert!(error_of(&e).contains("disk on fire"), "{e}");

    let (st, e) = call(
        &sock,
        "POST",
        &format!("/v1/items/{}/fetch", known_id()),
        Some(r#"{"output":"rel"}"#),
    )
    .await;
    assert_eq!(st, 400);
    assert!(error_of(&e).contains("absolute"), "{e}");

    let (st, e) = call(&sock, "GET", "/v1/items?all=maybe", None).await;
    assert_eq!(st, 400);
    assert!(error_of(&e).starts_with("bad query"), "{e}");
    for (query, says) in [
        ("limit=0", "limit must be 1 to 1000"),
        ("limit=1001", "limit must be 1 to 1000"),
        ("offset=99999999999999", "offset must be at most"),
        ("prefix=zz", "prefix must be 1 to 32 hex digits"),
    ] {
        let (st, e) = call(&sock, "GET", &format!("/v1/items?{query}"), None).await;
        assert_eq!(st, 400, "{query}: {e}");
        assert!(error_of(&e).contains(says), "{query}: {e}");
    }

    let (st, e) = call(&sock, "GET", "/v2/nothing", None).await;
    assert_eq!(st, 404);
    assert!(error_of(&e).contains("no such route"), "{e}");

    let (st, e) = call(&sock, "DELETE", "/v1/info", None).await;
    assert_eq!(st, 405);
    assert!(error_of(&e).contains("DELETE"), "{e}");

    srv.stop().await.unwrap();
}

#[tokio::test]
async fn a_stopped_core_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    let srv = Server::start(socket_path(dir.path()), CoreHandle { tx }).await;
    let (st, e) = call(&srv.socket, "GET", "/v1/info", None).await;
    assert_eq!(st, 503);
    assert_eq!(error_of(&e), "the node is shutting down");
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn socket_has_mode_0600_and_is_removed_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(socket_path(dir.path()), scripted_core()).await;
    let meta = std::fs::symlink_metadata(&srv.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let sock = srv.socket.clone();
    srv.stop().await.unwrap();
    assert!(!sock.exists());
    // No private temp directory is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let sock = socket_path(dir.path());
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let srv = Server::start(sock.clone(), scripted_core()).await;
    let (st, _) = call(&sock, "GET", "/v1/info", None).await;
    assert_eq!(st, 200);
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn a_live_node_on_the_socket_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sock = socket_path(dir.path());
    let first = Server::start(sock.clone(), scripted_core()).await;

    let err = serve(&sock, scripted_core(), async {}).await.unwrap_err();
    assert!(
        matches!(err, ControlError::AlreadyRunning { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "another dmc node is already running with data dir {}",
            dir.path().display()
        )),
        "{msg}"
    );

    // The first node keeps its socket and answers.
    let (st, _) = call(&sock, "GET", "/v1/info", None).await;
    assert_eq!(st, 200);
    first.stop().await.unwrap();
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sock = socket_path(dir.path());
    std::fs::write(&sock, b"precious").unwrap();
    let err = serve(&sock, scripted_core(), async {}).await.unwrap_err();
    assert!(matches!(err, ControlError::NotASocket(_)), "{err:?}");
    assert_eq!(std::fs::read(&sock).unwrap(), b"precious");
}

#[tokio::test]
async fn a_too_long_socket_path_is_refused() {
    let long = PathBuf::from(format!("/tmp/{}/control.sock", "d".repeat(120)));
    let err = serve(&long, scripted_core(), async {}).await.unwrap_err();
    assert!(matches!(err, ControlError::PathTooLong(_)), "{err:?}");
    assert!(err.to_string().contains("shorter --data-dir"));
}

/// A system group made for one test with `groupadd`, deleted again on drop.
struct TempGroup {
    name: String,
}

impl TempGroup {
    /// Creates the group; panics, saying what is missing, when not root or `groupadd` fails
    /// (the test that uses it is `#[ignore]`d: `-- --include-ignored` runs it).
    fn create(tag: &str) -> TempGroup {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        assert_eq!(
            uid, 0,
            "this test needs root to create a group (it runs as uid {uid}); run it as root: \
             `cargo test --workspace --locked -- --include-ignored`, as .ci/run does"
        );
        let name = format!("dmct{}{tag}", std::process::id() % 100_000);
        let _ = std::process::Command::new("groupdel").arg(&name).status();
        match std::process::Command::new("groupadd").arg(&name).output() {
            Ok(out) if out.status.success() => TempGroup { name },
            Ok(out) => panic!(
                "groupadd {name} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("this test needs groupadd ({e}): apt-get install passwd"),
        }
    }

    fn gid(&self) -> u32 {
        super::group::gid_of(&self.name).unwrap()
    }
}

impl Drop for TempGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("groupdel")
            .arg(&self.name)
            .status();
    }
}

#[tokio::test]
#[ignore = "needs root and groupadd"]
async fn with_a_group_the_socket_is_0660_that_group_and_reachable() {
    let group = TempGroup::create("sock");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // As an older unit or install.sh left it: listable by the group.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).unwrap();
    let srv = Server::start_for(
        socket_path(&data),
        Some(group.name.clone()),
        scripted_core(),
    )
    .await;
    let meta = std::fs::symlink_metadata(&srv.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), group.gid());
    // The data dir lets the group through to the socket, and nothing more.
    let d = std::fs::metadata(&data).unwrap();
    assert_eq!(d.gid(), group.gid());
    assert_eq!(d.permissions().mode() & 0o777, 0o710);
    let (st, _) = call(&srv.socket, "GET", "/v1/info", None).await;
    assert_eq!(st, 200);
    srv.stop().await.unwrap();

    // Without the key, the same data dir gets a 0600 socket of the node's own group.
    let srv = Server::start(socket_path(&data), scripted_core()).await;
    let meta = std::fs::symlink_metadata(&srv.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // SAFETY: getegid has no preconditions.
    assert_eq!(meta.gid(), unsafe { libc::getegid() });
    srv.stop().await.unwrap();
}

#[tokio::test]
async fn an_unknown_group_is_refused_saying_how_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let sock = socket_path(dir.path());
    let err = serve_for(&sock, Some("dmc-no-such-group"), scripted_core(), async {})
        .await
        .unwrap_err();
    assert!(matches!(err, ControlError::NoSuchGroup(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("`dmc-no-such-group` does not exist")
            && msg.contains("groupadd dmc-no-such-group"),
        "{msg}"
    );
    assert!(!sock.exists());
}
