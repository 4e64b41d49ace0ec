//! Pulling a file from a peer into a `.part`: manifest first (checked against the offer), then
//! the missing chunks with several requests in flight, each verified before it is written.
//! Chunks already good in the `.part` are kept, so a pull resumes after a restart.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use dmc_protocol::wire::{ErrorCode, FileRole, Request, Response, MAX_MANIFEST_PAGE};
use dmc_protocol::{Epoch, FileInfo, ItemId};
use futures::stream::{FuturesUnordered, StreamExt};
use libp2p::PeerId;

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
    /// The peer had the file and has it no more (`ErrorCode::Gone`): asking again will not
    /// help.
    #[error("the file is gone from the peer: {0}")]
    Gone(String),
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
    /// The file does not fit the free space of the disk the `.part` is on; nothing was
    /// written or allocated for it.
    #[error(
        "the file is {need} bytes but the disk holding {} has {free} bytes free: refused \
         before writing anything; free some space and it is tried again",
        .path.display()
    )]
    NoRoom { path: PathBuf, need: u64, free: u64 },
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
        ErrorCode::Gone => PullError::Gone(message),
        code => PullError::Refused { code, message },
    }
}

/// Pulls the file `expected` describes from `peer` into `part_path` and fsyncs it.
/// `progress(done_bytes, total_bytes)` follows verified bytes. On error the `.part` keeps every
/// verified chunk; calling again resumes. Every byte of the finished `.part` was checked with
/// BLAKE3 against the manifest that `expected` names; the caller renames it.
pub async fn pull_file_with(
    net: &NetClient,
    src: RemoteFile,
    expected: &FileInfo,
    part_path: &Path,
    opts: &PullOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<PullStats, PullError> {
    expected
        .validate_to_pull()
        .map_err(|e| PullError::BadOffer(e.to_string()))?;
    let size = expected.file_size;
    check_room(part_path, size)?;
    let mut stats = PullStats {
        chunks_total: expected.chunk_count(),
        ..PullStats::default()
    };
    let hashes = Arc::new(fetch_manifest(net, src, expected, opts, &mut stats).await?);
    let part = Arc::new(open_part(part_path)?);
    let have = verify_part(&part, part_path, expected, &hashes, &mut progress).await?;
    let (queue, done) = missing_chunks(&have, expected, &mut stats);
    progress(done, size);
    let writer = Arc::new(prepare_writer(&part, part_path, expected).await?);
    if stats.chunks_reused > 0 {
        tracing::debug!(part = %part_path.display(), reused = stats.chunks_reused, "resuming pull");
    }
    ChunkPull {
        net,
        src,
        expected,
        writer,
        part_path,
        hashes,
        queue,
        opts,
        stats: &mut stats,
        done,
        progress: &mut progress,
        attempts: HashMap::new(),
        requests: FuturesUnordered::new(),
        writes: FuturesUnordered::new(),
        pacer: Pacer::new(opts.max_rate),
    }
    .run()
    .await?;
    let p = part.clone();
    tokio::task::spawn_blocking(move || finish(&p, size))
        .await
        .map_err(|e| PullError::Io(format!("finishing {} failed: {e}", part_path.display())))?
        .map_err(|e| io_error("finish", part_path, e))?;
    Ok(stats)
}

/// Refuses a file of `size` bytes (a peer's number) that the free space of the disk holding
/// `part_path` cannot take, counting what a `.part` there already holds, before anything is
/// allocated, requested or written for it.
fn check_room(part_path: &Path, size: u64) -> Result<(), PullError> {
    let dir = match part_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let free = crate::core::layout::free_space(dir)
        .map_err(|e| io_error("check the free space of", dir, e))?;
    let held = std::fs::symlink_metadata(part_path)
        .ok()
        .filter(|m| m.file_type().is_file())
        .map_or(0, |m| m.len());
    let need = size.saturating_sub(held);
    if need > free {
        return Err(PullError::NoRoom {
            path: part_path.to_path_buf(),
            need: size,
            free,
        });
    }
    Ok(())
}

/// Opens (or creates) the `.part`, keeping what it holds; never through a symlink.
fn open_part(part_path: &Path) -> Result<File, PullError> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW)
        .open(part_path)
        .map_err(|e| io_error("open", part_path, e))
}

/// Which chunks the `.part` already holds good (a pull resumes from them), reporting the
/// bytes checked.
async fn verify_part(
    part: &Arc<File>,
    part_path: &Path,
    expected: &FileInfo,
    hashes: &Arc<Vec<u8>>,
    progress: &mut impl FnMut(u64, u64),
) -> Result<Vec<bool>, PullError> {
    let (size, chunk_size) = (expected.file_size, expected.chunk_size);
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
        .map_err(|e| io_error("read", part_path, e))
}

/// The chunks still to fetch, and the bytes already there (counted as reused in `stats`).
fn missing_chunks(
    have: &[bool],
    expected: &FileInfo,
    stats: &mut PullStats,
) -> (VecDeque<u64>, u64) {
    let mut done: u64 = 0;
    let mut queue = VecDeque::new();
    for (i, good) in have.iter().enumerate() {
        if *good {
            done += chunk_len(expected.file_size, expected.chunk_size, i as u64) as u64;
            stats.chunks_reused += 1;
        } else {
            queue.push_back(i as u64);
        }
    }
    (queue, done)
}

/// Sizes the `.part` and sets up its writer.
async fn prepare_writer(
    part: &Arc<File>,
    part_path: &Path,
    expected: &FileInfo,
) -> Result<PartWriter, PullError> {
    let (size, chunk_size) = (expected.file_size, expected.chunk_size);
    let (part, path) = (part.clone(), part_path.to_path_buf());
    tokio::task::spawn_blocking(move || PartWriter::new(part, &path, size, chunk_size))
        .await
        .map_err(|e| PullError::Io(format!("preparing {} failed: {e}", part_path.display())))?
        .map_err(|e| io_error("reserve space for", part_path, e))
}

async fn fetch_manifest(
    net: &NetClient,
    src: RemoteFile,
    expected: &FileInfo,
    opts: &PullOptions,
    stats: &mut PullStats,
) -> Result<Vec<u8>, PullError> {
    let n = expected.chunk_count();
    let page = opts.manifest_page.clamp(1, MAX_MANIFEST_PAGE);
    // Grown as pages arrive: the peer's chunk count alone never sizes an allocation.
    let first_page = n.min(page as u64) as usize;
    let mut hashes = Vec::with_capacity(first_page * 32);
    let mut first = 0u64;
    while first < n {
        let count = (n - first).min(page as u64) as u32;
        stats.manifest_requests += 1;
        let resp = net
            .request(
                src.peer,
                Request::Manifest {
                    item_id: src.item_id,
                    role: src.role,
                    epoch: src.epoch,
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
        Response::Ended { .. } => "ended items",
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

/// The file a pull asks for, and the peer it asks.
#[derive(Clone, Copy, Debug)]
pub struct RemoteFile {
    pub peer: PeerId,
    pub item_id: ItemId,
    pub role: FileRole,
    pub epoch: Epoch,
}

/// The chunk stage of one pull: chunk requests in flight (paced), verified writes in flight,
/// and the chunks still to ask for.
struct ChunkPull<'a, P: FnMut(u64, u64)> {
    net: &'a NetClient,
    src: RemoteFile,
    expected: &'a FileInfo,
    writer: Arc<PartWriter>,
    part_path: &'a Path,
    hashes: Arc<Vec<u8>>,
    queue: VecDeque<u64>,
    opts: &'a PullOptions,
    stats: &'a mut PullStats,
    /// Verified bytes in the `.part`.
    done: u64,
    progress: &'a mut P,
    /// Failed verifications per chunk.
    attempts: HashMap<u64, u32>,
    requests: FuturesUnordered<ChunkFuture>,
    writes: FuturesUnordered<WriteFuture>,
    pacer: Pacer,
}

/// What one turn of the chunk stage got.
enum Step {
    /// The pacer allows the next request.
    Paced,
    Answered(u64, Result<Response, NetError>),
    Written(Result<(u64, usize, io::Result<bool>), tokio::task::JoinError>),
    Stalled,
}

impl<P: FnMut(u64, u64)> ChunkPull<'_, P> {
    async fn run(mut self) -> Result<(), PullError> {
        let max_writes = self.opts.writes_in_flight.max(1);
        let outcome = loop {
            let paced_until = self.send_requests();
            if self.requests.is_empty() && self.writes.is_empty() && paced_until.is_none() {
                break Ok(());
            }
            let pace_wait =
                tokio::time::sleep_until(paced_until.unwrap_or_else(tokio::time::Instant::now));
            let step = tokio::select! {
                _ = pace_wait, if paced_until.is_some() => Step::Paced,
                Some((index, resp)) = self.requests.next(), if !self.requests.is_empty() && self.writes.len() < max_writes => Step::Answered(index, resp),
                Some(joined) = self.writes.next(), if !self.writes.is_empty() => Step::Written(joined),
                else => Step::Stalled,
            };
            let handled = match step {
                Step::Paced => Ok(()),
                Step::Answered(index, resp) => self.on_answer(index, resp),
                Step::Written(joined) => self.on_written(joined),
                Step::Stalled => Err(PullError::Io(
                    "internal error: the pull stalled; try again".into(),
                )),
            };
            if let Err(e) = handled {
                break Err(e);
            }
        };
        if outcome.is_err() {
            // Let writes already started finish, so nothing touches the .part after we return.
            self.requests = FuturesUnordered::new();
            while self.writes.next().await.is_some() {}
        }
        outcome
    }

    /// Asks for queued chunks up to the in-flight limit; returns when the pacer allows the
    /// next one, if it held one back.
    fn send_requests(&mut self) -> Option<tokio::time::Instant> {
        let (size, chunk_size) = (self.expected.file_size, self.expected.chunk_size);
        while self.requests.len() < self.opts.in_flight.max(1) {
            let &index = self.queue.front()?;
            if let Some(at) = self.pacer.admit(chunk_len(size, chunk_size, index) as u64) {
                return Some(at);
            }
            self.queue.pop_front();
            self.stats.chunk_requests += 1;
            let net = self.net.clone();
            let RemoteFile {
                peer,
                item_id,
                role,
                epoch,
            } = self.src;
            self.requests.push(Box::pin(async move {
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
        None
    }

    /// A chunk arrived: verify and write it off the task.
    fn on_answer(&mut self, index: u64, resp: Result<Response, NetError>) -> Result<(), PullError> {
        let data = match resp {
            Ok(Response::Chunk { index: got, data }) if got == index => data,
            Ok(Response::Chunk { index: got, .. }) => {
                return Err(PullError::Protocol(format!(
                    "asked for chunk {index}, got chunk {got}"
                )));
            }
            Ok(Response::Error { code, message }) => return Err(refused(code, message)),
            Ok(other) => {
                return Err(PullError::Protocol(format!(
                    "expected a chunk, got {}",
                    kind(&other)
                )))
            }
            Err(e) => return Err(PullError::Net(e)),
        };
        let (writer, hashes) = (self.writer.clone(), self.hashes.clone());
        self.writes.push(tokio::task::spawn_blocking(move || {
            let len = data.len();
            let r = writer.write_verified(index, expected_hash(&hashes, index), &data);
            crate::net::chunk_pool::give(data);
            (index, len, r)
        }));
        Ok(())
    }

    /// A write ended: count it, or ask for a chunk that failed verification again.
    fn on_written(
        &mut self,
        joined: Result<(u64, usize, io::Result<bool>), tokio::task::JoinError>,
    ) -> Result<(), PullError> {
        let (index, len, r) = joined.map_err(|e| {
            PullError::Io(format!("writing {} failed: {e}", self.part_path.display()))
        })?;
        match r {
            Ok(true) => {
                self.done += len as u64;
                self.stats.chunks_fetched += 1;
                self.stats.bytes_fetched += len as u64;
                super::counters::received(len);
                (self.progress)(self.done, self.expected.file_size);
            }
            Ok(false) => {
                let a = self.attempts.entry(index).or_insert(0);
                *a += 1;
                tracing::warn!(peer = %self.src.peer, index, attempt = *a, "chunk failed verification");
                if *a > self.opts.retries_per_chunk {
                    return Err(PullError::Corrupt {
                        index,
                        attempts: *a,
                    });
                }
                self.queue.push_front(index);
            }
            Err(e) => return Err(io_error("write", self.part_path, e)),
        }
        Ok(())
    }
}

/// The `.part` path next to `dest` (`dest` with `.part` appended).
pub fn part_path_for(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}
