//! The database schema: connection settings and the ordered list of migrations, applied in one
//! transaction at open and tracked in `PRAGMA user_version`.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::{Ctx, StoreError};

/// Migrations in order; migration `i` brings the schema to version `i + 1`. Never edit one
/// that has shipped: append a new one.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: records, files, peers, transfers, jobs, meta.
    "
    CREATE TABLE records (
        author     TEXT    NOT NULL,
        seq        INTEGER NOT NULL,
        item_id    TEXT,
        kind       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        body       BLOB    NOT NULL,
        PRIMARY KEY (author, seq)
    ) WITHOUT ROWID;
    CREATE INDEX records_item ON records(item_id);

    CREATE TABLE local_files (
        item_id    TEXT    NOT NULL,
        role       TEXT    NOT NULL,
        epoch      INTEGER NOT NULL,
        path       TEXT    NOT NULL,
        file_size  INTEGER NOT NULL,
        mtime_ns   INTEGER NOT NULL,
        chunk_size INTEGER NOT NULL,
        hashes     BLOB    NOT NULL,
        PRIMARY KEY (item_id, role, epoch)
    );

    CREATE TABLE peers (
        node_id   TEXT PRIMARY KEY,
        addrs     TEXT    NOT NULL,
        last_seen INTEGER NOT NULL
    );

    CREATE TABLE transfers (
        item_id    TEXT    NOT NULL,
        role       TEXT    NOT NULL,
        epoch      INTEGER NOT NULL,
        part_path  TEXT    NOT NULL,
        started_at INTEGER NOT NULL,
        PRIMARY KEY (item_id, role, epoch)
    );

    CREATE TABLE jobs (
        item_id    TEXT    NOT NULL,
        epoch      INTEGER NOT NULL,
        pid        INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        PRIMARY KEY (item_id, epoch)
    );

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ",
    // 2: the start time of each job's ffmpeg process (clock ticks since boot, field 22 of
    // /proc/<pid>/stat), so a restarted node kills only its own processes, never a reused pid.
    "
    ALTER TABLE jobs ADD COLUMN proc_start INTEGER;
    ",
    // 3: files offered from watched folders (`[[watch]]`), by device, inode, size and mtime,
    // so none is offered twice across restarts, and what to do with each source once its
    // result is delivered.
    "
    CREATE TABLE watched (
        dev        INTEGER NOT NULL,
        ino        INTEGER NOT NULL,
        file_size  INTEGER NOT NULL,
        mtime_ns   INTEGER NOT NULL,
        path       TEXT    NOT NULL,
        watch_dir  TEXT    NOT NULL,
        item_id    TEXT,
        after      TEXT    NOT NULL,
        offered_at INTEGER NOT NULL,
        after_done INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (dev, ino, file_size, mtime_ns)
    );
    CREATE INDEX watched_item ON watched(item_id);
    ",
    // 4: where each delivery moves its result (recorded before the move, so a restart cannot
    // deliver twice) gets its own table, `deliveries`, instead of `delivered:<item>:<epoch>`
    // keys in `meta` that were never deleted. Markers of items whose `delivered` record is
    // stored are not needed any more and are not carried over. `meta` held nothing else that
    // is read, and the `transfers` table was never used: both go.
    "
    CREATE TABLE deliveries (
        item_id TEXT    NOT NULL,
        epoch   INTEGER NOT NULL,
        path    TEXT    NOT NULL,
        PRIMARY KEY (item_id, epoch)
    ) WITHOUT ROWID;

    WITH marker(rest, path) AS (
        SELECT substr(key, length('delivered:') + 1), value FROM meta
        WHERE key GLOB 'delivered:*'
    ),
    parsed(item_id, epoch, path) AS (
        SELECT substr(rest, 1, instr(rest, ':') - 1),
               CAST(substr(rest, instr(rest, ':') + 1) AS INTEGER),
               path
        FROM marker WHERE instr(rest, ':') > 1
    )
    INSERT OR REPLACE INTO deliveries (item_id, epoch, path)
    SELECT item_id, epoch, path FROM parsed
    WHERE NOT EXISTS (
        SELECT 1 FROM records WHERE records.item_id = parsed.item_id AND kind = 'delivered'
    );
    DROP TABLE meta;
    DROP TABLE transfers;
    ",
    // 5: compaction (issue 12). `ended`: when each item that is not compacted yet became
    // final here (this node's clock). `tombstones`: compacted items, whose records are
    // deleted; records about them are ignored. `horizons`: per author, every record up to
    // `seq` is held or was compacted. Items that ended before this version get their end
    // time at the first start (their newest record's time), and are compacted by the usual
    // rule.
    "
    CREATE TABLE ended (
        item_id  TEXT    PRIMARY KEY,
        ended_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE tombstones (
        item_id  TEXT    PRIMARY KEY,
        ended_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE horizons (
        author TEXT    PRIMARY KEY,
        seq    INTEGER NOT NULL
    ) WITHOUT ROWID;
    ",
    // 6: a summary of every item this node knows, one row each, kept by the node as items
    // change (see `summaries.rs`): `dmc status` and `dmc list` page from it, newest first,
    // instead of from memory, and this node's own items outlive the compaction of their
    // records. The node fills it from the stored records at its next start.
    "
    CREATE TABLE item_summaries (
        item_id         TEXT    PRIMARY KEY,
        client_id       TEXT    NOT NULL,
        server_id       TEXT,
        file_name       TEXT    NOT NULL,
        profile         TEXT    NOT NULL,
        file_size       INTEGER NOT NULL,
        sha512_checksum TEXT    NOT NULL,
        status          TEXT    NOT NULL,
        phase           TEXT    NOT NULL,
        errors          TEXT    NOT NULL,
        output_path     TEXT,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        ended_at        INTEGER,
        version         INTEGER NOT NULL,
        view            TEXT    NOT NULL
    );
    CREATE INDEX item_summaries_newest ON item_summaries(created_at DESC, item_id DESC);
    CREATE INDEX item_summaries_origin_newest
        ON item_summaries(client_id, created_at DESC, item_id DESC);
    ",
    // 7: received_at: when this node received each record (its own clock, ms), what timers
    // count from (rejection cool-downs, retention), never a peer's `created_at`. Records
    // stored before take their `created_at`, capped at the time of this migration.
    "
    ALTER TABLE records ADD COLUMN received_at INTEGER;
    UPDATE records SET received_at =
        MIN(created_at, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
    ",
    // 8: a re-offer finds this node's delivered item of the same content and profile in its
    // summary (ended items are not in memory): by origin, source checksum and profile.
    "
    CREATE INDEX item_summaries_content
        ON item_summaries(client_id, sha512_checksum, profile, created_at DESC);
    ",
    // 9: each converter's speed as this node measured it (realtime factor, a moving average
    // of its reports), so the queue estimate keeps using it after a restart.
    "
    CREATE TABLE converter_speeds (
        node_id TEXT PRIMARY KEY,
        speed   REAL NOT NULL
    ) WITHOUT ROWID;
    ",
    // 10: items whose records the start's fill-in read without their offer (so nothing to
    // summarise yet): marked, so later starts do not read them again (`upgrade.rs`).
    "
    CREATE TABLE offerless (
        item_id TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// How long a statement waits for another process's lock before failing.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Sets WAL journaling, full fsync on commit and the busy timeout.
pub(super) fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting the busy timeout")?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .ctx("switching to WAL journaling")?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Invalid(format!(
            "the database refused WAL journaling (journal mode is `{mode}`); is it on a \
             network file system? Put the data directory on a local disk"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .ctx("setting synchronous=FULL")?;
    Ok(())
}

/// The schema version recorded in the database.
pub(super) fn version(conn: &Connection) -> Result<u32, StoreError> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .ctx("reading the schema version")?;
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Applies every migration the database lacks, in one transaction.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("starting the schema migration")?;
    let found = version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // One line either way: a fresh database is created at the newest schema, not migrated.
    if found == 0 {
        tracing::info!(
            "created database {}, schema {SCHEMA_VERSION}",
            path.display()
        );
    } else if found < SCHEMA_VERSION {
        tracing::info!(
            "migrating {} from schema {found} to {SCHEMA_VERSION}",
            path.display()
        );
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(sql).ctx("applying a schema migration")?;
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .ctx("recording the schema version")?;
    }
    tx.commit().ctx("committing the schema migration")?;
    Ok(())
}
