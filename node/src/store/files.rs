//! The `local_files` table (files this node serves or holds, with their chunk hashes) and the
//! `transfers` table (downloads in progress into `.part` files).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, ItemId, Millis};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{params, Connection, Row};

use super::{Ctx, StoreError};

/// Size of one BLAKE3 chunk hash.
pub const HASH_LEN: usize = 32;

/// A file this node serves (its own sources, its conversion results) or holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalFile {
    pub item_id: ItemId,
    pub role: FileRole,
    /// The assignment epoch of a result; 0 for a source.
    pub epoch: Epoch,
    pub path: PathBuf,
    pub file_size: u64,
    /// Modification time when hashed, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub chunk_size: u32,
    /// The BLAKE3 hash of every chunk, concatenated (32 bytes each).
    pub hashes: Vec<u8>,
}

/// A download in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub item_id: ItemId,
    pub role: FileRole,
    pub epoch: Epoch,
    /// The `.part` file being filled.
    pub part_path: PathBuf,
    pub started_at: Millis,
}

fn role_str(role: FileRole) -> &'static str {
    match role {
        FileRole::Source => "source",
        FileRole::Result => "result",
    }
}

fn parse_role(s: &str) -> Option<FileRole> {
    match s {
        "source" => Some(FileRole::Source),
        "result" => Some(FileRole::Result),
        _ => None,
    }
}

/// A path as text when it is UTF-8, else as its raw bytes.
fn path_sql(p: &Path) -> ToSqlOutput<'static> {
    match p.to_str() {
        Some(s) => ToSqlOutput::Owned(Value::Text(s.to_string())),
        None => ToSqlOutput::Owned(Value::Blob(p.as_os_str().as_bytes().to_vec())),
    }
}

fn path_of(row: &Row<'_>, idx: usize) -> Option<PathBuf> {
    match row.get_ref(idx).ok()? {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(PathBuf::from(OsStr::from_bytes(b))),
        _ => None,
    }
}

fn int<T: TryFrom<i64>>(row: &Row<'_>, idx: usize) -> Option<T> {
    T::try_from(row.get::<_, i64>(idx).ok()?).ok()
}

fn out_of_range(what: &str) -> StoreError {
    StoreError::Invalid(format!("{what} is out of range"))
}

pub(super) fn put_local(conn: &mut Connection, f: &LocalFile) -> Result<(), StoreError> {
    if !f.hashes.len().is_multiple_of(HASH_LEN) {
        return Err(StoreError::Invalid(format!(
            "chunk hashes of {} are {} bytes, not a multiple of {HASH_LEN}",
            f.path.display(),
            f.hashes.len()
        )));
    }
    let size = i64::try_from(f.file_size).map_err(|_| out_of_range("file size"))?;
    conn.execute(
        "INSERT OR REPLACE INTO local_files
           (item_id, role, epoch, path, file_size, mtime_ns, chunk_size, hashes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            f.item_id.to_string(),
            role_str(f.role),
            f.epoch,
            path_sql(&f.path),
            size,
            f.mtime_ns,
            f.chunk_size,
            f.hashes
        ],
    )
    .ctx("saving a local file")?;
    Ok(())
}

pub(super) fn locals(conn: &mut Connection) -> Result<Vec<LocalFile>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT item_id, role, epoch, path, file_size, mtime_ns, chunk_size, hashes
             FROM local_files ORDER BY item_id, role, epoch",
        )
        .ctx("preparing to load local files")?;
    let mut rows = stmt.query([]).ctx("loading local files")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("loading local files")? {
        let parsed = (|| {
            let hashes: Vec<u8> = row.get(7).ok()?;
            if !hashes.len().is_multiple_of(HASH_LEN) {
                return None;
            }
            Some(LocalFile {
                item_id: ItemId::parse(&row.get::<_, String>(0).ok()?)?,
                role: parse_role(&row.get::<_, String>(1).ok()?)?,
                epoch: int(row, 2)?,
                path: path_of(row, 3)?,
                file_size: int(row, 4)?,
                mtime_ns: row.get(5).ok()?,
                chunk_size: int(row, 6)?,
                hashes,
            })
        })();
        match parsed {
            Some(f) => out.push(f),
            None => tracing::warn!("skipping a malformed row of the local_files table"),
        }
    }
    Ok(out)
}

pub(super) fn delete_local(
    conn: &mut Connection,
    item_id: ItemId,
    role: FileRole,
    epoch: Epoch,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM local_files WHERE item_id = ?1 AND role = ?2 AND epoch = ?3",
            params![item_id.to_string(), role_str(role), epoch],
        )
        .ctx("deleting a local file")?;
    Ok(n > 0)
}

pub(super) fn put_transfer(conn: &mut Connection, t: &Transfer) -> Result<(), StoreError> {
    let started = i64::try_from(t.started_at).map_err(|_| out_of_range("transfer start time"))?;
    conn.execute(
        "INSERT OR REPLACE INTO transfers (item_id, role, epoch, part_path, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            t.item_id.to_string(),
            role_str(t.role),
            t.epoch,
            path_sql(&t.part_path),
            started
        ],
    )
    .ctx("saving a transfer")?;
    Ok(())
}

pub(super) fn transfers(conn: &mut Connection) -> Result<Vec<Transfer>, StoreError> {
    let mut stmt = conn
        .prepare(
            "SELECT item_id, role, epoch, part_path, started_at FROM transfers
             ORDER BY started_at",
        )
        .ctx("preparing to load transfers")?;
    let mut rows = stmt.query([]).ctx("loading transfers")?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx("loading transfers")? {
        let parsed = (|| {
            Some(Transfer {
                item_id: ItemId::parse(&row.get::<_, String>(0).ok()?)?,
                role: parse_role(&row.get::<_, String>(1).ok()?)?,
                epoch: int(row, 2)?,
                part_path: path_of(row, 3)?,
                started_at: int(row, 4)?,
            })
        })();
        match parsed {
            Some(t) => out.push(t),
            None => tracing::warn!("skipping a malformed row of the transfers table"),
        }
    }
    Ok(out)
}

pub(super) fn delete_transfer(
    conn: &mut Connection,
    item_id: ItemId,
    role: FileRole,
    epoch: Epoch,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM transfers WHERE item_id = ?1 AND role = ?2 AND epoch = ?3",
            params![item_id.to_string(), role_str(role), epoch],
        )
        .ctx("deleting a transfer")?;
    Ok(n > 0)
}
