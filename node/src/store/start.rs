//! What the engine needs at start, read from the `records` table in one pass: the records of
//! items that have not ended (ended items stay in the store, out of memory, until compaction;
//! one whose summary row is missing, in a database from before summaries, is loaded once so
//! the start writes its row), and per author the horizon and the highest seq stored over every
//! record, loaded or not.

use std::collections::BTreeMap;

use dmc_protocol::{Millis, NodeId, Record, Seq};
use rusqlite::Connection;

use super::records::decode_row;
use super::{Ctx, StoreError};

/// What one pass over the records gives.
pub(super) struct Loaded {
    /// Records of items not in the `ended` table or without a summary row (and records about
    /// no item), each with when this node received it.
    pub records: Vec<(Record, Millis)>,
    /// Per author: every seq up to it is stored or (by the stored horizon) was compacted.
    pub horizons: Vec<(NodeId, Seq)>,
    /// Per author: the highest seq stored.
    pub top_seqs: Vec<(NodeId, Seq)>,
}

/// Reads the records in (author, seq) order, decoding only those of items that have not ended;
/// `stored` are the horizons of the `horizons` table, which the stored records extend.
pub(super) fn load(conn: &Connection, stored: Vec<(NodeId, Seq)>) -> Result<Loaded, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT author, seq, COALESCE(received_at, created_at),
                    item_id IS NOT NULL
                      AND item_id IN (SELECT item_id FROM ended)
                      AND item_id IN (SELECT item_id FROM item_summaries),
                    body
             FROM records ORDER BY author, seq",
        )
        .ctx("preparing to load records")?;
    let mut rows = stmt.query([]).ctx("loading records")?;
    let mut horizons: BTreeMap<String, Seq> = stored
        .into_iter()
        .map(|(a, s)| (a.as_str().to_string(), s))
        .collect();
    let mut tops: Vec<(NodeId, Seq)> = Vec::new();
    let mut records = Vec::new();
    while let Some(row) = rows.next().ctx("loading records")? {
        let author: Result<String, _> = row.get(0);
        let seq: Result<i64, _> = row.get(1);
        let (Ok(author), Ok(seq)) = (author, seq) else {
            tracing::warn!("skipping a stored record with malformed columns");
            continue;
        };
        let Ok(useq) = Seq::try_from(seq) else {
            continue;
        };
        note_held(&mut horizons, &mut tops, &author, useq);
        if row.get::<_, bool>(3).unwrap_or(false) {
            continue;
        }
        let received: Result<i64, _> = row.get(2);
        let body = row.get_ref(4).ok().and_then(|v| v.as_blob().ok());
        let (Ok(received), Some(body)) = (received, body) else {
            tracing::warn!(%author, seq, "skipping a stored record with malformed columns");
            continue;
        };
        if let Some(r) = decode_row(&author, seq, body) {
            records.push((r, u64::try_from(received).unwrap_or(0)));
        }
    }
    Ok(Loaded {
        records,
        horizons: horizons
            .into_iter()
            .filter(|(_, s)| *s > 0)
            .map(|(a, s)| (NodeId::new(a), s))
            .collect(),
        top_seqs: tops,
    })
}

/// Per author, the horizon the stored records give now: the `horizons` table raised past the
/// records held right above it, as [`load`] counts them (reading only the keys).
pub(super) fn held_horizons(conn: &Connection) -> Result<Vec<(NodeId, Seq)>, StoreError> {
    let mut horizons: BTreeMap<String, Seq> = super::compact::stored_horizons(conn)?
        .into_iter()
        .map(|(a, s)| (a.as_str().to_string(), s))
        .collect();
    let mut tops = Vec::new();
    let mut stmt = conn
        .prepare("SELECT author, seq FROM records ORDER BY author, seq")
        .ctx("preparing to count the stored records")?;
    let mut rows = stmt.query([]).ctx("counting the stored records")?;
    while let Some(row) = rows.next().ctx("counting the stored records")? {
        let (Ok(author), Ok(seq)) = (row.get::<_, String>(0), row.get::<_, i64>(1)) else {
            continue;
        };
        if let Ok(seq) = Seq::try_from(seq) {
            note_held(&mut horizons, &mut tops, &author, seq);
        }
    }
    Ok(horizons
        .into_iter()
        .filter(|(_, s)| *s > 0)
        .map(|(a, s)| (NodeId::new(a), s))
        .collect())
}

/// One stored record of `author` (records come in (author, seq) order): its horizon moves
/// past it if it is the next seq, and it is the author's highest so far.
fn note_held(
    horizons: &mut BTreeMap<String, Seq>,
    tops: &mut Vec<(NodeId, Seq)>,
    author: &str,
    seq: Seq,
) {
    let h = match horizons.get_mut(author) {
        Some(h) => h,
        None => horizons.entry(author.to_string()).or_insert(0),
    };
    if seq == *h + 1 {
        *h = seq;
    }
    match tops.last_mut() {
        Some((a, top)) if a.as_str() == author => *top = seq,
        _ => tops.push((NodeId::new(author), seq)),
    }
}
