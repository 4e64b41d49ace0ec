//! What changed, for live views (the dashboard's event stream, `gui/events.rs`): an item's
//! records or progress, or the set of connected peers. The core sends on a bounded broadcast
//! channel and never waits; a subscriber that falls behind is told it lagged and re-reads.

use dmc_protocol::engine::Event;
use dmc_protocol::{ItemId, Record, RecordBody};
use tokio::sync::broadcast;

/// Changes a subscriber may fall behind by before it is told it lagged.
const CHANGES_BACKLOG: usize = 256;

/// One change the core saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// An item's records or its live progress changed.
    Item(ItemId),
    /// A peer connected or went away.
    Peers,
}

/// The sending side, given to the core in [`super::CoreParts`].
pub type ChangeSender = broadcast::Sender<Change>;

/// A new channel for changes.
pub fn changes_channel() -> ChangeSender {
    broadcast::channel(CHANGES_BACKLOG).0
}

/// The change an event fed to the engine makes visible, if any (records are reported when
/// they are stored, by [`of_records`]).
pub(super) fn of_event(event: &Event) -> Option<Change> {
    match event {
        Event::PeerConnected(_) | Event::PeerDisconnected(_) => Some(Change::Peers),
        Event::Report { report, .. } => Some(Change::Item(report.item_id)),
        Event::Local(RecordBody::Progress { item_id, .. }) => Some(Change::Item(*item_id)),
        _ => None,
    }
}

/// The items the given (stored) records are about, each once.
pub(super) fn of_records(records: &[Record]) -> Vec<Change> {
    let mut items: Vec<ItemId> = records.iter().filter_map(|r| r.body.item_id()).collect();
    items.sort_unstable();
    items.dedup();
    items.into_iter().map(Change::Item).collect()
}
