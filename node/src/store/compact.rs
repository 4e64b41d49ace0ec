//! Compaction state: the `ended`, `tombstones` and `horizons` tables, and [`compact`], which
//! stores one [`Compaction`] (deleting compacted items' and superseded node records) in one
//! transaction.

use dmc_protocol::engine::{Compaction, Restored};
use dmc_protocol::{ItemId, Millis, NodeId, Seq};
use rusqlite::{params, Connection, Transaction, TransactionBehavior};

use super::sql::{int, load_rows, to_i64};
use super::{Ctx, StoreError};

/// Stores a compaction, all of it or nothing. `me` is this node: its own items keep their
/// summary row (`item_summaries`), other nodes' items lose it with their records.
pub(super) fn compact(
    conn: &mut Connection,
    c: &Compaction,
    me: &NodeId,
) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting a compaction")?;
    for (id, at) in &c.ended {
        let at = to_i64(*at, "end time")?;
        exec(
            &tx,
            "INSERT OR IGNORE INTO ended (item_id, ended_at) VALUES (?1, ?2)",
            params![id.to_string(), at],
            "noting when an item ended",
        )?;
    }
    for (id, at) in &c.items {
        compact_item(&tx, *id, *at, me)?;
    }
    for (author, seq) in &c.node_records {
        let seq = to_i64(*seq, "sequence")?;
        exec(
            &tx,
            "DELETE FROM records WHERE author = ?1 AND seq = ?2 AND kind = 'node'",
            params![author.as_str(), seq],
            "deleting a superseded node record",
        )?;
    }
    for (author, seq) in &c.horizons {
        let seq = to_i64(*seq, "sequence")?;
        exec(
            &tx,
            "INSERT INTO horizons (author, seq) VALUES (?1, ?2)
             ON CONFLICT (author) DO UPDATE SET seq = max(seq, excluded.seq)",
            params![author.as_str(), seq],
            "storing an author's horizon",
        )?;
    }
    tx.commit().ctx("committing a compaction")
}

/// Compacts one item inside a transaction: its records, end time, delivery targets and
/// local files (the source's chunk hashes; a converter's result file itself is removed by
/// the core) go, a tombstone stays. Everything a node keeps about an item by its id and drops at compaction
/// belongs here.
pub(super) fn compact_item(
    tx: &Transaction<'_>,
    item_id: ItemId,
    ended_at: Millis,
    me: &NodeId,
) -> Result<(), StoreError> {
    super::summaries::forget_foreign_summary(tx, item_id, me)?;
    let id = item_id.to_string();
    let at = to_i64(ended_at, "end time")?;
    for sql in [
        "DELETE FROM records WHERE item_id = ?1",
        "DELETE FROM ended WHERE item_id = ?1",
        "DELETE FROM deliveries WHERE item_id = ?1",
        "DELETE FROM local_files WHERE item_id = ?1",
        "DELETE FROM offerless WHERE item_id = ?1",
    ] {
        exec(tx, sql, params![id], "deleting a compacted item's rows")?;
    }
    exec(
        tx,
        "INSERT OR REPLACE INTO tombstones (item_id, ended_at) VALUES (?1, ?2)",
        params![id, at],
        "storing a tombstone",
    )
}

/// Runs one cached statement.
fn exec(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
    doing: &'static str,
) -> Result<(), StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .ctx(doing)?;
    Ok(())
}

/// The `horizons` table: per author, every record up to this seq is stored or was compacted.
pub(super) fn stored_horizons(conn: &Connection) -> Result<Vec<(NodeId, Seq)>, StoreError> {
    load_rows(
        conn,
        "SELECT author, seq FROM horizons",
        "horizons",
        "loading horizons",
        |r| Some((NodeId::new(r.get::<_, String>(0).ok()?), int(r, 1)?)),
    )
}

/// Everything the engine is rebuilt from at start: the records of items that have not
/// ended (those of ended items stay here until compaction, out of memory), the compaction
/// state, and horizons that count every stored record.
pub(super) fn load(conn: &mut Connection) -> Result<Restored, StoreError> {
    let item_rows = |table: &'static str, query: &str| {
        load_rows(conn, query, table, "loading compaction state", |r| {
            let id = ItemId::parse(&r.get::<_, String>(0).ok()?)?;
            Some((id, int::<Millis>(r, 1)?))
        })
    };
    let tombstones = item_rows("tombstones", "SELECT item_id, ended_at FROM tombstones")?;
    let ended = item_rows("ended", "SELECT item_id, ended_at FROM ended")?;
    let horizons = stored_horizons(conn)?;
    let loaded = super::start::load(conn, horizons)?;
    Ok(Restored {
        records: loaded.records,
        tombstones,
        horizons: loaded.horizons,
        ended,
        top_seqs: loaded.top_seqs,
    })
}
