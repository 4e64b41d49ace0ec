//! Writing the dashboard's secrets into the data dir: a new file of the given mode, written
//! as `NAME.part`, fsynced, moved into place, the folder fsynced.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Whether an existing file of that name may be replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    Replace,
    /// Keep it: the write fails with `AlreadyExists`.
    Keep,
}

/// Writes `bytes` to `dir/name` with `mode` (e.g. 0o600), never following a symlink.
pub fn write(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
    existing: Existing,
) -> io::Result<()> {
    let path = dir.join(name);
    let part = dir.join(format!("{name}.part"));
    let _ = fs::remove_file(&part);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&part)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    match existing {
        Existing::Replace => fs::rename(&part, &path)?,
        Existing::Keep => {
            // A hard link fails when the name is taken, where a rename would replace it.
            let linked = fs::hard_link(&part, &path);
            let _ = fs::remove_file(&part);
            linked?;
        }
    }
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_written_file_has_its_mode_and_kept_files_are_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a", b"one", 0o600, Existing::Keep).unwrap();
        let mode = fs::metadata(dir.path().join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = write(dir.path(), "a", b"two", 0o600, Existing::Keep).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"one");
        assert!(!dir.path().join("a.part").exists());
        write(dir.path(), "a", b"two", 0o600, Existing::Replace).unwrap();
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"two");
    }
}
