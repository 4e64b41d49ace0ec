//! The `records` table: every record this node knows, stored as its wire encoding.

use dmc_protocol::wire::{self, MAX_RECORD_BYTES_PER_MESSAGE};
use dmc_protocol::{Millis, Record, RecordBody};
use rusqlite::{params, Connection, TransactionBehavior};

use super::{deliveries, Ctx, StoreError};

/// Inserts the records not yet stored, each with the time this node received it (its own
/// clock: what timers count from, also after a restart), in one transaction; returns how many
/// were new. A `delivered` record also forgets its item's delivery targets (see
/// `deliveries`), in the same transaction, since nothing will deliver that item again.
pub(super) fn put(
    conn: &mut Connection,
    records: &[(Record, Millis)],
) -> Result<usize, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting to save records")?;
    let mut inserted = 0;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO records
                 (author, seq, item_id, kind, created_at, body, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .ctx("preparing to save records")?;
        for (r, received_at) in records {
            let (Ok(seq), Ok(created_at), Ok(received_at)) = (
                i64::try_from(r.seq),
                i64::try_from(r.created_at),
                i64::try_from(*received_at),
            ) else {
                tracing::warn!(
                    author = %r.author,
                    seq = r.seq,
                    "not storing a record whose sequence or time is out of range"
                );
                continue;
            };
            let item_id = r.body.item_id().map(|i| i.to_string());
            let body = wire::encode(r);
            let new = stmt
                .execute(params![
                    r.author.as_str(),
                    seq,
                    item_id,
                    r.body.kind(),
                    created_at,
                    body,
                    received_at
                ])
                .ctx("saving a record")?;
            if let (1.., RecordBody::Delivered { item_id, .. }) = (new, &r.body) {
                deliveries::forget(&tx, *item_id)?;
            }
            inserted += new;
        }
    }
    tx.commit().ctx("committing records")?;
    Ok(inserted)
}

/// A stored record's body, if it decodes and names the author and seq of its row.
pub(super) fn decode_row(author: &str, seq: i64, body: &[u8]) -> Option<Record> {
    match wire::decode::<Record>(body, MAX_RECORD_BYTES_PER_MESSAGE) {
        Ok(r) if r.author.as_str() == author && i64::try_from(r.seq) == Ok(seq) => Some(r),
        Ok(_) => {
            tracing::warn!(
                %author, seq,
                "skipping a stored record whose body names another author or sequence"
            );
            None
        }
        Err(e) => {
            tracing::warn!(%author, seq, "skipping a stored record that does not decode: {e}");
            None
        }
    }
}

/// Every record that still decodes, by author and sequence, with when this node received it.
pub(super) fn load(conn: &mut Connection) -> Result<Vec<(Record, Millis)>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT author, seq, body, COALESCE(received_at, created_at) FROM records
             ORDER BY author, seq",
        )
        .ctx("preparing to load records")?;
    let mut rows = stmt.query([]).ctx("loading records")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("loading records")? {
        let author: Result<String, _> = row.get(0);
        let seq: Result<i64, _> = row.get(1);
        let body: Result<Vec<u8>, _> = row.get(2);
        let received: Result<i64, _> = row.get(3);
        let (Ok(author), Ok(seq), Ok(body), Ok(received)) = (author, seq, body, received) else {
            tracing::warn!("skipping a stored record with malformed columns");
            continue;
        };
        if let Some(r) = decode_row(&author, seq, &body) {
            out.push((r, u64::try_from(received).unwrap_or(0)));
        }
    }
    Ok(out)
}
