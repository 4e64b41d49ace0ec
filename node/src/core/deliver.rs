//! The origin's side of a finished item: fetch the result into the output folder, verify it,
//! and name it without overwriting anything. What every delivery shares comes in a
//! [`DeliverEnv`] built once when the core starts.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, FileInfo, ItemId, NodeId};
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::files::{copy_new, create_new, sha512_regular};
use super::layout::delivery_part;
use super::msg::Internal;
use super::names::{rename_noreplace, safe_file_name, sync_dir, unique_path};
use crate::net::NetClient;
use crate::store::Store;
use crate::transfer;

/// How many names a delivery tries for its `.part`, and for the result when others take the
/// free name it found first, before it gives up (and is tried again later).
const MAX_NAME_TRIES: u32 = 64;

/// What every delivery of this node needs: built once at start.
pub(crate) struct DeliverEnv {
    pub(crate) output_dir: PathBuf,
    pub(crate) pull_options: transfer::PullOptions,
    pub(crate) net: NetClient,
    pub(crate) store: Store,
    /// Where deliveries report progress and how they ended.
    pub(crate) internal: mpsc::Sender<Internal>,
}

/// One delivery: the result of an item's attempt `epoch`, made by `converter`.
pub(crate) struct Delivery {
    pub(crate) env: Arc<DeliverEnv>,
    pub(crate) item_id: ItemId,
    pub(crate) epoch: Epoch,
    pub(crate) converter: NodeId,
    pub(crate) result: FileInfo,
    /// The result on this node, when this node converted it.
    pub(crate) local_result: Option<PathBuf>,
}

impl Delivery {
    /// Delivers and reports how it went.
    pub(crate) async fn run(self) {
        let outcome = self.work().await;
        let _ = self
            .env
            .internal
            .send(Internal::DeliverDone {
                item_id: self.item_id,
                epoch: self.epoch,
                outcome,
            })
            .await;
    }

    /// The output path and SHA-512, or why it must be tried again.
    async fn work(&self) -> Result<(String, String), String> {
        if let Some(path) = self.delivered_before().await {
            return Ok((path, self.result.sha512.clone()));
        }
        let output_dir = &self.env.output_dir;
        tokio::fs::create_dir_all(output_dir)
            .await
            .map_err(|e| format!("cannot create output dir {}: {e}", output_dir.display()))?;
        let part = blocking(choose_part(output_dir.clone(), self.item_id, self.epoch)).await?;
        match &self.local_result {
            Some(src) => copy_synced(src, &part).await?,
            None => self.pull_result(&part).await?,
        }
        let p = part.clone();
        let sha = tokio::task::spawn_blocking(move || sha512_regular(&p))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading the result: {e}"))?;
        if sha != self.result.sha512 {
            let _ = tokio::fs::remove_file(&part).await;
            return Err("the fetched result does not match its SHA-512; fetching again".into());
        }
        let final_path = self.move_into_place(&part).await?;
        Ok((final_path.to_string_lossy().into_owned(), sha))
    }

    /// Where a previous run put the result, if it renamed it into place and stopped before
    /// recording it.
    async fn delivered_before(&self) -> Option<String> {
        let store = &self.env.store;
        if let Ok(Some(path)) = store.delivery_target(self.item_id, self.epoch).await {
            let p = PathBuf::from(&path);
            let expected = self.result.sha512.clone();
            let ok = tokio::task::spawn_blocking(move || sha512_regular(&p))
                .await
                .ok()
                .and_then(|r| r.ok())
                .is_some_and(|s| s == expected);
            if ok {
                return Some(path);
            }
        }
        None
    }

    /// Pulls the result from its converter into `part`.
    async fn pull_result(&self, part: &Path) -> Result<(), String> {
        let peer: PeerId = self
            .converter
            .as_str()
            .parse()
            .map_err(|_| format!("converter id `{}` is not a peer id", self.converter))?;
        let internal = self.env.internal.clone();
        let item_id = self.item_id;
        transfer::pull::pull_file_with(
            &self.env.net,
            transfer::RemoteFile {
                peer,
                item_id: self.item_id,
                role: FileRole::Result,
                epoch: self.epoch,
            },
            &self.result,
            part,
            &self.env.pull_options,
            move |done, total| {
                let fraction = if total == 0 {
                    1.0
                } else {
                    done as f64 / total as f64
                };
                let _ = internal.try_send(Internal::DeliverProgress { item_id, fraction });
            },
        )
        .await
        .map_err(|e| format!("fetching the result: {e}"))?;
        Ok(())
    }

    /// Renames the verified `part` to a free name in the output dir, never overwriting.
    async fn move_into_place(&self, part: &Path) -> Result<PathBuf, String> {
        let store = &self.env.store;
        let name = safe_file_name(&self.result.file_name);
        let dir = self.env.output_dir.clone();
        for _ in 0..MAX_NAME_TRIES {
            let target = unique_path(&dir, &name);
            // Remember where it goes before it gets there, so a crash in between cannot
            // deliver it twice.
            let t = target.to_string_lossy().into_owned();
            store
                .record_delivery_target(self.item_id, self.epoch, t)
                .await
                .map_err(|e| format!("cannot record delivery: {e}"))?;
            let (from, to, d) = (part.to_path_buf(), target.clone(), dir.clone());
            let moved = tokio::task::spawn_blocking(move || {
                rename_noreplace(&from, &to)?;
                sync_dir(&d)
            })
            .await
            .map_err(|e| e.to_string())?;
            match moved {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot move the result into place: {e}")),
            }
        }
        Err(format!(
            "no free name for {name} in {} after {MAX_NAME_TRIES} tries",
            dir.display()
        ))
    }
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())?
}

/// The `.part` of (item, epoch) in `dir`: the first of its names (see [`delivery_part`]) that
/// is free, or a regular file (a leftover of ours, which a pull resumes). A symlink or any
/// other thing there is not ours: it is skipped, never followed, written or removed. A free
/// name is created at once, with `O_EXCL | O_NOFOLLOW`.
fn choose_part(
    dir: PathBuf,
    item_id: ItemId,
    epoch: Epoch,
) -> impl FnOnce() -> Result<PathBuf, String> {
    move || {
        for n in 0..MAX_NAME_TRIES {
            let part = delivery_part(&dir, item_id, epoch, n);
            match std::fs::symlink_metadata(&part) {
                Ok(m) if m.file_type().is_file() => return Ok(part),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => match create_new(&part) {
                    Ok(_) => return Ok(part),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(format!("cannot create {}: {e}", part.display())),
                },
                Err(e) => return Err(format!("cannot check {}: {e}", part.display())),
            }
        }
        Err(format!(
            "no free name for the result's .part in {} after {MAX_NAME_TRIES} tries",
            dir.display()
        ))
    }
}

/// Copies the result this node made to `dst` (a regular file: emptied first) and fsyncs it,
/// never through a link.
async fn copy_synced(src: &Path, dst: &Path) -> Result<(), String> {
    let (src, dst) = (src.to_path_buf(), dst.to_path_buf());
    blocking(move || {
        // `dst` was just found to be a regular file of ours; removing a name never follows it.
        std::fs::remove_file(&dst).map_err(|e| format!("removing {}: {e}", dst.display()))?;
        copy_new(&src, &dst)
            .map(drop)
            .map_err(|e| format!("copying the result: {e}"))
    })
    .await
}
