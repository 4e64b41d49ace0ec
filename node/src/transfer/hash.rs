//! One-pass hashing of a file: SHA-512, whole-file BLAKE3 and per-chunk BLAKE3 (the manifest),
//! or the two BLAKE3s alone for an offer whose SHA-512 follows (`sha512_pass`).

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
    /// SHA-512 of the whole file, lowercase hex; `None` when hashed without it
    /// ([`Hashes::WithoutSha512`]).
    pub sha512: Option<String>,
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

/// Which hashes one read of a file makes. The slowest runs on a thread of its own beside the
/// reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hashes {
    /// SHA-512 (on its own thread), whole-file BLAKE3 and the chunk hashes.
    All,
    /// Whole-file BLAKE3 (on its own thread) and the chunk hashes: at BLAKE3's speed, about
    /// four times SHA-512's here. For an offer whose SHA-512 follows.
    WithoutSha512,
}

impl HashedFile {
    /// The protocol's description of this file under `file_name`; its `sha512` is empty when
    /// it was hashed without it (the offer's checksum then follows).
    pub fn file_info(&self, file_name: impl Into<String>) -> FileInfo {
        FileInfo {
            file_name: file_name.into(),
            file_size: self.size,
            sha512: self.sha512.clone().unwrap_or_default(),
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

/// Hashes `path` in one read ([`Hashes::All`]). `progress` gets the bytes hashed so far.
/// Blocking: call it from `spawn_blocking`. Fails if the file changes size or mtime while it
/// is read.
pub fn hash_file(
    path: &Path,
    chunk_size: u32,
    progress: impl FnMut(u64),
) -> io::Result<HashedFile> {
    hash_open(File::open(path)?, path, chunk_size, Hashes::All, progress)
}

/// Hashes the open `file` (found at `path`, named in errors) as [`hash_file`] does, making
/// `which` hashes; the result's [`FileId`] is the open file's.
pub fn hash_open(
    mut file: File,
    path: &Path,
    chunk_size: u32,
    which: Hashes,
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
    // The slowest hash runs on its own thread, sharing the reads.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = empty_tx.send(vec![0u8; READ_BUF]);
    }
    let mut side = SideHash::new(which);
    let mut main_whole = (which == Hashes::All).then(blake3::Hasher::new);
    let (hashed, side) = std::thread::scope(|scope| {
        let side_thread = scope.spawn(move || {
            for (buf, n) in full_rx {
                side.update(&buf[..n]);
                let _ = empty_tx.send(buf);
            }
            side
        });
        let reads = Reads {
            empty: &empty_rx,
            full: full_tx,
        };
        let hashed = hash_chunks(
            &mut file,
            chunk_size,
            &mut progress,
            main_whole.as_mut(),
            reads,
        );
        (hashed, side_thread.join())
    });
    let (size, hashes) = hashed?;
    let side = side.map_err(|_| io::Error::other("the hashing thread failed"))?;
    let (sha, whole) = match side {
        // Both follow `which`: with a SHA-512 beside, the whole BLAKE3 was made here.
        SideHash::Sha512(sha) => (Some(sha.hex()), main_whole.unwrap_or_default()),
        SideHash::Blake3(whole) => (None, *whole),
    };
    let whole = whole.finalize().to_hex().to_string();
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

/// The SHA-512 of the file at `path` for an offer whose checksum follows: the file must still
/// be the one hashed before, `was` (its device and inode when known, its size and mtime),
/// before and after this read. Blocking: call it from `spawn_blocking`.
pub fn sha512_unchanged(path: &Path, was: &Unchanged) -> io::Result<String> {
    let mut file = File::open(path)?;
    let changed = || {
        io::Error::other(format!(
            "{} changed after it was offered, before its SHA-512 was read",
            path.display()
        ))
    };
    if !was.holds(&file.metadata()?) {
        return Err(changed());
    }
    let mut sha = Sha512::default();
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => sha.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    if !was.holds(&file.metadata()?) {
        return Err(changed());
    }
    Ok(sha.hex())
}

/// What a file was when it was hashed: the SHA-512 pass reads it only while this holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unchanged {
    pub id: Option<FileId>,
    pub size: u64,
    pub mtime_ns: i64,
}

impl Unchanged {
    fn holds(&self, meta: &Metadata) -> bool {
        self.id.is_none_or(|id| id == FileId::of(meta))
            && meta.len() == self.size
            && mtime_ns(meta) == self.mtime_ns
    }
}

/// The hash made on the thread beside the reads.
enum SideHash {
    Sha512(Box<Sha512>),
    Blake3(Box<blake3::Hasher>),
}

impl SideHash {
    fn new(which: Hashes) -> Self {
        match which {
            Hashes::All => SideHash::Sha512(Box::default()),
            Hashes::WithoutSha512 => SideHash::Blake3(Box::default()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            SideHash::Sha512(h) => h.update(bytes),
            SideHash::Blake3(h) => {
                h.update(bytes);
            }
        }
    }
}

/// The read buffers: empty ones to fill, and where filled ones go to the side thread.
struct Reads<'a> {
    empty: &'a std::sync::mpsc::Receiver<Vec<u8>>,
    full: std::sync::mpsc::SyncSender<(Vec<u8>, usize)>,
}

/// Reads `file` to its end, hashing each chunk with BLAKE3 (and the whole file into `whole`,
/// when given) and handing each read to the side thread. Returns the size and the chunk
/// hashes.
fn hash_chunks(
    file: &mut File,
    chunk_size: u32,
    progress: &mut impl FnMut(u64),
    mut whole: Option<&mut blake3::Hasher>,
    Reads { empty, full }: Reads<'_>,
) -> io::Result<(u64, Vec<u8>)> {
    let mut chunk = blake3::Hasher::new();
    let mut in_chunk: u64 = 0;
    let chunk_len = chunk_size as u64;
    let mut hashes = Vec::new();
    let mut size: u64 = 0;
    let lost = || io::Error::other("the hashing thread stopped");
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
        if let Some(whole) = whole.as_deref_mut() {
            whole.update(data);
        }
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
    Ok((size, hashes))
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
        assert_eq!(h.sha512.as_deref(), Some(EMPTY_SHA512));
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
        assert_eq!(h.sha512.as_deref(), Some(ABC_SHA512));
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
        let sha512 = hex::encode(<sha2::Sha512 as sha2::Digest>::digest(&data));
        assert_eq!(h.sha512.as_deref(), Some(sha512.as_str()));
        assert_eq!(h.blake3, blake3::hash(&data).to_hex().to_string());
        let info = h.file_info("clip.mp4");
        assert_eq!(info.chunk_count(), 4);
        assert!(info.validate().is_ok());

        // Without the SHA-512: the same BLAKE3s; the SHA-512 pass reads what the offer had.
        let open = File::open(f.path()).unwrap();
        let without = hash_open(open, f.path(), 300_000, Hashes::WithoutSha512, |_| {}).unwrap();
        assert_eq!(without.sha512, None);
        assert_eq!(
            (&without.blake3, &without.hashes, &without.manifest_hash),
            (&h.blake3, &h.hashes, &h.manifest_hash)
        );
        assert_eq!(without.file_info("clip.mp4").sha512, "");
        let was = Unchanged {
            id: Some(without.id),
            size: without.size,
            mtime_ns: without.mtime_ns,
        };
        assert_eq!(sha512_unchanged(f.path(), &was).unwrap(), sha512);
        let mut grown = std::fs::OpenOptions::new()
            .append(true)
            .open(f.path())
            .unwrap();
        grown.write_all(b"more").unwrap();
        let err = sha512_unchanged(f.path(), &was).unwrap_err();
        assert!(
            err.to_string().contains("changed after it was offered"),
            "{err}"
        );
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
        let h = hash_open(
            open_nofollow(&target).unwrap(),
            &target,
            1024,
            Hashes::All,
            |_| {},
        )
        .unwrap();
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
