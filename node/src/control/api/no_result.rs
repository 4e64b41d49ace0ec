//! Why `dmc fetch` finds no result to give, in words that are true for the item and this node:
//! only an item's origin receives its result; a cancelled or failed item has none.

use dmc_protocol::{ItemId, ItemState, NodeId, Phase};

use super::ItemView;

/// What the words depend on: the item, its origin and phase, from the engine's state or from
/// the stored view of a compacted item.
pub struct NoResult {
    pub item_id: ItemId,
    pub origin: NodeId,
    pub phase: Phase,
}

impl NoResult {
    pub fn of(item: &ItemState) -> NoResult {
        NoResult {
            item_id: item.item_id(),
            origin: item.origin.clone(),
            phase: item.phase,
        }
    }
    pub fn of_view(v: &ItemView) -> NoResult {
        NoResult {
            item_id: v.item_id,
            origin: v.client_id.clone(),
            phase: v.phase,
        }
    }
}

/// Why this node (`me`) has no delivered result of `item` to fetch.
pub fn no_result_text(item: &NoResult, me: &NodeId) -> String {
    let id = item.item_id;
    if item.origin != *me {
        return format!(
            "only an item's origin receives its result, and item {id} was offered by node {}, \
             not this one: run `dmc fetch {id}` on that machine",
            item.origin.short()
        );
    }
    match item.phase {
        Phase::Cancelled => format!(
            "item {id} was cancelled, so it has no result; offer the file again to convert it"
        ),
        Phase::Failed => format!(
            "item {id} failed, so it has no result; `dmc status {id}` shows why, and offering \
             the file again tries anew"
        ),
        Phase::Delivered => format!(
            "item {id} was delivered, but this node has no record of where its result went; \
             `dmc status {id}` shows what it knows"
        ),
        phase => format!(
            "item {id} has no result yet (it is {}); `dmc status {id}` follows it",
            phase.as_str()
        ),
    }
}
