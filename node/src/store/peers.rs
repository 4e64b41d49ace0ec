//! The `peers` table: peers seen, their addresses and when.

use dmc_protocol::{Millis, NodeId};
use rusqlite::{params, Connection, Row};

use super::sql::{int, load_rows, to_i64};
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
    let last_seen = to_i64(last_seen, "peer last-seen time")?;
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
    load_rows(
        conn,
        "SELECT node_id, addrs, last_seen FROM peers ORDER BY node_id",
        "peers",
        "loading peers",
        peer_of,
    )
}

fn peer_of(row: &Row<'_>) -> Option<PeerRow> {
    Some(PeerRow {
        node_id: NodeId::new(row.get::<_, String>(0).ok()?),
        addrs: serde_json::from_str(&row.get::<_, String>(1).ok()?).ok()?,
        last_seen: int(row, 2)?,
    })
}
