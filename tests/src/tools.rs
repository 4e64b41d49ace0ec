//! Stand-in tools for a node's PATH (`NodeOpts::path_prefix`): shell scripts that wrap the
//! real ffmpeg or ffprobe to make a converter lie or take its time.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The real `program` on this PATH.
pub fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

/// Writes an executable `/bin/sh` script `name` with `body` into `dir`.
pub fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
