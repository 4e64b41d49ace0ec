//! The `peers` table (peers seen, their addresses and when) and the `meta` key-value table.

use dmc_protocol::{Millis, NodeId};
use rusqlite::{params, Connection, OptionalExtension};

use super::{Ctx, StoreError};

/// A peer as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRow {
    pub node_id: NodeId,
    /// Multiaddrs it was reached at, as text.
    pub addrs: Vec<String>,
    /// Milliseconds since the Unix epoch.
    pub last_seen: Millis,
}

pub(super) fn put(
    conn: &mut Connection,
    node_id: &NodeId,
    addrs: &[String],
    last_seen: Millis,
) -> Result<(), StoreError> {
    let last_seen = i64::try_from(last_seen).map_err(|_| {
        StoreError::Invalid(format!("peer last-seen time {last_seen} is out of range"))
    })?;
    let addrs = serde_json::to_string(addrs)
        .map_err(|e| StoreError::Invalid(format!("cannot encode peer addresses: {e}")))?;
    conn.execute(
        "INSERT OR REPLACE INTO peers (node_id, addrs, last_seen) VALUES (?1, ?2, ?3)",
        params![node_id.as_str(), addrs, last_seen],
    )
    .ctx("saving a peer")?;
    Ok(())
}

pub(super) fn all(conn: &mut Connection) -> Result<Vec<PeerRow>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT node_id, addrs, last_seen FROM peers ORDER BY node_id")
        .ctx("preparing to load peers")?;
    let mut rows = stmt.query([]).ctx("loading peers")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("loading peers")? {
        let parsed = (|| {
            let node_id = NodeId::new(row.get::<_, String>(0).ok()?);
            let addrs = serde_json::from_str(&row.get::<_, String>(1).ok()?).ok()?;
            let last_seen = Millis::try_from(row.get::<_, i64>(2).ok()?).ok()?;
            Some(PeerRow {
                node_id,
                addrs,
                last_seen,
            })
        })();
        match parsed {
            Some(p) => out.push(p),
            None => tracing::warn!("skipping a malformed row of the peers table"),
        }
    }
    Ok(out)
}

pub(super) fn delete(conn: &mut Connection, node_id: &NodeId) -> Result<bool, StoreError> {
    let n = conn
        .execute("DELETE FROM peers WHERE node_id = ?1", [node_id.as_str()])
        .ctx("deleting a peer")?;
    Ok(n > 0)
}

pub(super) fn get_meta(conn: &mut Connection, key: &str) -> Result<Option<String>, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()
        .ctx("reading a meta value")
}

pub(super) fn set_meta(conn: &mut Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        [key, value],
    )
    .ctx("saving a meta value")?;
    Ok(())
}
