//! End-to-end pulls between two real libp2p nodes on 127.0.0.1, served with `serve`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dmc_protocol::wire::{FileRole, Request, Response};
use dmc_protocol::{FileInfo, ItemId};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};

use super::*;
use crate::core::files::sha512_regular;
use crate::net::{spawn_net, NetClient, NetEvent};

/// Pulls with default [`PullOptions`] (what the node uses, less `max_rate`).
async fn pull_file(
    net: &NetClient,
    src: RemoteFile,
    expected: &FileInfo,
    part_path: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<PullStats, PullError> {
    pull_file_with(
        net,
        src,
        expected,
        part_path,
        &PullOptions::default(),
        progress,
    )
    .await
}

const MIB: usize = 1 << 20;

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What the test server does to answers.
#[derive(Clone, Default)]
struct Behaviour {
    /// Flip a byte in this chunk every time it is served.
    corrupt_chunk: Option<u64>,
    /// Append to the served file once this many chunk requests were seen.
    change_after: Option<u64>,
}

struct Server {
    chunk_requests: Arc<AtomicU64>,
    peer: PeerId,
    _net: NetClient,
}

/// Starts a node serving `files` for item `item` and a puller connected to it.
async fn setup(files: HashMap<FileRole, ServedFile>, behaviour: Behaviour) -> (Server, NetClient) {
    let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    let (server, mut rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![listen],
        vec![],
        Default::default(),
    )
    .unwrap();
    let chunk_requests = Arc::new(AtomicU64::new(0));
    let counter = chunk_requests.clone();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let NetEvent::Inbound {
                request, responder, ..
            } = ev
            else {
                continue;
            };
            let (role, resp) = match request {
                Request::Manifest {
                    role, first, count, ..
                } => match files.get(&role) {
                    Some(f) => (role, Some(manifest_page(f, first, count))),
                    None => (role, None),
                },
                Request::Chunk { role, index, .. } => {
                    let seen = counter.fetch_add(1, Ordering::SeqCst) + 1;
                    let Some(f) = files.get(&role).cloned() else {
                        continue;
                    };
                    if behaviour.change_after == Some(seen) {
                        let mut data = std::fs::read(&f.path).unwrap();
                        data.push(1);
                        std::fs::write(&f.path, data).unwrap();
                    }
                    let corrupt = behaviour.corrupt_chunk;
                    let resp = tokio::task::spawn_blocking(move || {
                        let mut r = read_chunk(&f, index);
                        if let Response::Chunk { data, .. } = &mut r {
                            if corrupt == Some(index) {
                                data[0] ^= 0xff;
                            }
                        }
                        r
                    })
                    .await
                    .unwrap();
                    (role, Some(resp))
                }
                _ => continue,
            };
            let _ = role;
            responder.respond(resp.unwrap_or(Response::Error {
                code: dmc_protocol::wire::ErrorCode::NotFound,
                message: "no such file".into(),
            }));
        }
    });
    let addr = server.listen_addrs().await.remove(0);
    let (client, _rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![],
        vec![],
        Default::default(),
    )
    .unwrap();
    let peer = client.dial(addr).await.unwrap();
    assert_eq!(peer, server.local_peer_id());
    // Keep the client's event receiver alive by leaking it into a task that drains it.
    let mut crx = _rx;
    tokio::spawn(async move { while crx.recv().await.is_some() {} });
    (
        Server {
            chunk_requests,
            peer,
            _net: server,
        },
        client,
    )
}

fn write_source(
    dir: &Path,
    name: &str,
    data: &[u8],
    chunk_size: u32,
) -> (PathBuf, HashedFile, FileInfo) {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    let hashed = hash_file(&path, chunk_size, |_| {}).unwrap();
    let info = hashed.file_info(name);
    (path, hashed, info)
}

async fn pull(
    client: &NetClient,
    server: &Server,
    info: &FileInfo,
    part: &Path,
) -> Result<PullStats, PullError> {
    let fut = pull_file(
        client,
        RemoteFile {
            peer: server.peer,
            item_id: ItemId::from_random([3; 16]),
            role: FileRole::Source,
            epoch: 1,
        },
        info,
        part,
        |_, _| {},
    );
    tokio::time::timeout(Duration::from_secs(120), fut)
        .await
        .expect("pull ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_a_20_mib_file_identically() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(20 * MIB + 12_345, 7);
    let (src, hashed, info) = write_source(
        dir.path(),
        "clip.mp4",
        &data,
        dmc_protocol::record::CHUNK_SIZE,
    );
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(files, Behaviour::default()).await;

    let part = dir.path().join("out.mp4.part");
    let mut last = (0, 0);
    let stats = pull_file(
        &client,
        RemoteFile {
            peer: server.peer,
            item_id: ItemId::from_random([3; 16]),
            role: FileRole::Source,
            epoch: 1,
        },
        &info,
        &part,
        |d, t| last = (d, t),
    )
    .await
    .unwrap();
    assert_eq!(stats.chunks_total, 21);
    assert_eq!(stats.chunks_fetched, 21);
    assert_eq!(stats.chunks_reused, 0);
    assert_eq!(last, (data.len() as u64, data.len() as u64));
    assert_eq!(sha512_regular(&part).unwrap(), info.sha512);
    assert!(std::fs::read(&part).unwrap() == data);
    assert_eq!(server.chunk_requests.load(Ordering::SeqCst), 21);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_from_a_part_with_good_and_bad_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let cs: u32 = 256 << 10;
    let data = random_bytes(20 * cs as usize + 999, 11); // 21 chunks
    let (src, hashed, info) = write_source(dir.path(), "a.mkv", &data, cs);
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(files, Behaviour::default()).await;

    // The .part holds the first 10 chunks, of which chunks 2 and 7 are garbage.
    let mut part_data = data[..10 * cs as usize].to_vec();
    for bad in [2usize, 7] {
        part_data[bad * cs as usize + 5] ^= 0x55;
    }
    let part = dir.path().join("a.mkv.part");
    std::fs::write(&part, &part_data).unwrap();

    let stats = pull(&client, &server, &info, &part).await.unwrap();
    assert_eq!(stats.chunks_reused, 8);
    assert_eq!(stats.chunks_fetched, 13);
    assert_eq!(
        server.chunk_requests.load(Ordering::SeqCst),
        13,
        "only missing chunks are asked for"
    );
    assert!(std::fs::read(&part).unwrap() == data);

    // A .part longer than the file, complete: nothing is fetched, the tail is cut.
    let mut longer = data.clone();
    longer.extend_from_slice(b"trailing junk");
    std::fs::write(&part, &longer).unwrap();
    let stats = pull(&client, &server, &info, &part).await.unwrap();
    assert_eq!(stats.chunks_fetched, 0);
    assert_eq!(server.chunk_requests.load(Ordering::SeqCst), 13);
    assert_eq!(sha512_regular(&part).unwrap(), info.sha512);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_changed_mid_transfer_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cs: u32 = 64 << 10;
    let data = random_bytes(64 * cs as usize, 13);
    let (src, hashed, info) = write_source(dir.path(), "b.mov", &data, cs);
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(
        files,
        Behaviour {
            change_after: Some(5),
            ..Default::default()
        },
    )
    .await;
    let part = dir.path().join("b.mov.part");
    match pull(&client, &server, &info, &part).await {
        Err(PullError::SourceChanged(msg)) => {
            assert!(msg.contains("changed since it was offered"), "{msg}")
        }
        other => panic!("expected SourceChanged, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_source_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(200_000, 17);
    let (src, hashed, info) = write_source(dir.path(), "gone.mp4", &data, 64 << 10);
    let files = HashMap::from([(
        FileRole::Source,
        ServedFile::from_hashed(src.clone(), &hashed),
    )]);
    let (server, client) = setup(files, Behaviour::default()).await;
    std::fs::remove_file(&src).unwrap();
    match pull(&client, &server, &info, &dir.path().join("gone.part")).await {
        Err(PullError::SourceChanged(msg)) => assert!(msg.contains("no longer exists"), "{msg}"),
        other => panic!("expected SourceChanged, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_does_not_match_the_offer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(3 * MIB, 19);
    let (src, hashed, _) = write_source(dir.path(), "c.mp4", &data, 1 << 20);
    // The offer describes other bytes of the same size.
    let (_, _, offered) =
        write_source(dir.path(), "other.mp4", &random_bytes(3 * MIB, 23), 1 << 20);
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(files, Behaviour::default()).await;
    let part = dir.path().join("c.part");
    match pull(&client, &server, &offered, &part).await {
        Err(e @ PullError::ManifestMismatch(_)) => {
            assert!(e.to_string().contains("does not match the offer"), "{e}")
        }
        other => panic!("expected ManifestMismatch, got {other:?}"),
    }
    assert_eq!(
        server.chunk_requests.load(Ordering::SeqCst),
        0,
        "no chunk asked for"
    );
    assert!(!part.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_chunks_give_corrupt_and_are_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let cs: u32 = 128 << 10;
    let data = random_bytes(10 * cs as usize, 29);
    let (src, hashed, info) = write_source(dir.path(), "d.mp4", &data, cs);
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(
        files,
        Behaviour {
            corrupt_chunk: Some(3),
            ..Default::default()
        },
    )
    .await;
    let part = dir.path().join("d.mp4.part");
    match pull(&client, &server, &info, &part).await {
        Err(PullError::Corrupt { index: 3, attempts }) => assert_eq!(attempts, 4),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let written = std::fs::read(&part).unwrap();
    let range = 3 * cs as usize..4 * cs as usize;
    if written.len() >= range.end {
        assert!(
            written[range.clone()].iter().all(|b| *b == 0),
            "no corrupt byte was written"
        );
    }
    assert_ne!(
        sha512_regular(&part).unwrap(),
        info.sha512,
        "the .part is not a finished file"
    );
    // The other chunks that arrived are kept for a later resume.
    assert!(server.chunk_requests.load(Ordering::SeqCst) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_and_a_missing_role_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let (src, hashed, info) = write_source(dir.path(), "empty.mp4", &[], 1 << 20);
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(files, Behaviour::default()).await;
    let part = dir.path().join("empty.part");
    let stats = pull(&client, &server, &info, &part).await.unwrap();
    assert_eq!(stats.chunks_total, 0);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 0);

    let (_, _, other) = write_source(dir.path(), "x.mp4", b"abc", 1 << 20);
    let x_part = dir.path().join("x.part");
    let fut = pull_file(
        &client,
        RemoteFile {
            peer: server.peer,
            item_id: ItemId::from_random([3; 16]),
            role: FileRole::Result,
            epoch: 1,
        },
        &other,
        &x_part,
        |_, _| {},
    );
    match fut.await {
        Err(PullError::Refused {
            code: dmc_protocol::wire::ErrorCode::NotFound,
            ..
        }) => {}
        other => panic!("expected Refused NotFound, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_paces_the_chunk_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(2 * MIB, 11);
    let (src, hashed, info) = write_source(dir.path(), "paced.bin", &data, 64 << 10);
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(files, Behaviour::default()).await;

    let part = dir.path().join("paced.bin.part");
    let opts = PullOptions {
        max_rate: Some(4 * MIB as u64),
        ..PullOptions::default()
    };
    let started = std::time::Instant::now();
    let stats = pull_file_with(
        &client,
        RemoteFile {
            peer: server.peer,
            item_id: ItemId::from_random([3; 16]),
            role: FileRole::Source,
            epoch: 1,
        },
        &info,
        &part,
        &opts,
        |_, _| {},
    )
    .await
    .unwrap();
    // 32 requests of 64 KiB at 4 MiB/s: the last one may not go out before 31/64 s.
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(stats.chunks_fetched, 32);
    assert!(std::fs::read(&part).unwrap() == data);
}

/// The source at `src` replaced by a link to `secret`, a file of the same size and mtime.
fn swap_for_a_link(src: &Path, secret: &Path) {
    let mtime = std::fs::metadata(src).unwrap().modified().unwrap();
    let len = std::fs::metadata(src).unwrap().len() as usize;
    std::fs::write(secret, random_bytes(len, 99)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(secret)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::remove_file(src).unwrap();
    std::os::unix::fs::symlink(secret, src).unwrap();
}

#[test]
fn a_source_swapped_for_a_link_serves_nothing_of_the_link_target() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(100_000, 23);
    let (src, hashed, _) = write_source(dir.path(), "clip.mp4", &data, 32 << 10);
    // Pinned to the inode hashed (as offered), and as loaded after a restart (no pin).
    let pinned = ServedFile::from_hashed(src.clone(), &hashed);
    let unpinned = ServedFile::new(
        src.clone(),
        hashed.size,
        hashed.mtime_ns,
        hashed.chunk_size,
        Arc::new(hashed.hashes.clone()),
    );
    swap_for_a_link(&src, &dir.path().join("secret"));
    for file in [&pinned, &unpinned] {
        for index in 0..file.chunk_count() {
            match read_chunk(file, index) {
                Response::Error { code, .. } => {
                    assert_eq!(code, dmc_protocol::wire::ErrorCode::SourceChanged)
                }
                other => panic!("chunk {index} of the link's target was served: {other:?}"),
            }
        }
    }
    assert!(pinned.check_unchanged().is_err());
}

#[test]
fn a_pinned_source_is_served_only_while_it_is_the_inode_hashed() {
    let dir = tempfile::tempdir().unwrap();
    let data = random_bytes(70_000, 29);
    let (src, hashed, _) = write_source(dir.path(), "clip.mp4", &data, 32 << 10);
    let pinned = ServedFile::from_hashed(src.clone(), &hashed);
    match read_chunk(&pinned, 0) {
        Response::Chunk { data: d, .. } => assert_eq!(d, data[..32 << 10]),
        other => panic!("{other:?}"),
    }
    // A copy with the same bytes, size and mtime, but another inode, is not the file offered.
    let fresh = ServedFile::from_hashed(src.clone(), &hashed);
    let copy = dir.path().join("copy");
    std::fs::copy(&src, &copy).unwrap();
    let mtime = std::fs::metadata(&src).unwrap().modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::rename(&copy, &src).unwrap();
    assert!(matches!(read_chunk(&fresh, 0), Response::Error { .. }));
}

/// Issue 13, point 6: a peer's claimed size and chunk size size no allocation. 2^40 bytes in
/// 1-byte chunks is refused as a bad offer (it once reserved 2^40 × 32 bytes of hashes and
/// aborted the node); 2^40 bytes in 1 MiB chunks does not fit this disk and is refused before
/// the `.part` exists or a manifest page is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_size_is_bounded_before_anything_is_allocated_or_written() {
    let dir = tempfile::tempdir().unwrap();
    let (src, hashed, info) = write_source(dir.path(), "c.mp4", &random_bytes(MIB, 5), 1 << 20);
    let files = HashMap::from([(FileRole::Source, ServedFile::from_hashed(src, &hashed))]);
    let (server, client) = setup(files, Behaviour::default()).await;
    let part = dir.path().join("huge.part");
    let tiny_chunks = FileInfo {
        file_size: 1 << 40,
        chunk_size: 1,
        ..info.clone()
    };
    match pull(&client, &server, &tiny_chunks, &part).await {
        Err(PullError::BadOffer(m)) => assert!(m.contains("chunk_size"), "{m}"),
        other => panic!("expected BadOffer, got {other:?}"),
    }
    assert!(!part.exists());
    let free = crate::core::layout::free_space(dir.path()).unwrap();
    assert!(
        free < 1 << 40,
        "this test needs a disk with less than 1 TiB free"
    );
    let huge = FileInfo {
        file_size: 1 << 40,
        ..info
    };
    match pull(&client, &server, &huge, &part).await {
        Err(e @ PullError::NoRoom { need, .. }) => {
            assert_eq!(need, 1 << 40);
            assert!(
                e.to_string().contains("refused before writing anything"),
                "{e}"
            );
        }
        other => panic!("expected NoRoom, got {other:?}"),
    }
    assert!(!part.exists());
    assert_eq!(server.chunk_requests.load(Ordering::SeqCst), 0);
}
