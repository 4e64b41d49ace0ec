//! A full scan of a watched folder: every regular, non-empty file that may be offered, with
//! the key (device, inode, size, mtime) that identifies this version of it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use dmc_protocol::MediaType;

use super::filter::{ignored_name, wanted, Exclusions};
use crate::store::FileKey;

/// Most files one scan returns; the rest are found by later scans once these are offered.
pub const MAX_SCAN_FILES: usize = 100_000;
/// Deepest folder level a recursive scan enters.
pub const MAX_DEPTH: usize = 32;

/// The key of a regular, non-empty file; `None` for anything else (or when it is gone).
pub fn file_key(path: &Path) -> Option<FileKey> {
    // Not following symlinks: a link could lead out of the watched folder.
    let meta = std::fs::symlink_metadata(path).ok()?;
    if !meta.is_file() || meta.len() == 0 {
        return None;
    }
    Some(FileKey {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.len(),
        mtime_ns: crate::transfer::mtime_ns(&meta),
    })
}

/// Why a settled file could not be opened as the version that settled.
#[derive(Debug, thiserror::Error)]
pub enum SettledOpenError {
    #[error("it is now a symbolic link, which watched folders never follow")]
    Link,
    #[error("it was replaced or changed since it settled")]
    Changed,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Opens the version of `path` that `key` names, without following a link: what is hashed
/// and offered is that very file, even if the path now names a link to another one.
pub fn open_settled(path: &Path, key: FileKey) -> Result<std::fs::File, SettledOpenError> {
    let file = crate::transfer::open_nofollow(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => SettledOpenError::Link,
        _ => SettledOpenError::Io(e),
    })?;
    let meta = file.metadata()?;
    let now = FileKey {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.len(),
        mtime_ns: crate::transfer::mtime_ns(&meta),
    };
    if !meta.is_file() || now != key {
        return Err(SettledOpenError::Changed);
    }
    Ok(file)
}

/// Scans `dir` (and with `recursive` its sub-folders, not entering hidden or excluded ones nor
/// following symlinks) for files that may be offered.
pub fn scan(
    dir: &Path,
    recursive: bool,
    media: &[MediaType],
    excl: &Exclusions,
) -> std::io::Result<Vec<(PathBuf, FileKey)>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    let mut first = true;
    while let Some((d, depth)) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            // The watched folder itself must be readable; a sub-folder may vanish meanwhile.
            Err(e) if first => return Err(e),
            Err(e) => {
                tracing::debug!("cannot read {}: {e}", d.display());
                continue;
            }
        };
        first = false;
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                let hidden = entry.file_name().to_str().is_none_or(ignored_name);
                if recursive && depth < MAX_DEPTH && !hidden && !excl.excludes(&path) {
                    stack.push((path, depth + 1));
                }
            } else if ft.is_file() && wanted(&path, media, excl) {
                if let Some(key) = file_key(&path) {
                    out.push((path, key));
                    if out.len() >= MAX_SCAN_FILES {
                        return Ok(out);
                    }
                }
            }
        }
    }
    Ok(out)
}
