//! Why `dmc fetch` finds no result to give, in words that are true for the item and this node:
//! only an item's origin receives its result; a cancelled or failed item has none.

use dmc_protocol::{ItemState, NodeId, Phase};

/// Why this node (`me`) has no delivered result of `item` to fetch.
pub fn no_result_text(item: &ItemState, me: &NodeId) -> String {
    let id = item.item_id();
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
