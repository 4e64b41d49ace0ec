//! Messages to the core task from the tasks it spawned (peer requests, offers, evaluations,
//! jobs, deliveries, the file server), and how a converter job ended.

use dmc_protocol::{Epoch, ItemId, NodeId, Offer, ProgressInfo};
use tokio::sync::oneshot;

use super::handle::CoreError;
use crate::store::LocalFile;

/// Messages from tasks the core spawned.
pub(crate) enum Internal {
    SyncPage {
        from: NodeId,
        records: Vec<dmc_protocol::Record>,
        more: bool,
        /// The page's `complete` marks (see `Response::Records`).
        complete: Vec<(NodeId, dmc_protocol::Seq)>,
    },
    /// A peer's answer to our `Ended` question: the asked items it compacted.
    EndedAnswer {
        from: NodeId,
        items: Vec<ItemId>,
    },
    /// A peer's summary (its first page), answering our digest: it differs from ours.
    PeerSummary {
        from: NodeId,
        summary: dmc_protocol::Summary,
        next: Option<NodeId>,
    },
    OfferPrepared {
        /// Boxed: an offer is the largest thing a message carries.
        prepared: Box<Result<(Offer, LocalFile), CoreError>>,
        /// A new item even for content offered before.
        again: bool,
        reply: oneshot::Sender<Result<crate::control::api::OfferOutcome, CoreError>>,
    },
    Evaluated {
        item_id: ItemId,
        epoch: Epoch,
        refusal: Option<Refusal>,
    },
    JobProgress {
        item_id: ItemId,
        epoch: Epoch,
        progress: ProgressInfo,
    },
    JobPid {
        item_id: ItemId,
        epoch: Epoch,
        pid: u32,
    },
    JobDone {
        item_id: ItemId,
        epoch: Epoch,
        outcome: JobOutcome,
    },
    DeliverProgress {
        item_id: ItemId,
        fraction: f64,
    },
    DeliverDone {
        item_id: ItemId,
        epoch: Epoch,
        /// The output path and SHA-512, or why it must be tried again or was refused.
        outcome: Result<(String, String), super::deliver::DeliverFailure>,
    },
    SourceChanged {
        item_id: ItemId,
        error: String,
    },
    /// A job asks for its cut segments to be encoded by the farm (`spread.rs`).
    Spread {
        item_id: ItemId,
        epoch: Epoch,
        ask: crate::ffmpeg::SpreadAsk,
    },
    /// The new sub-items of a job's segments, hashed and ready to offer.
    SpreadHashed {
        item_id: ItemId,
        epoch: Epoch,
        offers: Result<Vec<(Offer, LocalFile)>, String>,
    },
    /// The SHA-512 of a source whose offer left it out, or why it could not be read.
    ChecksumRead {
        item_id: ItemId,
        read: Result<String, String>,
    },
}

/// Why a converter refuses an assigned item.
pub(crate) struct Refusal {
    pub(crate) reason: String,
    /// For lack of room while this many other items occupied this converter: the origin may
    /// ask again as soon as fewer do (the `Reject` record's `until_fewer`).
    pub(crate) until_fewer: Option<u32>,
}

/// How a converter job ended.
pub(crate) enum JobOutcome {
    Converted(dmc_protocol::FileInfo, Box<LocalFile>),
    /// The item cannot be converted here: report it.
    Failed(String),
    /// The item cannot be converted anywhere (the failure would repeat on any converter):
    /// report it as certain, so the origin ends the item at once.
    Certain(String),
    /// A passing problem (peer away, …): try again later.
    Retry(String),
    Cancelled,
}
