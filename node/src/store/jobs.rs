//! The `jobs` table: conversions running here, their ffmpeg process ids and the processes'
//! start times, so a restarted node can find and stop processes it left behind (and only
//! those: a pid reused by another process has another start time).

use dmc_protocol::{Epoch, ItemId, Millis};
use rusqlite::{params, Connection, Row};

use super::sql::{int, load_rows, to_i64};
use super::{Ctx, StoreError};

/// One running conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRow {
    pub item_id: ItemId,
    pub epoch: Epoch,
    pub pid: u32,
    /// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), when
    /// it could be read.
    pub proc_start: Option<u64>,
    pub started_at: Millis,
}

pub(super) fn started(conn: &mut Connection, row: &JobRow) -> Result<(), StoreError> {
    let started_at = to_i64(row.started_at, "job start time")?;
    let proc_start = row
        .proc_start
        .map(|t| to_i64(t, "process start time"))
        .transpose()?;
    conn.execute(
        "INSERT OR REPLACE INTO jobs (item_id, epoch, pid, started_at, proc_start) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            row.item_id.to_string(),
            row.epoch,
            row.pid,
            started_at,
            proc_start
        ],
    )
    .ctx("saving a job")?;
    Ok(())
}

pub(super) fn ended(
    conn: &mut Connection,
    item_id: ItemId,
    epoch: Epoch,
) -> Result<bool, StoreError> {
    let n = conn
        .execute(
            "DELETE FROM jobs WHERE item_id = ?1 AND epoch = ?2",
            params![item_id.to_string(), epoch],
        )
        .ctx("deleting a job")?;
    Ok(n > 0)
}

pub(super) fn all(conn: &mut Connection) -> Result<Vec<JobRow>, StoreError> {
    load_rows(
        conn,
        "SELECT item_id, epoch, pid, started_at, proc_start FROM jobs ORDER BY started_at",
        "jobs",
        "loading jobs",
        job_of,
    )
}

fn job_of(row: &Row<'_>) -> Option<JobRow> {
    let proc_start = match row.get::<_, Option<i64>>(4).ok()? {
        Some(t) => Some(u64::try_from(t).ok()?),
        None => None,
    };
    Some(JobRow {
        item_id: ItemId::parse(&row.get::<_, String>(0).ok()?)?,
        epoch: int(row, 1)?,
        pid: int(row, 2)?,
        proc_start,
        started_at: int(row, 3)?,
    })
}
