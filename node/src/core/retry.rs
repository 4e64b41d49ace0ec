//! Retrying one of this node's failed items: its source, still where it was offered from, is
//! offered again as a new item with the same profile, through the same offer as `dmc offer
//! --again`. The failed item stays as it ended.

use dmc_protocol::wire::FileRole;
use dmc_protocol::{ItemId, Phase};

use super::handle::{CoreError, Reply};
use super::task::Core;
use crate::control::api::OfferOutcome;

impl Core {
    /// Offers the source of `item` (failed, this node's) again; the answer is the new item.
    pub(super) async fn retry(&mut self, item: ItemId, reply: Reply<OfferOutcome>) {
        match self.retry_source(item).await {
            Ok((path, profile, priority)) => {
                self.begin_offer(path, Some(profile), priority, true, None, reply)
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// The source path, profile and priority to offer again, or why `item` cannot be retried.
    async fn retry_source(
        &self,
        item: ItemId,
    ) -> Result<(std::path::PathBuf, String, i32), CoreError> {
        let view = self.status_of(item).await?;
        if view.client_id != *self.engine.me() {
            return Err(CoreError::Conflict(format!(
                "item {item} was offered by {}; only its origin can retry it",
                view.client_id
            )));
        }
        if view.phase != Phase::Failed {
            return Err(CoreError::Conflict(format!(
                "item {item} is {}: only a failed item can be retried",
                view.phase.as_str()
            )));
        }
        let Some(source) = self.files.get(&(item, FileRole::Source, 0)) else {
            return Err(CoreError::Conflict(format!(
                "this node no longer knows where the source of item {item} ({}) is: offer the \
                 file again with `dmc offer`",
                view.file_name
            )));
        };
        let path = source.path.clone();
        if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
            return Err(CoreError::Conflict(format!(
                "the source of item {item} is no longer at {}: put it back or offer it again \
                 from where it is now",
                path.display()
            )));
        }
        // Its priority (the offer's, or the origin's change) while its records are in memory;
        // else 0, as `dmc offer` without `--priority`.
        let priority = self.engine.item(&item).map_or(0, |i| i.priority);
        Ok((path, view.conversion_type, priority))
    }
}
