//! The `local_files` table: files this node serves or holds, with their chunk hashes.

use std::path::PathBuf;

use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, ItemId};
use rusqlite::{params, Connection, Row};

use super::sql::{int, load_rows, path_of, path_sql, to_i64};
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
    /// The device and inode that were hashed, which serving is pinned to; known while the node
    /// that hashed it runs, not stored (`None` after a restart: each chunk served is then
    /// still checked against its hash).
    pub pinned: Option<crate::transfer::FileId>,
}

impl LocalFile {
    /// The file at `path` as `hashed` found it (pinned to the inode hashed), held for
    /// `item_id`'s `role` in `epoch` (0 for a source).
    pub fn of_hashed(
        item_id: ItemId,
        role: FileRole,
        epoch: Epoch,
        path: PathBuf,
        hashed: crate::transfer::HashedFile,
    ) -> LocalFile {
        LocalFile {
            item_id,
            role,
            epoch,
            path,
            file_size: hashed.size,
            mtime_ns: hashed.mtime_ns,
            chunk_size: hashed.chunk_size,
            pinned: Some(hashed.id),
            hashes: hashed.hashes,
        }
    }
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

pub(super) fn put_local(conn: &mut Connection, f: &LocalFile) -> Result<(), StoreError> {
    if !f.hashes.len().is_multiple_of(HASH_LEN) {
        return Err(StoreError::Invalid(format!(
            "chunk hashes of {} are {} bytes, not a multiple of {HASH_LEN}",
            f.path.display(),
            f.hashes.len()
        )));
    }
    let size = to_i64(f.file_size, "file size")?;
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
    load_rows(
        conn,
        "SELECT item_id, role, epoch, path, file_size, mtime_ns, chunk_size, hashes
         FROM local_files ORDER BY item_id, role, epoch",
        "local_files",
        "loading local files",
        local_of,
    )
}

fn local_of(row: &Row<'_>) -> Option<LocalFile> {
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
        pinned: None,
    })
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
