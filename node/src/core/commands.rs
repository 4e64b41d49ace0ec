//! Dispatch of the control API's commands: queries are answered from `queries.rs` (items from
//! `summaries.rs`); offers
//! (`offer.rs`), retries (`retry.rs`), cancels and priority changes change state; fetches (`fetch.rs`) copy files.

use dmc_protocol::engine::Event;
use dmc_protocol::{ItemId, RecordBody};

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
                again,
                settled,
                reply,
            } => self.begin_offer(path, profile, priority, again, settled, reply),
            Command::Status { item, reply } => {
                let _ = reply.send(self.status_of(item).await);
            }
            Command::List { query, reply } => {
                let _ = reply.send(self.list_page(query).await);
            }
            Command::Cancel { item, reply } => {
                let r = self.cancel(item).await;
                let _ = reply.send(r);
            }
            Command::Priority {
                item,
                priority,
                reply,
            } => {
                let r = self.set_priority(item, priority).await;
                let _ = reply.send(r);
            }
            Command::Retry { item, reply } => self.retry(item, reply).await,
            Command::Fetch {
                item,
                output,
                force,
                reply,
            } => self.begin_fetch(item, output, force, reply).await,
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
        self.open_item_of_mine(item, "cancel").await?;
        self.feed(Event::Local(RecordBody::Cancel { item_id: item }))
            .await;
        self.item_view(&item)
    }

    /// Gives one of this node's open items a new queue priority: the origin's `priority`
    /// record, which replicates to every node; none when the item has it already.
    async fn set_priority(&mut self, item: ItemId, priority: i32) -> Result<ItemView, CoreError> {
        let current = self.open_item_of_mine(item, "change its priority").await?;
        if current != priority {
            self.feed(Event::Local(RecordBody::Priority {
                item_id: item,
                priority,
            }))
            .await;
        }
        self.item_view(&item)
    }

    /// `Ok` with its priority when `item` is this node's and open; else why `what` (what the
    /// caller wanted to do) cannot be done.
    async fn open_item_of_mine(&self, item: ItemId, what: &str) -> Result<i32, CoreError> {
        match self.engine.item(&item) {
            // Not in memory: unknown, or ended long ago (its summary says how).
            None => {
                let v = self.status_of(item).await?;
                Err(CoreError::Conflict(format!(
                    "item {item} is already {}",
                    v.phase.as_str()
                )))
            }
            Some(i) if i.origin != *self.engine.me() => Err(CoreError::Conflict(format!(
                "item {item} was offered by {}; only its origin can {what}",
                i.origin
            ))),
            Some(i) if i.phase.is_final() => Err(CoreError::Conflict(format!(
                "item {item} is already {}",
                i.phase.as_str()
            ))),
            Some(i) => Ok(i.priority),
        }
    }
}
