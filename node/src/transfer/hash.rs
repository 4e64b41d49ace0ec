//! One-pass hashing of a file: SHA-512, whole-file BLAKE3 and per-chunk BLAKE3 (the manifest).

use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use dmc_protocol::FileInfo;

use super::sha512::Sha512;

/// Size of the reads while hashing.
const READ_BUF: usize = 1 << 20;
/// Read buffers shared with the SHA-512 thread.
const BUFFERS: usize = 4;

/// What hashing a file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedFile {
    pub size: u64,
    /// SHA-512 of the whole file, lowercase hex.
    pub sha512: String,
    /// BLAKE3 of the whole file, lowercase hex.
    pub blake3: String,
    pub chunk_size: u32,
    /// BLAKE3 of `hashes`, lowercase hex.
    pub manifest_hash: String,
    /// 32-byte BLAKE3 hash of each chunk, concatenated.
    pub hashes: Vec<u8>,
    /// Modification time when hashed, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// The device and inode that were read: what a server of the file is pinned to.
    pub id: FileId,
}

/// Which file on this machine: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Opens `path` for reading without following a symbolic link in its last component (a link
/// there fails with `ELOOP`, "Too many levels of symbolic links"); non-blocking, so a FIFO put
/// in a file's place cannot hang the caller.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

impl HashedFile {
    /// The protocol's description of this file under `file_name`.
    pub fn file_info(&self, file_name: impl Into<String>) -> FileInfo {
        FileInfo {
            file_name: file_name.into(),
            file_size: self.size,
            sha512: self.sha512.clone(),
            blake3: self.blake3.clone(),
            chunk_size: self.chunk_size,
            manifest_hash: self.manifest_hash.clone(),
        }
    }
}

/// Modification time of `meta` in nanoseconds since the Unix epoch.
pub fn mtime_ns(meta: &Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// BLAKE3 of the concatenated chunk hashes, lowercase hex.
pub fn manifest_hash(hashes: &[u8]) -> String {
    blake3::hash(hashes).to_hex().to_string()
}

/// Hashes `path` in one read. `progress` gets the bytes hashed so far. Blocking: call it
/// from `spawn_blocking`. Fails if the file changes size or mtime while it is read.
pub fn hash_file(
    path: &Path,
    chunk_size: u32,
    progress: impl FnMut(u64),
) -> io::Result<HashedFile> {
    hash_open(File::open(path)?, path, chunk_size, progress)
}

/// Hashes the open `file` (found at `path`, named in errors) as [`hash_file`] does; the
/// result's [`FileId`] is the open file's.
pub fn hash_open(
    mut file: File,
    path: &Path,
    chunk_size: u32,
    mut progress: impl FnMut(u64),
) -> io::Result<HashedFile> {
    if chunk_size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "chunk size must not be zero",
        ));
    }
    let before = file.metadata()?;
    if !before.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    // SHA-512 runs on its own thread: it is the slowest of the three and the reads are shared.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = empty_tx.send(vec![0u8; READ_BUF]);
    }
    let (hashed, sha) = std::thread::scope(|scope| {
        let sha_thread = scope.spawn(move || {
            let mut sha = Sha512::default();
            for (buf, n) in full_rx {
                sha.update(&buf[..n]);
                let _ = empty_tx.send(buf);
            }
            sha.hex()
        });
        let hashed = hash_blake3(&mut file, chunk_size, &mut progress, &empty_rx, full_tx);
        let sha = sha_thread.join();
        (hashed, sha)
    });
    let (size, whole, hashes) = hashed?;
    let sha = sha.map_err(|_| io::Error::other("the SHA-512 thread failed"))?;
    let after = file.metadata()?;
    if after.len() != size || mtime_ns(&after) != mtime_ns(&before) || before.len() != size {
        return Err(io::Error::other(format!(
            "{} changed while it was being hashed; offer it again once it is complete",
            path.display()
        )));
    }
    Ok(HashedFile {
        size,
        sha512: sha,
        blake3: whole,
        chunk_size,
        manifest_hash: manifest_hash(&hashes),
        hashes,
        mtime_ns: mtime_ns(&before),
        id: FileId::of(&before),
    })
}

/// Reads `file` to its end, hashing with BLAKE3 (whole file and per chunk) and handing each
/// read to the SHA-512 thread. Returns the size, the whole-file BLAKE3 hex and the chunk hashes.
fn hash_blake3(
    file: &mut File,
    chunk_size: u32,
    progress: &mut impl FnMut(u64),
    empty: &std::sync::mpsc::Receiver<Vec<u8>>,
    full: std::sync::mpsc::SyncSender<(Vec<u8>, usize)>,
) -> io::Result<(u64, String, Vec<u8>)> {
    let mut whole = blake3::Hasher::new();
    let mut chunk = blake3::Hasher::new();
    let mut in_chunk: u64 = 0;
    let chunk_len = chunk_size as u64;
    let mut hashes = Vec::new();
    let mut size: u64 = 0;
    let lost = || io::Error::other("the SHA-512 thread stopped");
    loop {
        let mut buf = empty.recv().map_err(|_| lost())?;
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                full.send((buf, 0)).map_err(|_| lost())?;
                continue;
            }
            Err(e) => return Err(e),
        };
        let data = &buf[..n];
        whole.update(data);
        let mut rest = data;
        while !rest.is_empty() {
            let take = ((chunk_len - in_chunk) as usize).min(rest.len());
            chunk.update(&rest[..take]);
            in_chunk += take as u64;
            rest = &rest[take..];
            if in_chunk == chunk_len {
                hashes.extend_from_slice(chunk.finalize().as_bytes());
                chunk.reset();
                in_chunk = 0;
            }
        }
        full.send((buf, n)).map_err(|_| lost())?;
        size += n as u64;
        progress(size);
    }
    if in_chunk > 0 {
        hashes.extend_from_slice(chunk.finalize().as_bytes());
    }
    Ok((size, whole.finalize().to_hex().to_string(), hashes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const EMPTY_SHA512: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
    const EMPTY_BLAKE3: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
    const ABC_SHA512: &str = "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f";
    const ABC_BLAKE3: &str = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";

    #[test]
    fn empty_file_has_the_known_hashes_and_no_chunks() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let h = hash_file(f.path(), 1 << 20, |_| {}).unwrap();
        assert_eq!(h.size, 0);
        assert_eq!(h.sha512, EMPTY_SHA512);
        assert_eq!(h.blake3, EMPTY_BLAKE3);
        assert!(h.hashes.is_empty());
        assert_eq!(
            h.manifest_hash, EMPTY_BLAKE3,
            "manifest of no chunks hashes no bytes"
        );
        assert!(h.file_info("e").validate().is_ok());
    }

    #[test]
    fn abc_has_the_known_hashes() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"abc").unwrap();
        let h = hash_file(f.path(), 1 << 20, |_| {}).unwrap();
        assert_eq!(h.sha512, ABC_SHA512);
        assert_eq!(h.blake3, ABC_BLAKE3);
        assert_eq!(h.hashes, blake3::hash(b"abc").as_bytes().to_vec());
    }

    #[test]
    fn chunks_split_across_reads_match_direct_hashes() {
        // 3.5 chunks of 300 000 bytes: chunk borders fall inside the 1 MiB reads.
        let data: Vec<u8> = (0..1_050_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&data).unwrap();
        let mut last = 0;
        let h = hash_file(f.path(), 300_000, |n| last = n).unwrap();
        assert_eq!(last, data.len() as u64);
        let expected: Vec<u8> = data
            .chunks(300_000)
            .flat_map(|c| blake3::hash(c).as_bytes().to_vec())
            .collect();
        assert_eq!(h.hashes.len(), 4 * 32);
        assert_eq!(h.hashes, expected);
        assert_eq!(
            h.manifest_hash,
            blake3::hash(&expected).to_hex().to_string()
        );
        assert_eq!(
            h.sha512,
            hex::encode(<sha2::Sha512 as sha2::Digest>::digest(&data))
        );
        assert_eq!(h.blake3, blake3::hash(&data).to_hex().to_string());
        let info = h.file_info("clip.mp4");
        assert_eq!(info.chunk_count(), 4);
        assert!(info.validate().is_ok());
    }

    #[test]
    fn a_link_is_not_followed_when_asked() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("secret");
        std::fs::write(&target, b"secret").unwrap();
        let link = d.path().join("clip.mp4");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = open_nofollow(&link).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        let h = hash_open(open_nofollow(&target).unwrap(), &target, 1024, |_| {}).unwrap();
        assert_eq!(h.id, FileId::of(&std::fs::metadata(&target).unwrap()));
    }

    #[test]
    fn a_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let err = hash_file(d.path(), 1024, |_| {}).unwrap_err();
        assert!(
            err.to_string().contains("not a regular file")
                || err.kind() == io::ErrorKind::IsADirectory,
            "{err}"
        );
    }
}
