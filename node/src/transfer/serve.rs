//! Answering manifest and chunk requests for a file the core has already authorised. Blocking
//! functions (they stat and read the file): call them from `spawn_blocking`.
//!
//! Only the bytes that were offered are sent: a file pinned to the inode that was hashed is
//! opened without following a link and must still be that inode; an unpinned one (loaded after
//! a restart, its inode unknown) has each chunk read checked against its hash before it leaves.
//! Either way a file swapped for a link to another file, even of the same size and mtime, is
//! refused with `source_changed`, and the hot path of a pinned file hashes nothing.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dmc_protocol::record::chunk_count;
use dmc_protocol::wire::{ErrorCode, Response, MAX_MANIFEST_PAGE};

use super::hash::{mtime_ns, open_nofollow, FileId, HashedFile};

/// A file offered to peers, as it was when hashed.
#[derive(Clone, Debug)]
pub struct ServedFile {
    pub path: PathBuf,
    pub file_size: u64,
    pub mtime_ns: i64,
    pub chunk_size: u32,
    /// 32-byte BLAKE3 hash of each chunk, concatenated.
    pub hashes: Arc<Vec<u8>>,
    /// The device and inode that were hashed, when known: only that file is served.
    pin: Option<FileId>,
    /// The open file, shared by clones; opened on the first chunk read.
    open: Arc<Mutex<Option<Arc<File>>>>,
}

impl ServedFile {
    pub fn new(
        path: PathBuf,
        file_size: u64,
        mtime_ns: i64,
        chunk_size: u32,
        hashes: Arc<Vec<u8>>,
    ) -> Self {
        ServedFile {
            path,
            file_size,
            mtime_ns,
            chunk_size,
            hashes,
            pin: None,
            open: Arc::default(),
        }
    }

    /// Serves only the file with this device and inode (`None`: whichever `path` names, as
    /// long as its chunks match their hashes).
    pub fn pinned_to(mut self, pin: Option<FileId>) -> Self {
        self.pin = pin;
        self
    }

    /// Serves `path` as `hashed` describes it, pinned to the inode that was hashed.
    pub fn from_hashed(path: PathBuf, hashed: &HashedFile) -> Self {
        Self::new(
            path,
            hashed.size,
            hashed.mtime_ns,
            hashed.chunk_size,
            Arc::new(hashed.hashes.clone()),
        )
        .pinned_to(Some(hashed.id))
    }

    /// What this file was when it was hashed: a later read of it must find it so.
    pub fn unchanged(&self) -> super::Unchanged {
        super::Unchanged {
            id: self.pin,
            size: self.file_size,
            mtime_ns: self.mtime_ns,
        }
    }

    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.file_size, self.chunk_size)
    }

    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "the file".into())
    }

    /// Whether the file is still the one that was hashed (same size, mtime and inode); the
    /// error says what changed. For a node that reads its own source without serving it.
    pub fn check_unchanged(&self) -> Result<(), String> {
        match self.checked_file() {
            Ok(_) => Ok(()),
            Err(Response::Error { message, .. }) => Err(message),
            Err(_) => Err(format!("{} cannot be checked", self.name())),
        }
    }

    /// The open file, checked to be the one at `path` with the recorded size and mtime.
    fn checked_file(&self) -> Result<Arc<File>, Response> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(error(
                    ErrorCode::SourceChanged,
                    format!("{} no longer exists", self.name()),
                ))
            }
            Err(e) => {
                return Err(error(
                    ErrorCode::Unavailable,
                    format!("cannot read {}: {e}", self.name()),
                ))
            }
        };
        if meta.len() != self.file_size || mtime_ns(&meta) != self.mtime_ns {
            return Err(self.changed());
        }
        let mut slot = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = slot.as_ref() {
            // Same inode as the path now names? Otherwise the file was replaced.
            match f.metadata() {
                Ok(m) if m.ino() == meta.ino() && m.dev() == meta.dev() => return Ok(f.clone()),
                _ => return Err(self.changed()),
            }
        }
        let f = self.open_file()?;
        let f = Arc::new(f);
        *slot = Some(f.clone());
        Ok(f)
    }

    /// Opens `path`: a pinned file without following a link, and only if it is the inode
    /// that was hashed.
    fn open_file(&self) -> Result<File, Response> {
        let opened = match self.pin {
            Some(_) => open_nofollow(&self.path),
            None => File::open(&self.path),
        };
        let f = opened.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => error(
                ErrorCode::SourceChanged,
                format!("{} no longer exists", self.name()),
            ),
            _ if e.raw_os_error() == Some(libc::ELOOP) => self.changed(),
            _ => error(
                ErrorCode::Unavailable,
                format!("cannot open {}: {e}", self.name()),
            ),
        })?;
        if let Some(pin) = self.pin {
            match f.metadata() {
                Ok(m) if FileId::of(&m) == pin && m.is_file() => {}
                _ => return Err(self.changed()),
            }
        }
        Ok(f)
    }

    /// Whether `data` is chunk `index` as it was hashed.
    fn is_chunk(&self, index: u64, data: &[u8]) -> bool {
        let at = (index as usize).saturating_mul(32);
        self.hashes.get(at..at + 32) == Some(blake3::hash(data).as_bytes().as_slice())
    }

    fn changed(&self) -> Response {
        error(
            ErrorCode::SourceChanged,
            format!("{} changed since it was offered", self.name()),
        )
    }
}

fn error(code: ErrorCode, message: String) -> Response {
    Response::Error { code, message }
}

/// Hashes `first .. first+count` of the manifest (fewer at its end, at most one page).
pub fn manifest_page(file: &ServedFile, first: u64, count: u32) -> Response {
    let n = file.chunk_count();
    if file.hashes.len() as u64 != n * 32 {
        return error(
            ErrorCode::Unavailable,
            format!("the manifest of {} is not ready", file.name()),
        );
    }
    if first > n || (first == n && n > 0) {
        return error(
            ErrorCode::BadRequest,
            format!("manifest page starts at {first}, past the last of {n} chunks"),
        );
    }
    let end = first
        .saturating_add(count.min(MAX_MANIFEST_PAGE) as u64)
        .min(n);
    let hashes = file.hashes[(first * 32) as usize..(end * 32) as usize].to_vec();
    Response::Manifest {
        file_size: file.file_size,
        chunk_size: file.chunk_size,
        first,
        hashes,
    }
}

/// Chunk `index`, read from the file after checking it is still the one offered.
pub fn read_chunk(file: &ServedFile, index: u64) -> Response {
    if index >= file.chunk_count() {
        return error(
            ErrorCode::BadRequest,
            format!(
                "chunk {index} is past the last of {} chunks",
                file.chunk_count()
            ),
        );
    }
    let f = match file.checked_file() {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let offset = index * file.chunk_size as u64;
    let len = (file.file_size - offset).min(file.chunk_size as u64) as usize;
    let mut data = crate::net::chunk_pool::take(len);
    match f.read_exact_at(&mut data, offset) {
        // Never a byte that was not offered: without a pin, another file in its place is
        // caught here (a pinned file was checked to be the inode hashed when it was opened).
        Ok(()) if file.pin.is_none() && !file.is_chunk(index, &data) => file.changed(),
        Ok(()) => {
            super::counters::sent(len);
            Response::Chunk { index, data }
        }
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => file.changed(),
        Err(e) => error(
            ErrorCode::Unavailable,
            format!("cannot read {}: {e}", file.name()),
        ),
    }
}
