//! The `converter_speeds` table: each converter's speed as this node measured it, so the queue
//! estimate goes on using the speeds measured on this LAN after a restart.

use dmc_protocol::NodeId;
use rusqlite::{params, Connection};

use super::{Ctx, StoreError};

/// Replaces every saved speed with `speeds`.
pub(super) fn put_all(conn: &mut Connection, speeds: &[(NodeId, f32)]) -> Result<(), StoreError> {
    let tx = conn.transaction().ctx("saving measured speeds")?;
    tx.execute("DELETE FROM converter_speeds", [])
        .ctx("saving measured speeds")?;
    for (node, speed) in speeds {
        tx.execute(
            "INSERT INTO converter_speeds (node_id, speed) VALUES (?1, ?2)",
            params![node.as_str(), f64::from(*speed)],
        )
        .ctx("saving a measured speed")?;
    }
    tx.commit().ctx("saving measured speeds")
}

/// Every saved speed, by node id.
pub(super) fn all(conn: &mut Connection) -> Result<Vec<(NodeId, f32)>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT node_id, speed FROM converter_speeds ORDER BY node_id")
        .ctx("loading measured speeds")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?)))
        .ctx("loading measured speeds")?;
    let mut speeds = Vec::new();
    for row in rows {
        let (node, speed) = row.ctx("loading measured speeds")?;
        speeds.push((NodeId::new(node), speed as f32));
    }
    Ok(speeds)
}
