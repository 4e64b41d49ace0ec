//! The node's SQLite store (`<data_dir>/dmc.sqlite`). One thread owns the connection; the
//! cloneable [`Store`] handle sends it work over a bounded channel and awaits the reply, which
//! comes only once the work's transaction is committed and on disk. While the start's fill-in
//! runs, a second thread owns a connection that only reads ([`StoreReader`], `reader.rs`).

mod compact;
mod deliveries;
mod files;
mod item_counts;
mod jobs;
mod peers;
mod reader;
mod records;
mod schema;
mod speeds;
mod sql;
mod start;
mod summaries;
mod sync_page;
mod upgrade;
mod vacuum;
mod watched;

use std::os::unix::fs::DirBuilderExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dmc_protocol::engine::{Compaction, Restored};
use dmc_protocol::wire::{FileRole, Response, Summary};
use dmc_protocol::{Epoch, ItemId, Millis, NodeId, Record};
use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

pub use files::LocalFile;
pub use item_counts::ItemCount;
pub use jobs::JobRow;
pub use peers::PeerRow;
pub use reader::StoreReader;
pub use schema::SCHEMA_VERSION;
pub use summaries::{forget_foreign_summary, ItemSummary, PageQuery, SummaryPage};
pub use upgrade::{FilledBatch, ItemRecords};
pub use watched::{FileKey, WatchedRow};

/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "dmc.sqlite";
/// Requests that may wait for the store thread before senders are held back.
const QUEUE: usize = 256;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {}: {source}; check that the data directory is writable", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the directory of the database {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the database {} private (mode 0600): {source}", path.display())]
    Private {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database {} has schema version {found}, newer than the {supported} this dmc \
         understands; run a newer dmc",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("database error while {doing}: {source}")]
    Sqlite {
        doing: &'static str,
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the store is not running (the node is shutting down, or the store failed: see the log)"
    )]
    Closed,
}

/// Adds what was being done to a rusqlite error.
pub(crate) trait Ctx<T> {
    fn ctx(self, doing: &'static str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for Result<T, rusqlite::Error> {
    fn ctx(self, doing: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sqlite { doing, source })
    }
}

type Work = Box<dyn FnOnce(&mut Connection) + Send>;

enum Msg {
    Run(Work),
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// A cloneable handle to the store thread.
#[derive(Clone)]
pub struct Store {
    tx: mpsc::Sender<Msg>,
    path: Arc<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/dmc.sqlite` and brings its schema up to date.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open_file(&data_dir.join(DB_FILE_NAME)).await
    }

    /// Opens the database at `path` and starts the thread that owns it.
    pub async fn open_file(path: &Path) -> Result<Store, StoreError> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| StoreError::Dir {
                    path: path.clone(),
                    source,
                })?;
        }
        let tx = spawn_owner("dmc-store", &path, open_connection).await?;
        Ok(Store {
            tx,
            path: Arc::new(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the store thread and returns its result.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        call_on(&self.tx, f).await
    }

    /// Finishes the requests already queued, then closes the database. Every handle's later
    /// calls fail with [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        self.tx
            .send(Msg::Close(reply_tx))
            .await
            .map_err(|_| StoreError::Closed)?;
        reply_rx.await.map_err(|_| StoreError::Closed)?
    }

    // ---- records -------------------------------------------------------------------------

    /// Saves records, each with the time this node received it, ignoring ones already
    /// stored; returns how many were new.
    pub async fn put_records(&self, records: Vec<(Record, Millis)>) -> Result<usize, StoreError> {
        self.call(move |c| records::put(c, &records)).await
    }

    /// Every stored record, by author and sequence, with when this node received it. Rows
    /// that no longer decode are logged and skipped.
    pub async fn load_records(&self) -> Result<Vec<(Record, Millis)>, StoreError> {
        self.call(records::load).await
    }

    /// The answer to a peer's `Sync` summary `theirs`: a page of the stored records it lacks
    /// among `horizons` (our authors of the range it asked, `Engine::sync_horizons`), with the
    /// protocol's paging rule.
    pub async fn sync_page(
        &self,
        horizons: Vec<(NodeId, dmc_protocol::Seq)>,
        theirs: Summary,
    ) -> Result<Response, StoreError> {
        self.call(move |c| sync_page::answer(c, &horizons, &theirs))
            .await
    }

    /// What the engine is rebuilt from at start: the records of items that have not ended,
    /// tombstones, horizons, end times.
    pub async fn load_state(&self) -> Result<Restored, StoreError> {
        self.call(compact::load).await
    }

    /// Stores a compaction in one transaction: end times noted, compacted items' records
    /// deleted and their tombstones kept, superseded node records deleted, horizons. The one
    /// place an item's rows go when it is compacted (`compact::compact_item`); `me` (this
    /// node) keeps the summaries of its own items for `status` and `list`.
    /// Afterwards, if much of the file is free (a year compacted at once), it is rewritten
    /// smaller (`vacuum.rs`); a failure of that is logged, the compaction stands.
    pub async fn compact(&self, c: Compaction, me: NodeId) -> Result<(), StoreError> {
        self.call(move |conn| {
            compact::compact(conn, &c, &me)?;
            vacuum::shrink_logged(conn);
            Ok(())
        })
        .await
    }

    /// Rewrites the file smaller if a compaction left most of it free (`vacuum.rs`); a
    /// failure is logged.
    pub async fn shrink_if_mostly_free(&self) {
        let _ = self
            .call(|conn| {
                vacuum::shrink_logged(conn);
                Ok(())
            })
            .await;
    }

    /// Saves records as [`Store::put_records`] does, then the summaries of the items they
    /// touch, in one request (two transactions: a crash between them leaves summaries behind
    /// the records, which the next start's [`Store::stale_summaries`] check brings up to date).
    /// `ended` are the items among them that ended and left memory: their rows' version is
    /// brought to the number of their records now stored ([`summaries::recount`]).
    pub async fn put_records_and_summaries(
        &self,
        records: Vec<(Record, Millis)>,
        summaries: Vec<ItemSummary>,
        ended: Vec<ItemId>,
    ) -> Result<usize, StoreError> {
        self.call(move |c| {
            let n = records::put(c, &records)?;
            summaries::upsert(c, &summaries)?;
            summaries::recount(c, &ended)?;
            Ok(n)
        })
        .await
    }

    // ---- the start's fill-in (`upgrade.rs`) --------------------------------------------------

    /// How many items still lack their summary row or, having ended, their `ended` row.
    pub async fn fill_in_count(&self) -> Result<u64, StoreError> {
        self.call(|c| upgrade::count(c)).await
    }

    /// The next batch of those items after stored item id `after` ("" first), each with its
    /// records, and where the next batch starts (`None`: none left).
    pub async fn fill_in_batch(
        &self,
        after: String,
    ) -> Result<(Vec<ItemRecords>, Option<String>), StoreError> {
        self.call(move |c| upgrade::batch(c, &after)).await
    }

    /// Saves a batch's summary rows, then the end times of the items that ended lately, the
    /// compaction of those that ended long ago (`me`: this node, whose items keep their
    /// summary row) and the marks of items held without their offer.
    pub async fn save_fill_in(&self, batch: FilledBatch, me: NodeId) -> Result<(), StoreError> {
        self.call(move |c| upgrade::save(c, &batch, &me)).await
    }

    /// Stores every author's horizon as the stored records give it, before the fill-in
    /// compacts anything.
    pub async fn keep_horizons(&self) -> Result<(), StoreError> {
        self.call(upgrade::keep_horizons).await
    }

    /// The stored records about no item (node records), with when each was received.
    pub async fn itemless_records(&self) -> Result<Vec<(Record, Millis)>, StoreError> {
        self.call(|c| upgrade::itemless(c)).await
    }

    // ---- item summaries ------------------------------------------------------------------

    /// Inserts or replaces item summaries, in one transaction.
    pub async fn put_summaries(&self, rows: Vec<ItemSummary>) -> Result<(), StoreError> {
        self.call(move |c| summaries::upsert(c, &rows)).await
    }

    /// The items among `items` (id and current version) whose summary is missing or was
    /// made from another version.
    pub async fn stale_summaries(
        &self,
        items: Vec<(ItemId, u64)>,
    ) -> Result<Vec<ItemId>, StoreError> {
        self.call(move |c| summaries::stale(c, &items)).await
    }

    /// A page of item summaries, newest first, and how many match in all.
    pub async fn summary_page(&self, q: PageQuery) -> Result<SummaryPage, StoreError> {
        self.call(move |c| summaries::page(c, &q)).await
    }

    /// How many items there are of each status, phase, profile and converter (`/metrics`).
    pub async fn item_counts(&self) -> Result<Vec<ItemCount>, StoreError> {
        self.call(item_counts::item_counts).await
    }

    /// One item's summary (its view as JSON), if it has one.
    pub async fn summary(&self, item_id: ItemId) -> Result<Option<String>, StoreError> {
        self.call(move |c| summaries::view(c, item_id)).await
    }

    /// Creation times and stored views of this node's (`client`) delivered items with source checksum
    /// `sha512` and `profile`, newest first, a few at most: what a re-offer may find.
    pub async fn delivered_with(
        &self,
        client: NodeId,
        sha512: String,
        profile: String,
    ) -> Result<Vec<(Millis, String)>, StoreError> {
        self.call(move |c| summaries::delivered_with(c, &client, &sha512, &profile))
            .await
    }

    /// Whether this node (`client`) delivered an item of `profile` from a source of
    /// `file_size` bytes: only then may a re-offer of such a file find one, and needs the
    /// file's SHA-512 before its offer to look.
    pub async fn delivered_of_size(
        &self,
        client: NodeId,
        file_size: u64,
        profile: String,
    ) -> Result<bool, StoreError> {
        self.call(move |c| summaries::delivered_of_size(c, &client, file_size, &profile))
            .await
    }

    // ---- local files ---------------------------------------------------------------------

    /// Saves (or replaces) a file this node serves or holds.
    pub async fn put_local_file(&self, file: LocalFile) -> Result<(), StoreError> {
        self.call(move |c| files::put_local(c, &file)).await
    }

    pub async fn local_files(&self) -> Result<Vec<LocalFile>, StoreError> {
        self.call(files::locals).await
    }

    /// Forgets a local file; returns whether it was known.
    pub async fn delete_local_file(
        &self,
        item_id: ItemId,
        role: FileRole,
        epoch: Epoch,
    ) -> Result<bool, StoreError> {
        self.call(move |c| files::delete_local(c, item_id, role, epoch))
            .await
    }

    // ---- peers ---------------------------------------------------------------------------

    /// Saves (or replaces) what is known of a peer.
    pub async fn put_peer(
        &self,
        node_id: NodeId,
        addrs: Vec<String>,
        last_seen: Millis,
    ) -> Result<(), StoreError> {
        self.call(move |c| peers::put(c, &node_id, &addrs, last_seen))
            .await
    }

    pub async fn peers(&self) -> Result<Vec<PeerRow>, StoreError> {
        self.call(peers::all).await
    }

    // ---- measured speeds -------------------------------------------------------------------

    /// Replaces the saved speeds of converters with `speeds` (realtime factors).
    pub async fn put_speeds(&self, speeds: Vec<(NodeId, f32)>) -> Result<(), StoreError> {
        self.call(move |c| speeds::put_all(c, &speeds)).await
    }

    /// The converters' speeds saved by [`Store::put_speeds`].
    pub async fn speeds(&self) -> Result<Vec<(NodeId, f32)>, StoreError> {
        self.call(speeds::all).await
    }

    // ---- jobs ----------------------------------------------------------------------------

    /// Records a conversion's ffmpeg process with its start time (see [`JobRow`]).
    pub async fn job_spawned(&self, row: JobRow) -> Result<(), StoreError> {
        self.call(move |c| jobs::started(c, &row)).await
    }

    /// Forgets a conversion's process; returns whether it was known.
    pub async fn job_ended(&self, item_id: ItemId, epoch: Epoch) -> Result<bool, StoreError> {
        self.call(move |c| jobs::ended(c, item_id, epoch)).await
    }

    pub async fn jobs(&self) -> Result<Vec<JobRow>, StoreError> {
        self.call(jobs::all).await
    }

    // ---- watched folders -----------------------------------------------------------------

    /// Whether this version of a file (device, inode, size, mtime) was already taken from a
    /// watched folder.
    pub async fn watched_seen(&self, key: FileKey) -> Result<bool, StoreError> {
        self.call(move |c| watched::seen(c, &key)).await
    }

    /// Records a file taken from a watched folder; false when it was already recorded.
    pub async fn put_watched(&self, row: WatchedRow) -> Result<bool, StoreError> {
        self.call(move |c| watched::put(c, &row)).await
    }

    /// The watched file an item was offered from, if any.
    pub async fn watched_by_item(&self, item: ItemId) -> Result<Option<WatchedRow>, StoreError> {
        self.call(move |c| watched::by_item(c, item)).await
    }

    /// Watched files whose `after_delivery` (move or delete) is still to be carried out.
    pub async fn watched_pending_after(&self) -> Result<Vec<WatchedRow>, StoreError> {
        self.call(watched::pending_after).await
    }

    /// Records that an item's `after_delivery` was carried out.
    pub async fn watched_after_done(&self, item: ItemId) -> Result<(), StoreError> {
        self.call(move |c| watched::mark_after_done(c, item)).await
    }

    // ---- deliveries --------------------------------------------------------------------

    /// Where the result of `item_id`'s `epoch` was being moved into the output folder, if a
    /// delivery of it got that far (see [`Store::record_delivery_target`]).
    pub async fn delivery_target(
        &self,
        item_id: ItemId,
        epoch: Epoch,
    ) -> Result<Option<String>, StoreError> {
        self.call(move |c| deliveries::target(c, item_id, epoch))
            .await
    }

    /// Records where a delivery is about to move its result, before it moves it, so a restart
    /// in between cannot deliver it twice. Forgotten once the item's `delivered` record is
    /// stored.
    pub async fn record_delivery_target(
        &self,
        item_id: ItemId,
        epoch: Epoch,
        path: String,
    ) -> Result<(), StoreError> {
        self.call(move |c| deliveries::set_target(c, item_id, epoch, &path))
            .await
    }
}

/// Starts a thread named `name` that owns the connection `open` makes of `path` and serves
/// the work sent to it ([`serve`]); returns where to send work once the connection is open.
async fn spawn_owner(
    name: &str,
    path: &Path,
    open: fn(&Path) -> Result<Connection, StoreError>,
) -> Result<mpsc::Sender<Msg>, StoreError> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (ready_tx, ready_rx) = oneshot::channel();
    let thread_path = path.to_path_buf();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || match open(&thread_path) {
            Ok(conn) => {
                let _ = ready_tx.send(Ok(()));
                serve(conn, rx);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        })
        .map_err(|source| StoreError::Dir {
            path: path.to_path_buf(),
            source,
        })?;
    ready_rx.await.map_err(|_| StoreError::Closed)??;
    Ok(tx)
}

/// Runs `f` on the thread `tx` reaches and returns its result.
async fn call_on<T, F>(tx: &mpsc::Sender<Msg>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
{
    let (reply_tx, reply_rx) = oneshot::channel();
    let work: Work = Box::new(move |conn| {
        let _ = reply_tx.send(f(conn));
    });
    tx.send(Msg::Run(work))
        .await
        .map_err(|_| StoreError::Closed)?;
    reply_rx.await.map_err(|_| StoreError::Closed)?
}

/// Makes the database file (created empty if missing) and its `-wal`/`-shm` companions mode
/// 0600, whatever the umask: a data dir shared with a control group (`g+x`) must not let the
/// group open them by name. SQLite gives a new `-wal`/`-shm` the database file's mode.
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o700))?;
            tracing::info!(
                "made {} private (mode {:o})",
                Path::new(&p).display(),
                mode & 0o700
            );
        }
    }
    Ok(())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    make_private(path).map_err(|source| StoreError::Private {
        path: path.to_path_buf(),
        source,
    })?;
    let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    schema::configure(&conn)?;
    schema::migrate(&mut conn, path)?;
    tracing::debug!(
        "opened {} (schema version {SCHEMA_VERSION})",
        path.display()
    );
    Ok(conn)
}

/// The store thread: runs requests in order until closed or every handle is gone.
fn serve(mut conn: Connection, mut rx: mpsc::Receiver<Msg>) {
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::Run(work) => {
                // A panic drops the request's reply (its caller sees `Closed`) and rolls back
                // its transaction; the store keeps serving others.
                if catch_unwind(AssertUnwindSafe(|| work(&mut conn))).is_err() {
                    tracing::error!("a store request panicked; it was rolled back");
                }
            }
            Msg::Close(reply) => {
                rx.close();
                let result = conn.close().map_err(|(_, source)| StoreError::Sqlite {
                    doing: "closing the database",
                    source,
                });
                let _ = reply.send(result);
                return;
            }
        }
    }
}

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod upgrade_tests;
