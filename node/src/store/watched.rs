//! The `watched` table: files offered from watched folders, keyed by device, inode, size and
//! mtime (a file that changes later is a new file), with the item each became and what to do
//! with the source once that item's result is delivered.

use dmc_protocol::{ItemId, Millis};
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Ctx, StoreError};

/// What identifies one version of a file on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

/// One file offered (or found unofferable) from a watched folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchedRow {
    pub key: FileKey,
    pub path: String,
    pub watch_dir: String,
    /// The item it became; `None` when it could not be offered (not media, …).
    pub item_id: Option<ItemId>,
    /// `keep`, `delete` or `move:<dir>` (see `config::AfterDelivery::to_stored`).
    pub after: String,
    pub offered_at: Millis,
    /// Whether `after` was carried out.
    pub after_done: bool,
}

// SQLite integers are signed 64-bit: device and inode numbers are stored as their bit pattern.
fn to_sql(v: u64) -> i64 {
    v as i64
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<WatchedRow> {
    let item: Option<String> = r.get(6)?;
    Ok(WatchedRow {
        key: FileKey {
            dev: r.get::<_, i64>(0)? as u64,
            ino: r.get::<_, i64>(1)? as u64,
            size: r.get::<_, i64>(2)? as u64,
            mtime_ns: r.get(3)?,
        },
        path: r.get(4)?,
        watch_dir: r.get(5)?,
        item_id: item.and_then(|s| ItemId::parse(&s)),
        after: r.get(7)?,
        offered_at: r.get::<_, i64>(8)?.max(0) as u64,
        after_done: r.get::<_, i64>(9)? != 0,
    })
}

const COLUMNS: &str =
    "dev, ino, file_size, mtime_ns, path, watch_dir, item_id, after, offered_at, after_done";

pub(super) fn seen(conn: &mut Connection, key: &FileKey) -> Result<bool, StoreError> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM watched WHERE dev = ?1 AND ino = ?2 AND file_size = ?3 AND mtime_ns = ?4",
            params![to_sql(key.dev), to_sql(key.ino), to_sql(key.size), key.mtime_ns],
            |r| r.get(0),
        )
        .optional()
        .ctx("looking up a watched file")?;
    Ok(found.is_some())
}

/// Records a file; returns false when that version of it was already recorded.
pub(super) fn put(conn: &mut Connection, row: &WatchedRow) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            &format!("INSERT OR IGNORE INTO watched ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            params![
                to_sql(row.key.dev),
                to_sql(row.key.ino),
                to_sql(row.key.size),
                row.key.mtime_ns,
                row.path,
                row.watch_dir,
                row.item_id.map(|i| i.to_string()),
                row.after,
                to_sql(row.offered_at),
                row.after_done as i64,
            ],
        )
        .ctx("recording a watched file")?;
    Ok(n > 0)
}

pub(super) fn by_item(
    conn: &mut Connection,
    item: ItemId,
) -> Result<Option<WatchedRow>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM watched WHERE item_id = ?1 LIMIT 1"),
        params![item.to_string()],
        from_row,
    )
    .optional()
    .ctx("looking up a watched item")
}

/// Rows whose `after` is not `keep` and has not been carried out yet.
pub(super) fn pending_after(conn: &mut Connection) -> Result<Vec<WatchedRow>, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {COLUMNS} FROM watched WHERE item_id IS NOT NULL AND after <> 'keep' AND after_done = 0"
        ))
        .ctx("listing watched files")?;
    let rows = stmt
        .query_map([], from_row)
        .ctx("listing watched files")?
        .collect::<Result<Vec<_>, _>>()
        .ctx("reading watched files")?;
    Ok(rows)
}

pub(super) fn mark_after_done(conn: &mut Connection, item: ItemId) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE watched SET after_done = 1 WHERE item_id = ?1",
        params![item.to_string()],
    )
    .ctx("recording a watched file's after_delivery")?;
    Ok(())
}
