//! Column conversions shared by the tables, and the one way a table's rows are loaded: a row
//! that no longer parses is logged and skipped, never fatal.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, Row};

use super::{Ctx, StoreError};

/// A path as text when it is UTF-8, else as its raw bytes.
pub(super) fn path_sql(p: &Path) -> ToSqlOutput<'static> {
    match p.to_str() {
        Some(s) => ToSqlOutput::Owned(Value::Text(s.to_string())),
        None => ToSqlOutput::Owned(Value::Blob(p.as_os_str().as_bytes().to_vec())),
    }
}

/// A path stored by [`path_sql`].
pub(super) fn path_of(row: &Row<'_>, idx: usize) -> Option<PathBuf> {
    match row.get_ref(idx).ok()? {
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(PathBuf::from(OsStr::from_bytes(b))),
        _ => None,
    }
}

/// An integer column that must fit `T`.
pub(super) fn int<T: TryFrom<i64>>(row: &Row<'_>, idx: usize) -> Option<T> {
    T::try_from(row.get::<_, i64>(idx).ok()?).ok()
}

/// An unsigned value as SQLite's signed 64-bit integer; `what` names it in the error.
pub(super) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is out of range")))
}

/// Runs `query` (no parameters) and parses each row with `parse`; rows it rejects are logged as
/// malformed rows of `table` and skipped.
pub(super) fn load_rows<T>(
    conn: &Connection,
    query: &str,
    table: &'static str,
    doing: &'static str,
    parse: impl Fn(&Row<'_>) -> Option<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare(query).ctx(doing)?;
    let mut rows = stmt.query([]).ctx(doing)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().ctx(doing)? {
        match parse(row) {
            Some(v) => out.push(v),
            None => tracing::warn!("skipping a malformed row of the {table} table"),
        }
    }
    Ok(out)
}
