//! `after_delivery`: once a watched file's result is delivered, keep, move or delete the
//! source, only if it is still the very file that was offered.

use std::path::{Path, PathBuf};

use dmc_protocol::{ItemId, Phase};
use tokio::sync::broadcast::error::RecvError;
use tracing::{info, warn};

use super::scan::file_key;
use crate::config::AfterDelivery;
use crate::core::{unique_path, CoreHandle, EndedReceiver};
use crate::store::{Store, WatchedRow};

/// Why a source was left where it was.
#[derive(Debug, thiserror::Error)]
pub enum AfterError {
    #[error("{0} changed or is gone since it was offered: left as it is")]
    Changed(PathBuf),
    #[error("cannot move {from} into {dir}: {source}; move it by hand")]
    Move {
        from: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot delete {path}: {source}; delete it by hand")]
    Delete {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Carries out `row.after` on its source (blocking). Returns where the source went (`None`
/// for kept or deleted).
pub fn apply(row: &WatchedRow) -> Result<Option<PathBuf>, AfterError> {
    let path = PathBuf::from(&row.path);
    let action = AfterDelivery::from_stored(&row.after);
    if action == AfterDelivery::Keep {
        return Ok(None);
    }
    if file_key(&path) != Some(row.key) {
        return Err(AfterError::Changed(path));
    }
    match action {
        AfterDelivery::Keep => Ok(None),
        AfterDelivery::Delete => std::fs::remove_file(&path)
            .map(|()| None)
            .map_err(|source| AfterError::Delete { path, source }),
        AfterDelivery::Move(dir) => {
            move_into(&path, &dir)
                .map(Some)
                .map_err(|source| AfterError::Move {
                    from: path,
                    dir,
                    source,
                })
        }
    }
}

/// Moves `from` into `dir` (created if needed) under its own name, or ` (1)`, ` (2)`, … when
/// that is taken; never overwrites. Across file systems the file is copied, fsynced, then
/// the original removed.
pub fn move_into(from: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = from
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("unnamed")
        .to_string();
    for _ in 0..1000 {
        let target = unique_path(dir, &name);
        // A hard link never replaces an existing file; then the old name goes.
        match std::fs::hard_link(from, &target) {
            Ok(()) => {
                std::fs::remove_file(from)?;
                return Ok(target);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                let part = crate::core::layout::move_part(dir);
                std::fs::copy(from, &part)?;
                std::fs::File::open(&part)?.sync_all()?;
                let linked = std::fs::hard_link(&part, &target);
                let _ = std::fs::remove_file(&part);
                match linked {
                    Ok(()) => {
                        std::fs::remove_file(from)?;
                        return Ok(target);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free name found in the folder"))
}

/// After `item` was delivered: carries out its watch entry's `after_delivery`, once. Does
/// nothing for items that did not come from a watched folder.
pub async fn after_delivered(store: &Store, item: ItemId) {
    let row = match store.watched_by_item(item).await {
        Ok(Some(row)) if !row.after_done => row,
        Ok(_) => return,
        Err(e) => {
            warn!(item = %item, "cannot look up the watched source: {e}");
            return;
        }
    };
    let r = row.clone();
    let outcome = tokio::task::spawn_blocking(move || apply(&r)).await;
    match outcome {
        Ok(Ok(Some(to))) => {
            info!(item = %item, "moved the watched source {} to {}", row.path, to.display())
        }
        Ok(Ok(None)) if row.after == "delete" => {
            info!(item = %item, "deleted the watched source {}", row.path)
        }
        Ok(Ok(None)) => {}
        Ok(Err(e)) => warn!(item = %item, "after_delivery: {e}"),
        Err(e) => warn!(item = %item, "after_delivery: {e}"),
    }
    // Done either way: a source that changed or could not be moved is left to the user.
    if let Err(e) = store.watched_after_done(item).await {
        warn!(item = %item, "cannot record after_delivery: {e}");
    }
}

/// Carries out the `after_delivery` of each item delivered on `ended` (the core's channel of
/// ended items), until the core stops. Each runs in its own task, so a slow move does not hold
/// up the next. After a lag (items missed), the missed ones are found in the store as at start.
pub fn follow_deliveries(store: Store, core: CoreHandle, mut ended: EndedReceiver) {
    tokio::spawn(async move {
        loop {
            match ended.recv().await {
                Ok(e) if e.item.phase == Phase::Delivered => {
                    let (store, item) = (store.clone(), e.item.item_id);
                    tokio::spawn(async move { after_delivered(&store, item).await });
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    warn!("after_delivery fell behind by {missed} ended item(s): catching up");
                    catch_up(&store, &core).await;
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// At start: carries out the `after_delivery` of items delivered while a previous run had not
/// got to it yet, and closes those of items that ended otherwise.
pub async fn catch_up(store: &Store, core: &CoreHandle) {
    let rows = match store.watched_pending_after().await {
        Ok(r) => r,
        Err(e) => {
            warn!("cannot list watched sources: {e}");
            return;
        }
    };
    for row in rows {
        let Some(item) = row.item_id else { continue };
        match core.status(item).await.map(|v| v.phase) {
            Ok(Phase::Delivered) => after_delivered(store, item).await,
            Ok(Phase::Failed | Phase::Cancelled) => {
                let _ = store.watched_after_done(item).await;
            }
            _ => {}
        }
    }
}
