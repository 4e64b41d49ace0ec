//! The start's fill-in of a database from before `ended`/`item_summaries` (an upgrade), or
//! one whose items lack those rows: the items still to do are read a batch at a time, in
//! item-id order over the `records_item` index, so memory follows one batch, never the
//! history. The core folds each item alone ([`FilledBatch`]) and [`save`] writes its summary
//! row and, if it ended, its `ended` row, or compacts it (`compact::compact_item`, the
//! compaction's one definition), or marks it `offerless`; an item is done once it has both
//! rows (or a summary row saying it is open), a tombstone, or the mark, so a start stopped
//! mid-way is finished by the next one.

use dmc_protocol::{ItemId, Millis, NodeId, Record};
use rusqlite::{params, Connection, Params, TransactionBehavior};

use super::compact::compact_item;
use super::records::decode_row;
use super::sql::to_i64;
use super::{summaries, Ctx, ItemSummary, StoreError};

/// A batch stops after the item that brings its records to this many (an item is never split).
pub const BATCH_RECORDS: usize = 4096;
/// A batch holds at most this many items.
pub const BATCH_ITEMS: usize = 512;

/// The items a batch reads: with records, not compacted, not marked `offerless`, and without
/// a summary row or with one that says the item ended while it has no `ended` row. Each test
/// is a primary-key lookup.
const TO_DO: &str = "
    item_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.item_id = records.item_id)
    AND NOT EXISTS (SELECT 1 FROM offerless o WHERE o.item_id = records.item_id)
    AND NOT EXISTS (
        SELECT 1 FROM item_summaries s WHERE s.item_id = records.item_id
        AND (s.ended_at IS NULL OR EXISTS (SELECT 1 FROM ended e WHERE e.item_id = s.item_id)))";

/// One batch's outcome, to save ([`crate::store::Store::save_fill_in`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilledBatch {
    /// Items of the batch settled (all of the below, and open items).
    pub items: u64,
    /// Summary rows: every item that folds, but other nodes' items compacted at once.
    pub rows: Vec<ItemSummary>,
    /// Items that ended within `keep_finished`, with when.
    pub ended: Vec<(ItemId, Millis)>,
    /// Items that ended `keep_finished` ago or more, with when: compacted.
    pub compacted: Vec<(ItemId, Millis)>,
    /// Items whose records hold no offer.
    pub offerless: Vec<ItemId>,
}

/// One item to fill in: its id and its records, each with when this node received it.
pub type ItemRecords = (ItemId, Vec<(Record, Millis)>);

/// How many items are still to fill in (for the log's "N of M").
pub(super) fn count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn
        .query_row(
            &format!("SELECT count(DISTINCT item_id) FROM records WHERE {TO_DO}"),
            [],
            |r| r.get(0),
        )
        .ctx("counting the items to fill in")?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The next batch of items to fill in, after item id `after` (as stored), each with all its
/// records that decode. A stored id that does not parse is logged and skipped. Returns the
/// batch and the last stored id it looked at (where the next batch starts), `None` when done.
pub(super) fn batch(
    conn: &Connection,
    after: &str,
) -> Result<(Vec<ItemRecords>, Option<String>), StoreError> {
    let ids: Vec<String> = {
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT DISTINCT item_id FROM records WHERE item_id > ?1 AND {TO_DO}
                 ORDER BY item_id LIMIT ?2"
            ))
            .ctx("preparing to find the items to fill in")?;
        let found = stmt
            .query_map(params![after, BATCH_ITEMS as i64], |r| r.get(0))
            .ctx("finding the items to fill in")?;
        found
            .collect::<Result<_, _>>()
            .ctx("finding the items to fill in")?
    };
    let mut items = Vec::new();
    let mut records = 0;
    let mut last: Option<String> = None;
    for stored_id in ids {
        if records >= BATCH_RECORDS {
            break;
        }
        match ItemId::parse(&stored_id) {
            Some(id) => {
                let recs = read(
                    conn,
                    "SELECT author, seq, COALESCE(received_at, created_at), body
                     FROM records WHERE item_id = ?1",
                    params![stored_id],
                )?;
                records += recs.len();
                items.push((id, recs));
            }
            None => tracing::warn!(item = %stored_id, "skipping records of a malformed item id"),
        }
        last = Some(stored_id);
    }
    Ok((items, last))
}

/// The records `sql` (author, seq, received time, body) selects that decode; rows that do
/// not are logged and skipped.
fn read(
    conn: &Connection,
    sql: &str,
    args: impl Params,
) -> Result<Vec<(Record, Millis)>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).ctx("preparing to read records")?;
    let mut rows = stmt.query(args).ctx("reading records")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("reading records")? {
        let (Ok(author), Ok(seq), Ok(received)) = (
            row.get::<_, String>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
        ) else {
            tracing::warn!("skipping a stored record with malformed columns");
            continue;
        };
        let Some(body) = row.get_ref(3).ok().and_then(|v| v.as_blob().ok()) else {
            tracing::warn!(%author, seq, "skipping a stored record with malformed columns");
            continue;
        };
        if let Some(r) = decode_row(&author, seq, body) {
            out.push((r, u64::try_from(received).unwrap_or(0)));
        }
    }
    Ok(out)
}

/// Saves a batch: its summary rows, then (a second transaction) the end times of the items
/// that ended lately, the compaction of those that ended long ago (`me`: this node, whose
/// items keep their row) and the marks of those held without offer. In that order: a crash in
/// between leaves rows that say an item ended without its `ended` row or tombstone, or no row,
/// which the next start's batch reads again.
pub(super) fn save(
    conn: &mut Connection,
    batch: &FilledBatch,
    me: &NodeId,
) -> Result<(), StoreError> {
    summaries::upsert(conn, &batch.rows)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting to note end times")?;
    {
        let mut stmt = tx
            .prepare_cached("INSERT OR IGNORE INTO ended (item_id, ended_at) VALUES (?1, ?2)")
            .ctx("preparing to note end times")?;
        for (id, at) in &batch.ended {
            stmt.execute(params![id.to_string(), to_i64(*at, "end time")?])
                .ctx("noting when an item ended")?;
        }
        let mut stmt = tx
            .prepare_cached("INSERT OR IGNORE INTO offerless (item_id) VALUES (?1)")
            .ctx("preparing to mark items held without offer")?;
        for id in &batch.offerless {
            stmt.execute(params![id.to_string()])
                .ctx("marking an item held without offer")?;
        }
    }
    for (id, at) in &batch.compacted {
        compact_item(&tx, *id, *at, me)?;
    }
    tx.commit().ctx("committing end times and compactions")
}

/// Stores every author's horizon as the stored records give it now (the `horizons` table
/// raised past the records held right above it, as the start's load counts them), before the
/// fill-in compacts anything: a compacted record then leaves no hole the horizon stops at.
pub(super) fn keep_horizons(conn: &mut Connection) -> Result<(), StoreError> {
    let horizons = super::start::held_horizons(conn)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting to store horizons")?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO horizons (author, seq) VALUES (?1, ?2)
                 ON CONFLICT (author) DO UPDATE SET seq = max(seq, excluded.seq)",
            )
            .ctx("preparing to store horizons")?;
        for (author, seq) in &horizons {
            stmt.execute(params![author.as_str(), to_i64(*seq, "sequence")?])
                .ctx("storing an author's horizon")?;
        }
    }
    tx.commit().ctx("committing horizons")
}

/// The records about no item (node records): what names nodes in summary rows.
pub(super) fn itemless(conn: &Connection) -> Result<Vec<(Record, Millis)>, StoreError> {
    read(
        conn,
        "SELECT author, seq, COALESCE(received_at, created_at), body
         FROM records WHERE item_id IS NULL",
        [],
    )
}
