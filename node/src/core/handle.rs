//! The cloneable handle through which the control API (and tests) talk to the core task.

use std::path::PathBuf;

use dmc_protocol::ItemId;
use tokio::sync::{mpsc, oneshot};

use crate::control::api::{
    CheckedList, ItemPage, ItemView, NodeView, OfferOutcome, PeerView, ProfileView,
};

/// Errors the core reports to its callers; each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("no item {0} is known here; `dmc list --all` shows every item")]
    UnknownItem(ItemId),
    #[error("{0}")]
    BadRequest(String),
    /// A file named in the request cannot be read; `kind` says why, where a client acts on it.
    #[error("{message}")]
    Unreadable {
        kind: Option<crate::control::api::ErrorKind>,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The first start after an upgrade is filling in the database: what it says.
    #[error("{0}")]
    Upgrading(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why the core task stopped for good: it could not store what it must store before it acts.
#[derive(Debug, thiserror::Error)]
pub enum CoreFatal {
    #[error("cannot store records: {0}")]
    Records(crate::store::StoreError),
    #[error("cannot store result file: {0}")]
    ResultFile(crate::store::StoreError),
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, CoreError>>;

/// Requests to the core task.
pub(crate) enum Command {
    Offer {
        path: PathBuf,
        profile: Option<String>,
        priority: i32,
        /// A new item even when one with this content and profile exists.
        again: bool,
        /// From a watched folder: the version that settled, opened without following links.
        settled: Option<crate::store::FileKey>,
        reply: Reply<OfferOutcome>,
    },
    Status {
        item: ItemId,
        reply: Reply<ItemView>,
    },
    List {
        query: CheckedList,
        reply: Reply<ItemPage>,
    },
    Cancel {
        item: ItemId,
        reply: Reply<ItemView>,
    },
    Priority {
        item: ItemId,
        priority: i32,
        reply: Reply<ItemView>,
    },
    Retry {
        item: ItemId,
        reply: Reply<OfferOutcome>,
    },
    Fetch {
        item: ItemId,
        output: Option<PathBuf>,
        /// Replace an existing destination file.
        force: bool,
        reply: Reply<PathBuf>,
    },
    Peers {
        reply: Reply<Vec<PeerView>>,
    },
    Profiles {
        reply: Reply<Vec<ProfileView>>,
    },
    Info {
        reply: Reply<NodeView>,
    },
}

/// The receiving end of the core's commands: made before the core (`command_channel`), so the
/// control socket can answer while the start's fill-in runs (`upgrading.rs`).
pub struct Commands(pub(crate) mpsc::Receiver<Command>);

/// Commands that may wait for the core before senders are held back.
const COMMAND_QUEUE: usize = 64;

/// The core's command channel: the handle for the control API, and what the core (or, while
/// the database is upgraded, `upgrading.rs`) reads.
pub fn command_channel() -> (CoreHandle, Commands) {
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    (CoreHandle { tx }, Commands(rx))
}

/// A cloneable handle to the core task.
#[derive(Clone)]
pub struct CoreHandle {
    pub(crate) tx: mpsc::Sender<Command>,
}

impl CoreHandle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, CoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| CoreError::ShuttingDown)?;
        rx.await.map_err(|_| CoreError::ShuttingDown)?
    }

    /// Offers one file (an absolute path readable by the node). Hashes and probes it first.
    /// `priority`: higher runs first on a converter's queue (then older offers first).
    /// Content offered before is not offered again: the answer is the item that has it, unless
    /// its result is gone from the output folder.
    pub async fn offer(
        &self,
        path: PathBuf,
        profile: Option<String>,
        priority: i32,
    ) -> Result<OfferOutcome, CoreError> {
        self.offer_with(path, profile, priority, false).await
    }

    /// [`Self::offer`], or with `again` a new item even for content offered before.
    pub async fn offer_with(
        &self,
        path: PathBuf,
        profile: Option<String>,
        priority: i32,
        again: bool,
    ) -> Result<OfferOutcome, CoreError> {
        self.ask(|reply| Command::Offer {
            path,
            profile,
            priority,
            again,
            settled: None,
            reply,
        })
        .await
    }

    /// Offers the version `settled` of a file in a watched folder: opened without following
    /// a link, and only if it is still that version (else `BadRequest`).
    pub async fn offer_settled(
        &self,
        path: PathBuf,
        settled: crate::store::FileKey,
        profile: Option<String>,
        priority: i32,
    ) -> Result<OfferOutcome, CoreError> {
        self.ask(|reply| Command::Offer {
            path,
            profile,
            priority,
            again: false,
            settled: Some(settled),
            reply,
        })
        .await
    }
    pub async fn status(&self, item: ItemId) -> Result<ItemView, CoreError> {
        self.ask(|reply| Command::Status { item, reply }).await
    }
    /// A page of this node's items, or with `all` of every item known, newest first.
    pub async fn list(&self, query: CheckedList) -> Result<ItemPage, CoreError> {
        self.ask(|reply| Command::List { query, reply }).await
    }
    pub async fn cancel(&self, item: ItemId) -> Result<ItemView, CoreError> {
        self.ask(|reply| Command::Cancel { item, reply }).await
    }
    /// Changes the queue priority of one of this node's open items (higher runs first).
    pub async fn set_priority(&self, item: ItemId, priority: i32) -> Result<ItemView, CoreError> {
        self.ask(|reply| Command::Priority {
            item,
            priority,
            reply,
        })
        .await
    }
    /// Offers the source of a failed item of this node again, as a new item.
    pub async fn retry(&self, item: ItemId) -> Result<OfferOutcome, CoreError> {
        self.ask(|reply| Command::Retry { item, reply }).await
    }
    /// Copies the item's delivered result to `output` (a file or a folder; default: where it
    /// was delivered, checked), never over an existing file unless `force`.
    pub async fn fetch(
        &self,
        item: ItemId,
        output: Option<PathBuf>,
        force: bool,
    ) -> Result<PathBuf, CoreError> {
        self.ask(|reply| Command::Fetch {
            item,
            output,
            force,
            reply,
        })
        .await
    }
    pub async fn peers(&self) -> Result<Vec<PeerView>, CoreError> {
        self.ask(|reply| Command::Peers { reply }).await
    }
    pub async fn profiles(&self) -> Result<Vec<ProfileView>, CoreError> {
        self.ask(|reply| Command::Profiles { reply }).await
    }
    pub async fn info(&self) -> Result<NodeView, CoreError> {
        self.ask(|reply| Command::Info { reply }).await
    }
}
