//! Dispatch of the control API's commands: queries are answered from `queries.rs`; offers
//! (`offer.rs`), cancels and fetches change state or files.

use dmc_protocol::ItemId;

use crate::control::api::ItemView;

use super::handle::{Command, CoreError};
use super::task::Core;

impl Core {
    /// Carries out one control command and sends its answer.
    pub(super) async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Offer {
                path,
                profile,
                priority,
                settled,
                reply,
            } => self.begin_offer(path, profile, priority, settled, reply),
            Command::Status { item, reply } => {
                let _ = reply.send(self.item_view(&item));
            }
            Command::List { all, reply } => {
                let me = self.engine.me().clone();
                let mut items: Vec<ItemView> = self
                    .engine
                    .replica()
                    .items()
                    .filter(|i| all || i.origin == me)
                    .map(|i| self.view(i))
                    .collect();
                items.sort_by(|a, b| a.created_at.cmp(&b.created_at));
                let _ = reply.send(Ok(items));
            }
            Command::Cancel { item, reply } => {
                let r = self.cancel(item).await;
                let _ = reply.send(r);
            }
            Command::Fetch {
                item,
                output,
                reply,
            } => {
                let r = self.fetch(item, output).await;
                let _ = reply.send(r);
            }
            Command::Peers { reply } => {
                let _ = reply.send(Ok(self.peers()));
            }
            Command::Profiles { reply } => {
                let _ = reply.send(Ok(self.profiles()));
            }
            Command::Info { reply } => {
                let _ = reply.send(Ok(self.info()));
            }
        }
    }

    /// Cancels one of this node's items that has not ended.
    async fn cancel(&mut self, item: ItemId) -> Result<ItemView, CoreError> {
        match self.engine.item(&item) {
            None => Err(CoreError::UnknownItem(item)),
            Some(i) if i.origin != *self.engine.me() => Err(CoreError::Conflict(format!(
                "item {item} was offered by {}; only its origin can cancel it",
                i.origin
            ))),
            Some(i) if i.phase.is_final() => Err(CoreError::Conflict(format!(
                "item {item} is already {}",
                i.phase.as_str()
            ))),
            Some(_) => {
                self.feed(dmc_protocol::engine::Event::Local(
                    dmc_protocol::RecordBody::Cancel { item_id: item },
                ))
                .await;
                self.item_view(&item)
            }
        }
    }

    /// Copies a delivered result to `output` (a file or a folder).
    async fn fetch(
        &mut self,
        item: ItemId,
        output: Option<std::path::PathBuf>,
    ) -> Result<std::path::PathBuf, CoreError> {
        let i = self
            .engine
            .item(&item)
            .ok_or(CoreError::UnknownItem(item))?;
        let Some(src) = i
            .output_path
            .clone()
            .filter(|_| i.origin == *self.engine.me())
        else {
            return Err(CoreError::Conflict(format!(
                "item {item} has no result delivered here (it is {}); wait for it with `dmc status {item}`",
                i.phase.as_str()
            )));
        };
        let src = std::path::PathBuf::from(src);
        let Some(out) = output else { return Ok(src) };
        let dest = if out.is_dir() {
            super::names::unique_path(
                &out,
                &src.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
        } else {
            out
        };
        let (s, d) = (src.clone(), dest.clone());
        tokio::task::spawn_blocking(move || std::fs::copy(&s, &d))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(|e| {
                CoreError::BadRequest(format!(
                    "cannot copy {} to {}: {e}",
                    src.display(),
                    dest.display()
                ))
            })?;
        Ok(dest)
    }
}
