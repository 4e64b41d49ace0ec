//! Giving the disk back: after a compaction that left much of the database file free (the first
//! start after an upgrade compacts a year at once), `VACUUM` rewrites it at the size of what is
//! in use and the WAL is truncated. Small compactions leave free pages for new records to reuse.

use rusqlite::Connection;

use super::{Ctx, StoreError};

/// The file is rewritten when at least this many bytes of it are free...
pub(super) const MIN_FREE_BYTES: i64 = 32 << 20;
/// ...and they are at least this fraction (1/n) of it.
pub(super) const MIN_FREE_SHARE: i64 = 4;

/// Page count, free pages and page size, from the database header.
fn pages(conn: &Connection) -> Result<(i64, i64, i64), StoreError> {
    let get = |pragma: &str| {
        conn.pragma_query_value(None, pragma, |r| r.get::<_, i64>(0))
            .ctx("reading the database's page counts")
    };
    Ok((
        get("page_count")?,
        get("freelist_count")?,
        get("page_size")?,
    ))
}

/// Whether a file of `total` pages, `free` of them free, of `page_size` bytes is worth
/// rewriting.
pub(super) fn worth_it(total: i64, free: i64, page_size: i64) -> bool {
    free.saturating_mul(page_size) >= MIN_FREE_BYTES && free.saturating_mul(MIN_FREE_SHARE) >= total
}

/// Runs `VACUUM` (then truncates the WAL) when the free pages are worth it; returns the file's
/// size in bytes before and after, or `None` when nothing was done. Blocks the store for as
/// long as rewriting what is in use takes (seconds for a few hundred MiB).
pub(super) fn shrink_if_mostly_free(conn: &Connection) -> Result<Option<(i64, i64)>, StoreError> {
    let (total, free, page_size) = pages(conn)?;
    if !worth_it(total, free, page_size) {
        return Ok(None);
    }
    conn.execute_batch("VACUUM")
        .ctx("rewriting the database without its free pages (VACUUM)")?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .ctx("truncating the write-ahead log after VACUUM")?;
    let (after, _, _) = pages(conn)?;
    Ok(Some((total * page_size, after * page_size)))
}

/// [`shrink_if_mostly_free`] after a compaction, logged either way (a failure leaves the
/// compaction standing).
pub(super) fn shrink_logged(conn: &Connection) {
    match shrink_if_mostly_free(conn) {
        Ok(Some((before, after))) => tracing::info!(
            "compaction freed most of the database: rewrote it from {} to {} MiB",
            before >> 20,
            after >> 20
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!("could not shrink the database after a compaction: {e}"),
    }
}
