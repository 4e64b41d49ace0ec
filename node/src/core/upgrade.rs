//! The first start after an upgrade (a database from before `ended`/`item_summaries`, or items
//! without those rows): before the engine is restored, each such item is folded alone, a batch
//! at a time (`store/upgrade.rs`), and gets its summary row and, if it ended, its end time. An
//! item that ended `keep_finished` ago or more (the compaction's rule, `compaction_due`) is
//! compacted there and then (its tombstone, as the engine's compaction leaves it), with a
//! summary row only if this node is its origin: nothing is written to be deleted seconds
//! later. An item held without its offer is marked, so later starts do not read it again. The
//! restore then loads only open items, so memory follows a batch and the open items, never the
//! history; a start stopped mid-way leaves batches saved, and the next one finishes.

use dmc_protocol::engine::compaction_due;
use dmc_protocol::replica::Replica;
use dmc_protocol::{ItemState, Millis, NodeId};
use tokio::sync::watch;
use tracing::info;

use super::summaries::summary_of;
use crate::control::api::{Names, UpgradingView};
use crate::store::{FilledBatch, ItemRecords, Store, StoreError};

/// The log says how far the fill-in got every this many items.
const LOG_EVERY: u64 = 10_000;

/// What the fill-in goes by: this node's clock at the start (an item's end time is its newest
/// record's time, capped at it), this node (whose items keep their summary row) and
/// `[node] keep_finished`.
#[derive(Clone, Debug)]
pub struct FillInRules {
    pub now: Millis,
    pub me: NodeId,
    pub keep_finished: Millis,
}

/// What a fill-in did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FilledIn {
    /// Items read and settled: given their rows, compacted, or marked as held without offer.
    pub items: u64,
    /// Of those, items that ended within `keep_finished` (given an `ended` row).
    pub ended: u64,
    /// Of those, items compacted at once (a tombstone; a summary row only for this node's).
    pub compacted: u64,
    /// Of those, items held without their offer (marked, not read again).
    pub offerless: u64,
}

/// Fills in every item that lacks its rows. A database with nothing to do costs one walk of
/// the records' item index.
pub async fn fill_in(store: &Store, rules: &FillInRules) -> Result<FilledIn, StoreError> {
    fill_in_reporting(store, rules, &watch::channel(None).0).await
}

/// [`fill_in`], saying how far it got on `progress` once it has found items to fill in
/// (`None` before, and throughout when there are none) and after each batch. If it compacted
/// anything, the file is then rewritten smaller when most of it is free (`store/vacuum.rs`).
pub(crate) async fn fill_in_reporting(
    store: &Store,
    rules: &FillInRules,
    progress: &watch::Sender<Option<UpgradingView>>,
) -> Result<FilledIn, StoreError> {
    let mut done = FilledIn::default();
    let (mut batch, mut last) = store.fill_in_batch(String::new()).await?;
    if last.is_none() {
        return Ok(done);
    }
    let total = store.fill_in_count().await?;
    progress.send_replace(Some(UpgradingView { done: 0, total }));
    info!("upgrading the database: filling in the summaries and end times of {total} items");
    // Compacting deletes records: every author's horizon is stored first, so none falls back
    // to the hole a compacted record leaves (as the engine's compaction stores them).
    store.keep_horizons().await?;
    let names = node_names(store).await?;
    while let Some(after) = last {
        let before = done.items;
        let filled = fold_batch(batch, &names, rules);
        done.items += filled.items;
        done.ended += filled.ended.len() as u64;
        done.compacted += filled.compacted.len() as u64;
        done.offerless += filled.offerless.len() as u64;
        store.save_fill_in(filled, rules.me.clone()).await?;
        progress.send_replace(Some(UpgradingView {
            done: done.items,
            total,
        }));
        if done.items / LOG_EVERY != before / LOG_EVERY {
            info!("upgrading the database: {} of {total} items", done.items);
        }
        (batch, last) = store.fill_in_batch(after).await?;
    }
    info!(
        "upgraded the database: {} items filled in, {} of them ended lately, {} compacted, {} \
         held without their offer",
        done.items, done.ended, done.compacted, done.offerless
    );
    if done.compacted > 0 {
        store.shrink_if_mostly_free().await;
    }
    Ok(done)
}

/// Each item of a batch folded alone: its summary row and, if it ended, its end time, or, if
/// it ended `keep_finished` ago or more, its compaction (and its summary row only if this node
/// is its origin). An item whose offer is not held has no state yet: it is marked (its records
/// load at start, as any open item's).
pub fn fold_batch(batch: Vec<ItemRecords>, names: &Names, rules: &FillInRules) -> FilledBatch {
    let mut out = FilledBatch::default();
    for (id, records) in batch {
        let Some(item) = ItemState::fold_received(records.iter().map(|(r, at)| (r, *at))) else {
            out.offerless.push(id);
            out.items += 1;
            continue;
        };
        if item.item_id() != id {
            continue;
        }
        out.items += 1;
        let ended = item.end_time_unnoted(rules.now);
        let mine = item.origin == rules.me;
        match ended {
            Some(at) if compaction_due(at, rules.now, rules.keep_finished) => {
                out.compacted.push((id, at));
                if mine {
                    out.rows.push(summary_of(&item, names));
                }
            }
            Some(at) => {
                out.ended.push((id, at));
                out.rows.push(summary_of(&item, names));
            }
            None => out.rows.push(summary_of(&item, names)),
        }
    }
    out
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
