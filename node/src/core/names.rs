//! File names from peers made safe, and output paths that never overwrite an existing file.

use std::path::{Path, PathBuf};

/// Longest name dmc writes, in bytes.
const MAX_NAME: usize = 200;

/// Reduces a name received from a peer to a safe base name: no directory part, no `..`,
/// no control characters, bounded length; never empty.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = base.chars().filter(|c| !c.is_control()).collect();
    out = out.trim().trim_start_matches('.').to_string();
    if out.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        // Keep the extension when there is a short one.
        let ext = Path::new(&out)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 10)
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let mut stem_cut = cut.saturating_sub(ext.len());
        while !out.is_char_boundary(stem_cut) {
            stem_cut -= 1;
        }
        out = format!("{}{ext}", &out[..stem_cut]);
    }
    if out.is_empty() {
        "unnamed".into()
    } else {
        out
    }
}

/// Whether `path` names anything at all: a file, a folder, or a symlink, even one that points
/// nowhere (never followed). Only "not found" counts as free; a path that cannot be checked
/// counts as free too, and creating it then fails with its own error.
pub fn is_taken(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// `dir/name`, or `dir/stem (1).ext`, `dir/stem (2).ext`, … : the first that is not taken
/// (see [`is_taken`]: a dangling symlink is taken).
pub fn unique_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !is_taken(&first) {
        return first;
    }
    let p = Path::new(name);
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    let ext = p.extension().and_then(|e| e.to_str());
    for n in 1.. {
        let candidate = match ext {
            Some(e) => format!("{stem} ({n}).{e}"),
            None => format!("{stem} ({n})"),
        };
        let path = dir.join(candidate);
        if !is_taken(&path) {
            return path;
        }
    }
    first
}

/// Renames `from` to `to` only if `to` does not exist (Linux `renameat2(RENAME_NOREPLACE)`).
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let f = CString::new(from.as_os_str().as_bytes())?;
    let t = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe_base_names() {
        assert_eq!(safe_file_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_file_name("a/b\\c.mkv"), "c.mkv");
        assert_eq!(safe_file_name(".."), "unnamed");
        assert_eq!(safe_file_name("bad\nname\u{7}.mkv"), "badname.mkv");
        assert_eq!(safe_file_name(".hidden.mkv"), "hidden.mkv");
        let long = format!("{}.mkv", "x".repeat(500));
        let s = safe_file_name(&long);
        assert!(s.len() <= 200 && s.ends_with(".mkv"), "{s}");
    }

    #[test]
    fn unique_path_never_reuses_a_name() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            unique_path(dir.path(), "clip.mkv"),
            dir.path().join("clip.mkv")
        );
        std::fs::write(dir.path().join("clip.mkv"), b"x").unwrap();
        assert_eq!(
            unique_path(dir.path(), "clip.mkv"),
            dir.path().join("clip (1).mkv")
        );
        std::fs::write(dir.path().join("clip (1).mkv"), b"x").unwrap();
        assert_eq!(
            unique_path(dir.path(), "clip.mkv"),
            dir.path().join("clip (2).mkv")
        );
    }

    #[test]
    fn a_dangling_symlink_takes_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("clip.mkv"))
            .unwrap();
        assert_eq!(
            unique_path(dir.path(), "clip.mkv"),
            dir.path().join("clip (1).mkv")
        );
    }

    #[test]
    fn rename_noreplace_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"old").unwrap();
        assert!(rename_noreplace(&a, &b).is_err());
        assert_eq!(std::fs::read(&b).unwrap(), b"old");
    }
}
