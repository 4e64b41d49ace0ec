//! The `item_summaries` table: one row per item this node knows, with what `dmc status` shows
//! of it (the whole view as JSON, plus the columns it is found and ordered by). The node
//! upserts an item's row whenever a record of it is stored, so `status` and `list` page from
//! here, newest first, with memory independent of history. Rows of this node's own items are
//! kept forever (they outlive the compaction of the item's records); rows of other nodes'
//! items go when the item is compacted ([`forget_foreign_summary`]).

use dmc_protocol::{ItemId, Millis, NodeId};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::sql::to_i64;
use super::{Ctx, StoreError};

/// One item's row. `view` is the item's control-API view as JSON, exactly as `status --json`
/// printed it when the row was written; the other fields are what rows are found and ordered by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemSummary {
    pub item_id: ItemId,
    /// The item's origin.
    pub client_id: NodeId,
    pub server_id: Option<NodeId>,
    pub file_name: String,
    pub profile: String,
    pub file_size: u64,
    pub sha512_checksum: String,
    pub status: String,
    pub phase: String,
    /// Every error of the item, one per line.
    pub errors: String,
    /// Where the origin delivered the result.
    pub output_path: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// When the item ended (delivered, failed, cancelled); `None` while it is open.
    pub ended_at: Option<u64>,
    /// The item's version (number of records) the row was made from.
    pub version: u64,
    pub view: String,
}

/// Which rows a page holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// Only items of this origin; `None`: every item.
    pub client_id: Option<NodeId>,
    /// Only items whose id, in hex without dashes, starts with this (lower-case hex digits;
    /// the caller validates it).
    pub id_prefix: Option<String>,
    /// Only items whose current converter is this node.
    pub server_id: Option<NodeId>,
    /// Only items of this profile.
    pub profile: Option<String>,
    /// Only items in one of these phases (as stored: `offered`, `delivered`, …); `None`: any.
    pub phases: Option<Vec<&'static str>>,
    pub limit: u32,
    pub offset: u64,
}

/// A page of rows, newest first, and how many rows match in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryPage {
    /// Each row's item id (as stored) and view JSON.
    pub rows: Vec<(String, String)>,
    pub total: u64,
}

/// Inserts or replaces the rows, in one transaction.
pub(super) fn upsert(conn: &mut Connection, rows: &[ItemSummary]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting to save item summaries")?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO item_summaries (item_id, client_id, server_id, file_name,
                     profile, file_size, sha512_checksum, status, phase, errors, output_path,
                     created_at, updated_at, ended_at, version, view)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )
            .ctx("preparing to save item summaries")?;
        for r in rows {
            let ended_at = r.ended_at.map(|t| to_i64(t, "ended_at")).transpose()?;
            stmt.execute(params![
                r.item_id.to_string(),
                r.client_id.as_str(),
                r.server_id.as_ref().map(NodeId::as_str),
                r.file_name,
                r.profile,
                to_i64(r.file_size, "file_size")?,
                r.sha512_checksum,
                r.status,
                r.phase,
                r.errors,
                r.output_path,
                to_i64(r.created_at, "created_at")?,
                to_i64(r.updated_at, "updated_at")?,
                ended_at,
                to_i64(r.version, "version")?,
                r.view,
            ])
            .ctx("saving an item summary")?;
        }
    }
    tx.commit().ctx("committing item summaries")
}

/// The items among `items` (id and current version) whose row is missing or was made from
/// another version. The cost follows the items asked about, not the rows kept: when the table
/// holds many more rows than that (this node's own items of years), each item is looked up;
/// otherwise one scan of the versions is quicker.
pub(super) fn stale(
    conn: &mut Connection,
    items: &[(ItemId, u64)],
) -> Result<Vec<ItemId>, StoreError> {
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM item_summaries", [], |r| r.get(0))
        .ctx("counting item summaries")?;
    if u64::try_from(rows).unwrap_or(0) > SCAN_BELOW_ROWS_PER_ITEM * items.len() as u64 {
        return stale_by_lookups(conn, items);
    }
    let stored: std::collections::HashMap<String, u64> = super::sql::load_rows(
        conn,
        "SELECT item_id, version FROM item_summaries",
        "item_summaries",
        "reading item summary versions",
        |row| Some((row.get(0).ok()?, super::sql::int(row, 1)?)),
    )?
    .into_iter()
    .collect();
    Ok(items
        .iter()
        .filter(|(id, version)| stored.get(&id.to_string()) != Some(version))
        .map(|(id, _)| *id)
        .collect())
}

/// Above this many rows per item asked about, [`stale`] looks items up one by one.
const SCAN_BELOW_ROWS_PER_ITEM: u64 = 4;

fn stale_by_lookups(
    conn: &mut Connection,
    items: &[(ItemId, u64)],
) -> Result<Vec<ItemId>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT version FROM item_summaries WHERE item_id = ?1")
        .ctx("preparing to check item summaries")?;
    let mut out = Vec::new();
    for (id, version) in items {
        let stored: Option<i64> = stmt
            .query_row([id.to_string()], |r| r.get(0))
            .optional()
            .ctx("checking an item summary")?;
        if stored.and_then(|v| u64::try_from(v).ok()) != Some(*version) {
            out.push(*id);
        }
    }
    Ok(out)
}

/// One page of rows matching `q`, newest first (then by item id), and the number matching.
pub(super) fn page(conn: &mut Connection, q: &PageQuery) -> Result<SummaryPage, StoreError> {
    let mut filters = Vec::new();
    let mut args: Vec<String> = Vec::new();
    if let Some(c) = &q.client_id {
        args.push(c.as_str().to_string());
        filters.push(format!("client_id = ?{}", args.len()));
    }
    if let Some(s) = &q.server_id {
        args.push(s.as_str().to_string());
        filters.push(format!("server_id = ?{}", args.len()));
    }
    if let Some(p) = &q.profile {
        args.push(p.clone());
        filters.push(format!("profile = ?{}", args.len()));
    }
    if let Some(phases) = &q.phases {
        let mut marks = Vec::with_capacity(phases.len());
        for phase in phases {
            args.push(phase.to_string());
            marks.push(format!("?{}", args.len()));
        }
        // No phase at all matches no row (`IN ()` is not SQL).
        filters.push(if marks.is_empty() {
            "0".to_string()
        } else {
            format!("phase IN ({})", marks.join(", "))
        });
    }
    if let Some(p) = &q.id_prefix {
        // A range of the primary key: ids are stored as lower-case hyphenated UUIDs, and `~`
        // sorts after every hex digit and the dash.
        let from = dashed(p);
        args.push(format!("{from}~"));
        args.push(from);
        filters.push(format!(
            "item_id >= ?{} AND item_id < ?{}",
            args.len(),
            args.len() - 1
        ));
    }
    let filter = if filters.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filters.join(" AND "))
    };
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) FROM item_summaries {filter}"))
        .and_then(|mut s| s.query_row(params_from_iter(&args), |r| r.get(0)))
        .ctx("counting item summaries")?;
    let sql = format!(
        "SELECT item_id, view FROM item_summaries {filter}
         ORDER BY created_at DESC, item_id DESC LIMIT {} OFFSET {}",
        q.limit,
        to_i64(q.offset, "offset")?
    );
    let mut stmt = conn
        .prepare(&sql)
        .ctx("preparing a page of item summaries")?;
    let rows = stmt
        .query_map(params_from_iter(&args), |r| Ok((r.get(0)?, r.get(1)?)))
        .ctx("reading a page of item summaries")?
        .collect::<Result<Vec<(String, String)>, _>>()
        .ctx("reading a page of item summaries")?;
    Ok(SummaryPage {
        rows,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// Hex digits of an id's start as the start of its hyphenated form (`7f1c2a901` →
/// `7f1c2a90-1`).
fn dashed(hex: &str) -> String {
    let mut out = String::with_capacity(hex.len() + 4);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// At most this many delivered items of the same content are looked at by a re-offer.
const DELIVERED_LOOKUP: u32 = 16;

/// Creation times and views of `client`'s delivered items of source checksum `sha512` and `profile`, newest
/// first (at most [`DELIVERED_LOOKUP`]): what a re-offer may find.
pub(super) fn delivered_with(
    conn: &mut Connection,
    client: &NodeId,
    sha512: &str,
    profile: &str,
) -> Result<Vec<(Millis, String)>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT created_at, view FROM item_summaries
             WHERE client_id = ?1 AND sha512_checksum = ?2 AND profile = ?3
               AND phase = 'delivered'
             ORDER BY created_at DESC, item_id DESC LIMIT ?4",
        )
        .ctx("preparing to find delivered items")?;
    let rows = stmt
        .query_map(
            rusqlite::params![client.as_str(), sha512, profile, DELIVERED_LOOKUP],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .ctx("finding delivered items")?;
    let rows = rows
        .collect::<Result<Vec<_>, _>>()
        .ctx("finding delivered items")?;
    Ok(rows
        .into_iter()
        .map(|(at, view)| (Millis::try_from(at).unwrap_or(0), view))
        .collect())
}

/// Whether `client` has a delivered item of `profile` from a source of `file_size` bytes.
pub(super) fn delivered_of_size(
    conn: &mut Connection,
    client: &NodeId,
    file_size: u64,
    profile: &str,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM item_summaries
             WHERE client_id = ?1 AND file_size = ?2 AND profile = ?3 AND phase = 'delivered')",
        params![client.as_str(), to_i64(file_size, "file_size")?, profile],
        |r| r.get(0),
    )
    .ctx("looking for delivered items of a size")
}

/// One item's view JSON, if it has a row.
pub(super) fn view(conn: &mut Connection, item_id: ItemId) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT view FROM item_summaries WHERE item_id = ?1",
        [item_id.to_string()],
        |r| r.get(0),
    )
    .optional()
    .ctx("reading an item summary")
}

/// Brings the version of ended items that left memory (`Replica::drop_ended`) to the number
/// of their records stored, in their row and its view. An item's version is the number of its
/// records; a record about it that arrives late (from a converter that was cut off, say) is
/// stored but not folded, so without this the nodes would agree on the phase and each tell
/// a different version. Never lowers a version.
pub(super) fn recount(conn: &mut Connection, items: &[ItemId]) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting to recount ended items")?;
    {
        let mut stmt = tx
            .prepare_cached(
                "UPDATE item_summaries
                 SET version = max(version, held.n),
                     view = json_set(view, '$.version', max(version, held.n))
                 FROM (SELECT count(*) AS n FROM records WHERE item_id = ?1) AS held
                 WHERE item_id = ?1",
            )
            .ctx("preparing to recount ended items")?;
        for id in items {
            stmt.execute(params![id.to_string()])
                .ctx("recounting an ended item's records")?;
        }
    }
    tx.commit().ctx("committing recounted items")
}

/// Forgets the row of `item_id` unless the item is `me`'s own; returns whether a row went.
/// Compaction calls it for every item it compacts (inside its transaction, if it likes: a
/// `Transaction` is a `Connection`), so this node's own finished items keep their row forever
/// and other nodes' items leave nothing here.
pub fn forget_foreign_summary(
    conn: &Connection,
    item_id: ItemId,
    me: &NodeId,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached("DELETE FROM item_summaries WHERE item_id = ?1 AND client_id != ?2")
        .and_then(|mut s| s.execute(params![item_id.to_string(), me.as_str()]))
        .ctx("forgetting another node's item summary")?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests;
