//! Durable names for the segment store: a file or folder is fsynced before it gets its final
//! name, and its folder after, so a name that survives a crash names complete data.

use std::path::{Path, PathBuf};

use crate::ffmpeg::error::FfmpegError;

/// fsyncs `path` (a file or a folder).
fn sync_path(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

/// fsyncs the files of `dir` listed in `files`, then `dir`, then renames `dir`'s entry `from`
/// to `to` (both in `parent`) and fsyncs `parent`. Runs off the async threads.
pub(crate) async fn sync_and_rename(
    files: Vec<PathBuf>,
    from: PathBuf,
    to: PathBuf,
) -> Result<(), FfmpegError> {
    let what = format!("keep {} as {}", from.display(), to.display());
    let done = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        for f in &files {
            sync_path(f)?;
        }
        sync_path(&from)?;
        std::fs::rename(&from, &to)?;
        match to.parent() {
            Some(parent) => sync_path(parent),
            None => Ok(()),
        }
    })
    .await
    .map_err(|e| FfmpegError::io(what.clone(), std::io::Error::other(e.to_string())))?;
    done.map_err(|e| FfmpegError::io(what, e))
}
