//! A second connection to the database that only reads, owned by its own thread: it answers
//! `list` and `status` while the start's fill-in keeps the store thread busy for seconds at a
//! time (`core/upgrading.rs`). WAL lets it read the last committed state beside the writer, so
//! a question never waits behind a step of the fill-in; `query_only` makes any write an error.

use std::path::Path;

use dmc_protocol::ItemId;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

use super::schema::BUSY_TIMEOUT;
use super::summaries::{self, PageQuery, SummaryPage};
use super::{call_on, spawn_owner, Ctx, Msg, Store, StoreError};

/// A handle to the reading thread; the thread and its connection end with the last handle.
#[derive(Clone)]
pub struct StoreReader {
    pub(super) tx: mpsc::Sender<Msg>,
}

impl Store {
    /// Opens a read-only connection to this store's database on a thread of its own.
    pub async fn open_reader(&self) -> Result<StoreReader, StoreError> {
        let tx = spawn_owner("dmc-store-reader", self.path(), open_reading).await?;
        Ok(StoreReader { tx })
    }
}

impl StoreReader {
    /// A page of item summaries, newest first, and how many match in all
    /// ([`Store::summary_page`], as committed so far).
    pub async fn summary_page(&self, q: PageQuery) -> Result<SummaryPage, StoreError> {
        call_on(&self.tx, move |c| summaries::page(c, &q)).await
    }

    /// One item's summary (its view as JSON), if it has one ([`Store::summary`]).
    pub async fn summary(&self, item_id: ItemId) -> Result<Option<String>, StoreError> {
        call_on(&self.tx, move |c| summaries::view(c, item_id)).await
    }
}

/// Opens the database the writer already opened and migrated (never creating it), refusing
/// writes. It waits for a lock as long as the writer's connection does. Opened read-write
/// with `query_only` rather than read-only: a read-only connection to a WAL database depends
/// on who made its `-shm` file, a read-write one does not.
fn open_reading(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx("setting the reader's busy timeout")?;
    conn.pragma_update(None, "query_only", true)
        .ctx("making the reader's connection read-only")?;
    Ok(conn)
}
