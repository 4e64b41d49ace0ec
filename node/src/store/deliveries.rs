//! The `deliveries` table: where the origin is moving each result into its output folder,
//! recorded before the move. A delivery interrupted after the move (the node stopped before its
//! `delivered` record was stored) finds the file there on its next attempt instead of
//! delivering it twice. An item's rows are forgotten in the transaction that stores its
//! `delivered` record (see `records::put`): from then on it is never delivered again.

use dmc_protocol::{Epoch, ItemId};
use rusqlite::{params, Connection, OptionalExtension};

use super::{Ctx, StoreError};

pub(super) fn target(
    conn: &mut Connection,
    item_id: ItemId,
    epoch: Epoch,
) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT path FROM deliveries WHERE item_id = ?1 AND epoch = ?2",
        params![item_id.to_string(), epoch],
        |r| r.get(0),
    )
    .optional()
    .ctx("reading a delivery's target")
}

pub(super) fn set_target(
    conn: &mut Connection,
    item_id: ItemId,
    epoch: Epoch,
    path: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO deliveries (item_id, epoch, path) VALUES (?1, ?2, ?3)",
        params![item_id.to_string(), epoch, path],
    )
    .ctx("recording a delivery's target")?;
    Ok(())
}

/// Forgets every delivery of `item_id` (any epoch).
pub(super) fn forget(conn: &Connection, item_id: ItemId) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM deliveries WHERE item_id = ?1")
        .and_then(|mut stmt| stmt.execute([item_id.to_string()]))
        .ctx("forgetting a delivered item's target")?;
    Ok(())
}
