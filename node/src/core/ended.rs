//! Items of this node that end here for good (delivered, or failed for good) go out on a
//! broadcast channel; `announce/` (`[notify]`) and `watch/` (`after_delivery`) subscribe to
//! it, so the core knows nothing of them. An item is sent once: the trigger is a record this
//! node authors (delivered, or failed for good), which is new exactly once, so an item that
//! ended before a restart is not sent again.

use dmc_protocol::{ItemId, Record, RecordBody};

use crate::control::api::ItemView;
use tokio::sync::broadcast;

/// Ended items a slow subscriber may fall behind by before it misses some. Items end one
/// conversion at a time and subscribers only start background work per item, so this is
/// never reached in practice; a subscriber that lags logs it and re-derives what it can.
const ENDED_BACKLOG: usize = 1024;

/// One of this node's items ended: its view as `dmc status` shows it at that moment.
#[derive(Clone, Debug)]
pub struct ItemEnded {
    pub item: ItemView,
}

/// The sending side, given to the core in [`super::CoreParts`].
pub type EndedSender = broadcast::Sender<ItemEnded>;
/// A subscriber's side.
pub type EndedReceiver = broadcast::Receiver<ItemEnded>;

/// A new channel for ended items; subscribe with [`broadcast::Sender::subscribe`] before the
/// core starts.
pub fn ended_channel() -> EndedSender {
    broadcast::channel(ENDED_BACKLOG).0
}

/// The items the given records (about to be stored) end here for good.
pub(super) fn ended_by(me: &dmc_protocol::NodeId, records: &[Record]) -> Vec<ItemId> {
    records
        .iter()
        .filter(|r| &r.author == me)
        .filter_map(|r| match &r.body {
            RecordBody::Delivered { item_id, .. } => Some(*item_id),
            RecordBody::Failed {
                item_id,
                epoch: None,
                ..
            } => Some(*item_id),
            _ => None,
        })
        .collect()
}
