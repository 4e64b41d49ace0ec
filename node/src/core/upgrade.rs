//! The first start after an upgrade (a database from before `ended`/`item_summaries`, or items
//! without those rows): before the engine is restored, each such item is folded alone, a batch
//! at a time (`store/upgrade.rs`), and gets its summary row and, if it ended, its end time. The
//! restore then loads only open items, so memory follows a batch and the open items, never the
//! history; a start stopped mid-way leaves batches saved, and the next one finishes.

use dmc_protocol::replica::Replica;
use dmc_protocol::{ItemId, ItemState, Millis};
use tracing::info;

use super::summaries::summary_of;
use crate::control::api::Names;
use crate::store::{ItemRecords, ItemSummary, Store, StoreError};

/// The log says how far the fill-in got every this many items.
const LOG_EVERY: u64 = 10_000;

/// What a fill-in did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilledIn {
    /// Items given a summary row.
    pub items: u64,
    /// Of those, items that ended (given an `ended` row too).
    pub ended: u64,
}

/// Fills in every item that lacks its rows; `now` is this node's clock (an item's end time is
/// its newest record's time, capped at `now`). A database with nothing to do costs one
/// walk of the records' item index.
pub async fn fill_in(store: &Store, now: Millis) -> Result<FilledIn, StoreError> {
    let mut done = FilledIn::default();
    let (mut batch, mut last) = store.fill_in_batch(String::new()).await?;
    if last.is_none() {
        return Ok(done);
    }
    let total = store.fill_in_count().await?;
    info!("upgrading the database: filling in the summaries and end times of {total} items");
    let names = node_names(store).await?;
    while let Some(after) = last {
        let before = done.items;
        let (rows, ended) = fold_batch(batch, &names, now);
        done.items += rows.len() as u64;
        done.ended += ended.len() as u64;
        store.save_fill_in(rows, ended).await?;
        if done.items / LOG_EVERY != before / LOG_EVERY {
            info!("upgrading the database: {} of {total} items", done.items);
        }
        (batch, last) = store.fill_in_batch(after).await?;
    }
    info!(
        "upgraded the database: {} items filled in, {} of them ended",
        done.items, done.ended
    );
    Ok(done)
}

/// Each item of a batch folded alone: its summary row and, if it ended, its end time. An item
/// whose offer is not held has no state yet and is left as it is (its records load at start).
pub fn fold_batch(
    batch: Vec<ItemRecords>,
    names: &Names,
    now: Millis,
) -> (Vec<ItemSummary>, Vec<(ItemId, Millis)>) {
    let mut rows = Vec::with_capacity(batch.len());
    let mut ended = Vec::new();
    for (id, records) in batch {
        let Some(item) = ItemState::fold_received(records.iter().map(|(r, at)| (r, *at))) else {
            continue;
        };
        if item.item_id() != id {
            continue;
        }
        if let Some(at) = item.end_time_unnoted(now) {
            ended.push((id, at));
        }
        rows.push(summary_of(&item, names));
    }
    (rows, ended)
}

/// The nodes' names, from the stored node records (as the engine's replica names them).
async fn node_names(store: &Store) -> Result<Names, StoreError> {
    let mut replica = Replica::new();
    for (r, at) in store.itemless_records().await? {
        replica.insert_received(r, at);
    }
    Ok(Names::new(
        replica
            .nodes()
            .map(|(id, _, info)| (id, info.name.as_str())),
    ))
}
