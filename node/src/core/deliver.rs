//! The origin's side of a finished item: fetch the result into the output folder, verify it,
//! and name it without overwriting anything.

use std::path::PathBuf;

use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, FileInfo, ItemId, ItemState, NodeId};
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::names::{rename_noreplace, safe_file_name, sync_dir, unique_path};
use super::task::{Core, Internal};
use crate::net::NetClient;
use crate::store::Store;
use crate::transfer;

pub(crate) struct DeliverCtx {
    item_id: ItemId,
    epoch: Epoch,
    converter: NodeId,
    result: FileInfo,
    output_dir: PathBuf,
    /// The result on this node, when this node converted it.
    local_result: Option<PathBuf>,
    pull_options: transfer::PullOptions,
    net: NetClient,
    store: Store,
    internal: mpsc::Sender<Internal>,
}

impl DeliverCtx {
    pub(crate) fn new(
        core: &Core,
        item: ItemState,
        epoch: Epoch,
        converter: NodeId,
    ) -> Option<Self> {
        let result = item.result.clone()?;
        let local_result = core
            .files
            .get(&(item.item_id(), FileRole::Result, epoch))
            .map(|f| f.path.clone());
        Some(DeliverCtx {
            item_id: item.item_id(),
            epoch,
            converter,
            result,
            output_dir: core.config.node.output_dir.clone(),
            local_result,
            pull_options: core.pull_options(),
            net: core.net.clone(),
            store: core.store.clone(),
            internal: core.internal.clone(),
        })
    }

    pub(crate) async fn run(self) {
        let outcome = self.work().await;
        let _ = self
            .internal
            .send(Internal::DeliverDone {
                item_id: self.item_id,
                epoch: self.epoch,
                outcome,
            })
            .await;
    }

    async fn work(&self) -> Result<(String, String), String> {
        // A previous run may have renamed the file into place and stopped before recording it.
        if let Ok(Some(path)) = self.store.delivery_target(self.item_id, self.epoch).await {
            let p = PathBuf::from(&path);
            let expected = self.result.sha512.clone();
            let ok = tokio::task::spawn_blocking(move || transfer::sha512_file(&p))
                .await
                .ok()
                .and_then(|r| r.ok())
                .is_some_and(|s| s == expected);
            if ok {
                return Ok((path, self.result.sha512.clone()));
            }
        }
        tokio::fs::create_dir_all(&self.output_dir)
            .await
            .map_err(|e| {
                format!(
                    "cannot create output dir {}: {e}",
                    self.output_dir.display()
                )
            })?;
        let part = self
            .output_dir
            .join(format!(".dmc-{}-{}.part", self.item_id, self.epoch));
        match &self.local_result {
            Some(src) => {
                let (src, dst) = (src.clone(), part.clone());
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    std::fs::copy(&src, &dst)?;
                    std::fs::File::open(&dst)?.sync_all()
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("copying the result: {e}"))?;
            }
            None => {
                let peer: PeerId =
                    self.converter.as_str().parse().map_err(|_| {
                        format!("converter id `{}` is not a peer id", self.converter)
                    })?;
                let internal = self.internal.clone();
                let item_id = self.item_id;
                transfer::pull::pull_file_with(
                    &self.net,
                    peer,
                    self.item_id,
                    FileRole::Result,
                    self.epoch,
                    &self.result,
                    &part,
                    &self.pull_options,
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
            }
        }
        let p = part.clone();
        let sha = tokio::task::spawn_blocking(move || transfer::sha512_file(&p))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading the result: {e}"))?;
        if sha != self.result.sha512 {
            let _ = tokio::fs::remove_file(&part).await;
            return Err("the fetched result does not match its SHA-512; fetching again".into());
        }
        let name = safe_file_name(&self.result.file_name);
        let dir = self.output_dir.clone();
        let final_path = loop {
            let target = unique_path(&dir, &name);
            // Remember where it goes before it gets there, so a crash in between cannot
            // deliver it twice.
            let t = target.to_string_lossy().into_owned();
            self.store
                .record_delivery_target(self.item_id, self.epoch, t)
                .await
                .map_err(|e| format!("cannot record delivery: {e}"))?;
            let (from, to, d) = (part.clone(), target.clone(), dir.clone());
            let moved = tokio::task::spawn_blocking(move || {
                rename_noreplace(&from, &to)?;
                sync_dir(&d)
            })
            .await
            .map_err(|e| e.to_string())?;
            match moved {
                Ok(()) => break target,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot move the result into place: {e}")),
            }
        };
        Ok((final_path.to_string_lossy().into_owned(), sha))
    }
}
