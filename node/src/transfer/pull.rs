//! Pulling a file from a peer into a `.part`: manifest first (checked against the offer), then
//! the missing chunks with several requests in flight, each verified before it is written.
//! Chunks already good in the `.part` are kept, so a pull resumes after a restart.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use dmc_protocol::wire::{ErrorCode, FileRole, Request, Response, MAX_MANIFEST_PAGE};
use dmc_protocol::{Epoch, FileInfo, ItemId};
use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::PeerId;
use sha2::{Digest, Sha512};

use super::hash::manifest_hash;
use super::pace::Pacer;
use super::part_file::{chunk_len, expected_hash, finish, verify_existing, PartWriter};
use crate::net::{NetClient, NetError};

/// Tunables of a pull.
#[derive(Clone, Debug)]
pub struct PullOptions {
    /// Chunk requests in flight at once.
    pub in_flight: usize,
    /// Verified chunks waiting for or being written at once.
    pub writes_in_flight: usize,
    /// How often a chunk that fails verification is asked for again before giving up.
    pub retries_per_chunk: u32,
    /// Hashes asked for per manifest request.
    pub manifest_page: u32,
    /// Pace chunk requests to at most this many bytes per second (`None`: unlimited).
    pub max_rate: Option<u64>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            in_flight: 16,
            writes_in_flight: 4,
            retries_per_chunk: 3,
            manifest_page: 16_384,
            max_rate: None,
        }
    }
}

/// What a pull did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullStats {
    pub chunks_total: u64,
    /// Chunks found good in the `.part` and kept.
    pub chunks_reused: u64,
    /// Chunks received, verified and written.
    pub chunks_fetched: u64,
    /// Chunk requests sent (more than fetched when some failed verification).
    pub chunk_requests: u64,
    pub manifest_requests: u64,
    pub bytes_fetched: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    Net(#[from] NetError),
    #[error("the source changed: {0}; the origin must offer the file again")]
    SourceChanged(String),
    #[error("the peer refused ({code:?}): {message}")]
    Refused { code: ErrorCode, message: String },
    #[error("the peer's manifest does not match the offer: {0}")]
    ManifestMismatch(String),
    #[error("chunk {index} failed verification {attempts} times: the peer sends corrupt data")]
    Corrupt { index: u64, attempts: u32 },
    #[error("the peer answered out of protocol: {0}")]
    Protocol(String),
    #[error("the offer cannot be pulled: {0}")]
    BadOffer(String),
    #[error("{0}")]
    Io(String),
    /// Writing the `.part` failed with ENOSPC.
    #[error(
        "the disk holding {} is full: free some space; the transfer resumes where it stopped",
        .0.display()
    )]
    DiskFull(PathBuf),
}

fn io_error(what: &str, path: &Path, e: io::Error) -> PullError {
    if e.raw_os_error() == Some(libc::ENOSPC) {
        PullError::DiskFull(path.to_path_buf())
    } else {
        PullError::Io(format!("cannot {what} {}: {e}", path.display()))
    }
}

fn refused(code: ErrorCode, message: String) -> PullError {
    match code {
        ErrorCode::SourceChanged => PullError::SourceChanged(message),
        code => PullError::Refused { code, message },
    }
}

/// Pulls with default [`PullOptions`]; see [`pull_file_with`].
#[allow(clippy::too_many_arguments)]
pub async fn pull_file(
    net: &NetClient,
    peer: PeerId,
    item_id: ItemId,
    role: FileRole,
    epoch: Epoch,
    expected: &FileInfo,
    part_path: &Path,
    progress: impl FnMut(u64, u64),
) -> Result<PullStats, PullError> {
    pull_file_with(
        net,
        peer,
        item_id,
        role,
        epoch,
        expected,
        part_path,
        &PullOptions::default(),
        progress,
    )
    .await
}

/// Pulls the file `expected` describes from `peer` into `part_path` and fsyncs it.
/// `progress(done_bytes, total_bytes)` follows verified bytes. On error the `.part` keeps every
/// verified chunk; calling again resumes. The caller checks the SHA-512 and renames.
#[allow(clippy::too_many_arguments)]
pub async fn pull_file_with(
    net: &NetClient,
    peer: PeerId,
    item_id: ItemId,
    role: FileRole,
    epoch: Epoch,
    expected: &FileInfo,
    part_path: &Path,
    opts: &PullOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<PullStats, PullError> {
    expected
        .validate()
        .map_err(|e| PullError::BadOffer(e.to_string()))?;
    let size = expected.file_size;
    let chunk_size = expected.chunk_size;
    let n = expected.chunk_count();
    let mut stats = PullStats {
        chunks_total: n,
        ..PullStats::default()
    };

    let hashes = Arc::new(
        fetch_manifest(net, peer, item_id, role, epoch, expected, opts, &mut stats).await?,
    );

    let part = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(part_path)
        .map_err(|e| io_error("open", part_path, e))?;
    let part = Arc::new(part);

    // Resume: keep the chunks already good.
    let have = {
        let (part, hashes) = (part.clone(), hashes.clone());
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(16);
        let task = tokio::task::spawn_blocking(move || {
            verify_existing(&part, size, chunk_size, &hashes, |done| {
                let _ = tx.try_send(done);
            })
        });
        while let Some(done) = rx.recv().await {
            progress(done, size);
        }
        task.await
            .map_err(|e| PullError::Io(format!("checking {} failed: {e}", part_path.display())))?
            .map_err(|e| io_error("read", part_path, e))?
    };
    let mut done: u64 = 0;
    let mut queue = VecDeque::new();
    for (i, good) in have.iter().enumerate() {
        if *good {
            done += chunk_len(size, chunk_size, i as u64) as u64;
            stats.chunks_reused += 1;
        } else {
            queue.push_back(i as u64);
        }
    }
    progress(done, size);
    let writer = {
        let (part, path) = (part.clone(), part_path.to_path_buf());
        tokio::task::spawn_blocking(move || PartWriter::new(part, &path, size, chunk_size))
            .await
            .map_err(|e| PullError::Io(format!("preparing {} failed: {e}", part_path.display())))?
            .map_err(|e| io_error("reserve space for", part_path, e))?
    };
    let writer = Arc::new(writer);
    if stats.chunks_reused > 0 {
        tracing::debug!(part = %part_path.display(), reused = stats.chunks_reused, "resuming pull");
    }

    let result = fetch_chunks(
        net,
        peer,
        item_id,
        role,
        epoch,
        expected,
        &writer,
        part_path,
        &hashes,
        queue,
        opts,
        &mut stats,
        &mut done,
        &mut progress,
    )
    .await;
    result?;

    let p = part.clone();
    tokio::task::spawn_blocking(move || finish(&p, size))
        .await
        .map_err(|e| PullError::Io(format!("finishing {} failed: {e}", part_path.display())))?
        .map_err(|e| io_error("finish", part_path, e))?;
    Ok(stats)
}

#[allow(clippy::too_many_arguments)]
async fn fetch_manifest(
    net: &NetClient,
    peer: PeerId,
    item_id: ItemId,
    role: FileRole,
    epoch: Epoch,
    expected: &FileInfo,
    opts: &PullOptions,
    stats: &mut PullStats,
) -> Result<Vec<u8>, PullError> {
    let n = expected.chunk_count();
    let page = opts.manifest_page.clamp(1, MAX_MANIFEST_PAGE);
    let mut hashes = Vec::with_capacity((n as usize).saturating_mul(32));
    let mut first = 0u64;
    while first < n {
        let count = (n - first).min(page as u64) as u32;
        stats.manifest_requests += 1;
        let resp = net
            .request(
                peer,
                Request::Manifest {
                    item_id,
                    role,
                    epoch,
                    first,
                    count,
                },
            )
            .await?;
        match resp {
            Response::Manifest {
                file_size,
                chunk_size,
                first: got_first,
                hashes: page_hashes,
            } => {
                if file_size != expected.file_size || chunk_size != expected.chunk_size {
                    return Err(PullError::ManifestMismatch(format!(
                        "the peer has {file_size} bytes in chunks of {chunk_size}, the offer says {} in chunks of {}",
                        expected.file_size, expected.chunk_size
                    )));
                }
                let got = page_hashes.len() as u64;
                if got_first != first
                    || got == 0
                    || !got.is_multiple_of(32)
                    || got / 32 > count as u64
                {
                    return Err(PullError::Protocol(format!(
                        "asked for {count} hashes from {first}, got {} bytes from {got_first}",
                        got
                    )));
                }
                hashes.extend_from_slice(&page_hashes);
                first += got / 32;
            }
            Response::Error { code, message } => return Err(refused(code, message)),
            other => {
                return Err(PullError::Protocol(format!(
                    "expected a manifest page, got {}",
                    kind(&other)
                )))
            }
        }
    }
    if manifest_hash(&hashes) != expected.manifest_hash {
        return Err(PullError::ManifestMismatch(
            "its chunk hashes do not hash to the offered manifest hash; the peer holds a different file".into(),
        ));
    }
    Ok(hashes)
}

fn kind(r: &Response) -> &'static str {
    match r {
        Response::Records { .. } => "records",
        Response::Ack => "ack",
        Response::InSync => "in-sync",
        Response::Summary { .. } => "a summary",
        Response::Manifest { .. } => "a manifest page",
        Response::Chunk { .. } => "a chunk",
        Response::Error { .. } => "an error",
    }
}

type ChunkFuture = Pin<Box<dyn Future<Output = (u64, Result<Response, NetError>)> + Send>>;
type WriteFuture = tokio::task::JoinHandle<(u64, usize, io::Result<bool>)>;

#[allow(clippy::too_many_arguments)]
async fn fetch_chunks(
    net: &NetClient,
    peer: PeerId,
    item_id: ItemId,
    role: FileRole,
    epoch: Epoch,
    expected: &FileInfo,
    writer: &Arc<PartWriter>,
    part_path: &Path,
    hashes: &Arc<Vec<u8>>,
    mut queue: VecDeque<u64>,
    opts: &PullOptions,
    stats: &mut PullStats,
    done: &mut u64,
    progress: &mut impl FnMut(u64, u64),
) -> Result<(), PullError> {
    let size = expected.file_size;
    let chunk_size = expected.chunk_size;
    let in_flight = opts.in_flight.max(1);
    let max_writes = opts.writes_in_flight.max(1);
    let mut attempts: HashMap<u64, u32> = HashMap::new();
    let mut requests: FuturesUnordered<ChunkFuture> = FuturesUnordered::new();
    let mut writes: FuturesUnordered<WriteFuture> = FuturesUnordered::new();
    let mut pacer = Pacer::new(opts.max_rate);

    let outcome: Result<(), PullError> = loop {
        let mut paced_until = None;
        while requests.len() < in_flight {
            let Some(&index) = queue.front() else {
                break;
            };
            if let Some(at) = pacer.admit(chunk_len(size, chunk_size, index) as u64) {
                paced_until = Some(at);
                break;
            }
            queue.pop_front();
            stats.chunk_requests += 1;
            let net = net.clone();
            requests.push(Box::pin(async move {
                (
                    index,
                    net.request(
                        peer,
                        Request::Chunk {
                            item_id,
                            role,
                            epoch,
                            index,
                        },
                    )
                    .await,
                )
            }));
        }
        if requests.is_empty() && writes.is_empty() && paced_until.is_none() {
            break Ok(());
        }
        let pace_wait =
            tokio::time::sleep_until(paced_until.unwrap_or_else(tokio::time::Instant::now));
        tokio::select! {
            _ = pace_wait, if paced_until.is_some() => {}
            Some((index, resp)) = requests.next(), if !requests.is_empty() && writes.len() < max_writes => {
                let data = match resp {
                    Ok(Response::Chunk { index: got, data }) if got == index => data,
                    Ok(Response::Chunk { index: got, .. }) => {
                        break Err(PullError::Protocol(format!("asked for chunk {index}, got chunk {got}")));
                    }
                    Ok(Response::Error { code, message }) => break Err(refused(code, message)),
                    Ok(other) => break Err(PullError::Protocol(format!("expected a chunk, got {}", kind(&other)))),
                    Err(e) => break Err(PullError::Net(e)),
                };
                let (writer, hashes) = (writer.clone(), hashes.clone());
                writes.push(tokio::task::spawn_blocking(move || {
                    let len = data.len();
                    let r = writer.write_verified(index, expected_hash(&hashes, index), &data);
                    crate::net::chunk_pool::give(data);
                    (index, len, r)
                }));
            }
            Some(joined) = writes.next(), if !writes.is_empty() => {
                let (index, len, r) = match joined {
                    Ok(v) => v,
                    Err(e) => break Err(PullError::Io(format!("writing {} failed: {e}", part_path.display()))),
                };
                match r {
                    Ok(true) => {
                        *done += len as u64;
                        stats.chunks_fetched += 1;
                        stats.bytes_fetched += len as u64;
                        progress(*done, size);
                    }
                    Ok(false) => {
                        let a = attempts.entry(index).or_insert(0);
                        *a += 1;
                        tracing::warn!(%peer, index, attempt = *a, "chunk failed verification");
                        if *a > opts.retries_per_chunk {
                            break Err(PullError::Corrupt { index, attempts: *a });
                        }
                        queue.push_front(index);
                    }
                    Err(e) => break Err(io_error("write", part_path, e)),
                }
            }
            else => break Err(PullError::Io("internal error: the pull stalled; try again".into())),
        }
    };
    if outcome.is_err() {
        // Let writes already started finish, so nothing touches the .part after we return.
        drop(requests);
        while writes.next().await.is_some() {}
    }
    outcome
}

/// SHA-512 of a file, lowercase hex. Blocking.
pub fn sha512_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut sha = Sha512::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sha.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(sha.finalize()))
}

/// The `.part` path next to `dest` (`dest` with `.part` appended).
pub fn part_path_for(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}
