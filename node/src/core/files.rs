//! Files dmc writes into a user's folders (deliveries, fetches): created new, never through a
//! symlink, copied with their SHA-512 computed on the way, and read without following a link.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::transfer::sha512::Sha512;

/// Creates `path` for writing only if nothing is there: `O_CREAT | O_EXCL | O_NOFOLLOW`, so
/// neither a file nor a symlink (even a dangling one) at `path` is ever written through.
pub fn create_new(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Copies `src` into the new file `dst` (see [`create_new`]) and fsyncs it; `dst` is removed
/// again if the copy fails. The SHA-512 (hex) of what was copied.
pub fn copy_new(src: &Path, dst: &Path) -> std::io::Result<String> {
    use std::io::Write;
    let mut from = open_regular(src)?;
    let mut to = create_new(dst)?;
    let copied = (|| {
        let mut hasher = Sha512::default();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            to.write_all(&buf[..n])?;
        }
        to.sync_all()?;
        Ok(hasher.hex())
    })();
    if copied.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    copied
}

/// Why a delivered result is no longer what was delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Gone {
    #[error("was deleted or moved")]
    Missing,
    #[error("is no longer a regular file")]
    NotAFile,
    #[error("was changed since it was delivered")]
    Changed,
}

/// Whether the delivered result at `path` is still there: a regular file (not a link) of the
/// delivered `size`. Only a stat: cheap enough for every re-offer. A change that keeps the
/// size is found by [`sha512_regular`] or [`copy_new`], which read the whole file.
pub fn result_present(path: &Path, size: u64) -> Result<(), Gone> {
    match std::fs::symlink_metadata(path) {
        Err(_) => Err(Gone::Missing),
        Ok(m) if !m.file_type().is_file() => Err(Gone::NotAFile),
        Ok(m) if m.len() != size => Err(Gone::Changed),
        Ok(_) => Ok(()),
    }
}

/// Opens `path` for reading only if it is a regular file itself, not a symlink to one.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(f)
}

/// The SHA-512 (hex) of the regular file at `path` (see [`open_regular`]).
pub fn sha512_regular(path: &Path) -> std::io::Result<String> {
    let mut f = open_regular(path)?;
    let mut hasher = Sha512::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_writes_or_reads_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let (target, link) = (dir.path().join("target"), dir.path().join("link"));
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_new(&link).is_err());
        let src = dir.path().join("src");
        std::fs::write(&src, b"data").unwrap();
        assert!(copy_new(&src, &link).is_err());
        assert!(!target.exists(), "written through the link");
        std::fs::write(&target, b"x").unwrap();
        assert!(sha512_regular(&link).is_err());
        let copy = dir.path().join("copy");
        let sha = copy_new(&src, &copy).unwrap();
        assert_eq!(sha, sha512_regular(&src).unwrap());
        assert_eq!(std::fs::read(&copy).unwrap(), b"data");
        assert!(
            copy_new(&src, &copy).is_err(),
            "an existing file is never replaced"
        );
    }

    #[test]
    fn a_result_is_present_only_as_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.webp");
        assert_eq!(result_present(&f, 4), Err(Gone::Missing));
        std::fs::write(&f, b"data").unwrap();
        assert_eq!(result_present(&f, 4), Ok(()));
        assert_eq!(result_present(&f, 5), Err(Gone::Changed));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(result_present(&link, 4), Err(Gone::NotAFile));
    }
}
