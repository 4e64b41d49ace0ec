//! The `.part` file of a pull: which of its chunks are already good, verified chunk writes
//! (bypassing the page cache where possible), and the final truncate and fsync. Blocking
//! functions.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use dmc_protocol::record::chunk_count;

/// Length of chunk `index` of a file of `size` bytes.
pub(crate) fn chunk_len(size: u64, chunk_size: u32, index: u64) -> usize {
    let offset = index * chunk_size as u64;
    size.saturating_sub(offset).min(chunk_size as u64) as usize
}

/// Expected hash of chunk `index` in a manifest.
pub(crate) fn expected_hash(hashes: &[u8], index: u64) -> &[u8] {
    let at = index as usize * 32;
    hashes.get(at..at + 32).unwrap_or(&[])
}

/// Marks each chunk already present in `part` whose bytes match the manifest.
pub(crate) fn verify_existing(
    part: &File,
    size: u64,
    chunk_size: u32,
    hashes: &[u8],
    mut progress: impl FnMut(u64),
) -> io::Result<Vec<bool>> {
    let n = chunk_count(size, chunk_size);
    let mut have = vec![false; n as usize];
    let part_len = part.metadata()?.len();
    let mut buf = vec![0u8; chunk_size as usize];
    let mut good: u64 = 0;
    for (i, slot) in have.iter_mut().enumerate() {
        let i = i as u64;
        let len = chunk_len(size, chunk_size, i);
        if i * chunk_size as u64 + len as u64 > part_len {
            break;
        }
        let data = &mut buf[..len];
        part.read_exact_at(data, i * chunk_size as u64)?;
        if blake3::hash(data).as_bytes() == expected_hash(hashes, i) {
            *slot = true;
            good += len as u64;
            progress(good);
        }
    }
    Ok(have)
}

/// Alignment of buffer, offset and length for writes that bypass the page cache.
const DIRECT_ALIGN: usize = 4096;

/// Bytes copied and hashed at a time when staging a chunk (stays in the CPU cache).
const STAGE_PIECE: usize = 64 << 10;

/// Writes verified chunks into a `.part`. Where the file system allows it (Linux, chunk size a
/// multiple of 4 KiB), whole chunks go through a second descriptor opened with `O_DIRECT`:
/// the data goes from an aligned staging buffer to the disk without the kernel copying it into
/// the page cache (a third of the puller's CPU time otherwise), and several such writes in
/// flight keep the disk busy while chunks keep arriving. Everything else (a short last chunk,
/// a file system without `O_DIRECT`) is written through the page cache. Shared by the writer
/// threads of a pull.
pub(crate) struct PartWriter {
    file: Arc<File>,
    direct: Option<File>,
    /// Cleared when a direct write is refused; the rest of the pull writes through the cache.
    direct_ok: AtomicBool,
    /// Staging buffers for direct writes (each `chunk_size + DIRECT_ALIGN` bytes); as many as
    /// writes were in flight at once.
    staging: Mutex<Vec<Vec<u8>>>,
    size: u64,
    chunk_size: u32,
}

impl PartWriter {
    /// Wraps the open `.part` at `path`, reserving its full size up front (so writes fill
    /// allocated space, and a full disk shows at once).
    pub(crate) fn new(
        file: Arc<File>,
        path: &Path,
        size: u64,
        chunk_size: u32,
    ) -> io::Result<Self> {
        reserve(&file, size)?;
        let direct = if (chunk_size as usize).is_multiple_of(DIRECT_ALIGN) {
            open_direct(path)
        } else {
            None
        };
        Ok(PartWriter {
            file,
            direct_ok: AtomicBool::new(direct.is_some()),
            direct,
            staging: Mutex::new(Vec::new()),
            size,
            chunk_size,
        })
    }

    /// Writes chunk `index` if `data` matches its manifest hash; says whether it did.
    pub(crate) fn write_verified(
        &self,
        index: u64,
        expected: &[u8],
        data: &[u8],
    ) -> io::Result<bool> {
        if data.len() != chunk_len(self.size, self.chunk_size, index) {
            return Ok(false);
        }
        let offset = index * self.chunk_size as u64;
        if let Some(direct) = self.direct.as_ref() {
            if data.len().is_multiple_of(DIRECT_ALIGN) && self.direct_ok.load(Ordering::Relaxed) {
                return self.write_direct(direct, offset, expected, data);
            }
        }
        if blake3::hash(data).as_bytes() != expected {
            return Ok(false);
        }
        self.file.write_all_at(data, offset)?;
        Ok(true)
    }

    fn write_direct(
        &self,
        direct: &File,
        offset: u64,
        expected: &[u8],
        data: &[u8],
    ) -> io::Result<bool> {
        let mut buf = self
            .staging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_else(|| vec![0u8; self.chunk_size as usize + DIRECT_ALIGN]);
        let result = self.stage_and_write(direct, &mut buf, offset, expected, data);
        self.staging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(buf);
        result
    }

    fn stage_and_write(
        &self,
        direct: &File,
        buf: &mut [u8],
        offset: u64,
        expected: &[u8],
        data: &[u8],
    ) -> io::Result<bool> {
        let start = buf.as_ptr().align_offset(DIRECT_ALIGN);
        let Some(stage) = buf.get_mut(start..start + data.len()) else {
            return Err(io::Error::other("staging buffer too small"));
        };
        // Copy and hash piece by piece, each piece hashed while still in the cache.
        let mut hasher = blake3::Hasher::new();
        for (to, from) in stage.chunks_mut(STAGE_PIECE).zip(data.chunks(STAGE_PIECE)) {
            to.copy_from_slice(from);
            hasher.update(to);
        }
        if hasher.finalize().as_bytes() != expected {
            return Ok(false);
        }
        match direct.write_all_at(stage, offset) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // The file system does not take these writes after all: use the page cache.
                tracing::debug!(error = %e, "direct write refused; writing through the page cache");
                self.direct_ok.store(false, Ordering::Relaxed);
                self.file.write_all_at(data, offset)?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }
}

/// Allocates `size` bytes for the file where the file system supports it.
fn reserve(file: &File, size: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(len) = libc::off_t::try_from(size) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        // SAFETY: fallocate only reads its integer arguments; the descriptor is open.
        if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::EINVAL) => Ok(()),
                _ => Err(e),
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, size);
    Ok(())
}

/// A write-only descriptor of `path` that bypasses the page cache, if the file system has one.
fn open_direct(path: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(f) => return Some(f),
            Err(e) => tracing::debug!(path = %path.display(), error = %e, "no direct writes"),
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
    None
}

/// Gives the file its exact size and flushes it to disk.
pub(crate) fn finish(part: &File, size: u64) -> io::Result<()> {
    part.set_len(size)?;
    part.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Writes every chunk of `data` through a `PartWriter` (the last one first, and one chunk
    /// once corrupted) and reads the `.part` back.
    fn round_trip(chunk_size: u32, data: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.part");
        let file = Arc::new(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .unwrap(),
        );
        let size = data.len() as u64;
        let w = PartWriter::new(file.clone(), &path, size, chunk_size).unwrap();
        let chunks: Vec<&[u8]> = data.chunks(chunk_size as usize).collect();
        let hashes: Vec<[u8; 32]> = chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect();
        let mut bad = chunks[0].to_vec();
        bad[0] ^= 1;
        assert!(!w.write_verified(0, &hashes[0], &bad).unwrap());
        assert!(!w.write_verified(0, &hashes[0], &chunks[0][1..]).unwrap());
        for i in (0..chunks.len()).rev() {
            assert!(w.write_verified(i as u64, &hashes[i], chunks[i]).unwrap());
        }
        finish(&file, size).unwrap();
        std::fs::read(&path).unwrap()
    }

    #[test]
    fn aligned_and_unaligned_chunk_sizes_write_the_same_bytes() {
        // 64 KiB chunks (direct writes where the file system has them) with a short last chunk,
        // and 5000-byte chunks (always through the page cache).
        let data = bytes(5 * (64 << 10) + 1234, 3);
        assert!(round_trip(64 << 10, &data) == data);
        let data = bytes(7 * 5000 + 17, 9);
        assert!(round_trip(5000, &data) == data);
    }
}
