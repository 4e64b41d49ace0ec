//! An item's state as the fold of its records (`item/fold.rs`): its phase, the attempts made
//! at it and why it waits (`item/waiting.rs`), as data; the node puts them into words.

mod fold;
pub mod waiting;

use serde::{Deserialize, Serialize};

use crate::ids::{Epoch, ItemId, Millis, NodeId};
use crate::media::MediaType;
use crate::record::{FileInfo, Offer, ProgressInfo};

pub use waiting::{NextAttempt, Waiting};

/// The broker states users see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    ToDo,
    InProgress,
    FinishedSuccessful,
    FinishedWithErrors,
}

/// The finer phase within a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Offered, waiting for a converter.
    Offered,
    /// Refused by the assigned converter; waiting for another.
    Rejected,
    /// The current attempt failed on its converter; the origin tries another converter after
    /// a backoff, or gives up after its `max_attempts`.
    Retrying,
    Assigned,
    Accepted,
    Transferring,
    Converting,
    /// The converter holds a verified result; the origin has yet to fetch it.
    Converted,
    /// The origin is fetching the result (set by the origin's node, not by the fold).
    Delivering,
    Delivered,
    Failed,
    Cancelled,
}

impl Phase {
    pub fn status(self) -> Status {
        match self {
            Phase::Offered | Phase::Rejected | Phase::Retrying => Status::ToDo,
            Phase::Assigned
            | Phase::Accepted
            | Phase::Transferring
            | Phase::Converting
            | Phase::Converted
            | Phase::Delivering => Status::InProgress,
            Phase::Delivered => Status::FinishedSuccessful,
            Phase::Failed | Phase::Cancelled => Status::FinishedWithErrors,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Offered => "offered",
            Phase::Rejected => "rejected",
            Phase::Retrying => "retrying",
            Phase::Assigned => "assigned",
            Phase::Accepted => "accepted",
            Phase::Transferring => "transferring",
            Phase::Converting => "converting",
            Phase::Converted => "converted",
            Phase::Delivering => "delivering",
            Phase::Delivered => "delivered",
            Phase::Failed => "failed",
            Phase::Cancelled => "cancelled",
        }
    }

    /// The item will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Delivered | Phase::Failed | Phase::Cancelled)
    }
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::ToDo => "to_do",
            Status::InProgress => "in_progress",
            Status::FinishedSuccessful => "finished_successful",
            Status::FinishedWithErrors => "finished_with_errors",
        }
    }
}

/// A converter giving an item back: (converter, reason, when this node received it).
pub type Release = (NodeId, String, Millis);

/// A converter's failed attempt at an item: one per epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAttempt {
    pub epoch: Epoch,
    pub converter: NodeId,
    pub error: String,
    /// The converter said the failure would repeat on any converter.
    pub certain: bool,
    /// When this node received the report (this node's clock, never the converter's).
    pub at: Millis,
}

/// One attempt at an item: an epoch its origin assigned to a converter, with when this node
/// learnt of each step (its own clock, never the authors').
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub epoch: Epoch,
    pub converter: NodeId,
    /// When this node received the assignment.
    pub assigned_at: Millis,
    /// When this node received the converter's acceptance.
    pub accepted_at: Option<Millis>,
    /// How the attempt ended; `None` while it runs, waits for its converter's word, or was
    /// taken back by a later epoch without one (its lease ran out).
    pub end: Option<AttemptEnd>,
}

/// How an attempt ended, when this node learnt it, and the reason given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptEnd {
    pub how: EndedBy,
    pub at: Millis,
    /// The refusal's, failure's or release's reason (none for a result).
    pub reason: Option<String>,
}

/// The record that ended an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndedBy {
    /// The converter refused the item.
    Rejected,
    /// The converter failed it.
    Failed,
    /// The converter gave it back (it was shutting down).
    Released,
    /// The converter made a verified result.
    Converted,
    /// The origin's check of the result failed it.
    ResultRefused,
    /// The converter lost its result before the origin fetched it.
    ResultLost,
}

/// Lost results an item may have (its converter answered that the result is gone, and the
/// origin recorded it) before further ones count as failed attempts: enough for files lost
/// by accident, bounded so a converter that keeps "losing" results cannot hold an item in a
/// loop that never ends.
pub const FREE_LOST_RESULTS: usize = 3;

/// A converter's refusal, kept so `status` can say why an item waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub server_id: NodeId,
    pub epoch: Epoch,
    pub reason: String,
    /// For lack of room while this many other items occupied the converter: it may be asked
    /// again once fewer do (see `RecordBody::Reject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_fewer: Option<u32>,
    /// When this node received the refusal (this node's clock, never the converter's).
    pub at: Millis,
}

/// Everything known about an item, folded from its records.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemState {
    pub offer: Offer,
    /// Its place on a converter's queue (higher first): the origin's newest `priority`
    /// record's, else the offer's.
    pub priority: i32,
    pub origin: NodeId,
    pub created_at: Millis,
    /// The latest assignment: epoch and converter.
    pub assignment: Option<(Epoch, NodeId)>,
    pub phase: Phase,
    pub progress: Option<ProgressInfo>,
    pub result: Option<FileInfo>,
    pub output_path: Option<String>,
    /// While `Converted`: when this node received the `Converted` record (its own clock; on
    /// the converter, when it made it).
    pub converted_at: Option<Millis>,
    /// While `Offered` after a converter gave the item back: who, why and when this node
    /// received it.
    pub released: Option<Release>,
    /// The origin's own failure (the first it recorded), if it gave up on the item.
    pub origin_error: Option<String>,
    /// The origin withdrew the item (also when it was delivered first).
    pub cancelled: bool,
    pub rejections: Vec<Rejection>,
    /// Failed attempts by converters, in epoch order (refusals are not attempts), including
    /// results the origin refused (`result refused by origin: …`).
    pub failures: Vec<FailedAttempt>,
    /// Results lost by their converters that do not count as attempts (at most
    /// [`FREE_LOST_RESULTS`]), in epoch order.
    pub lost_results: Vec<FailedAttempt>,
    /// Every epoch the origin assigned, in epoch order, with its times and end.
    pub attempts: Vec<Attempt>,
    /// How many distinct records the item has: grows with every change.
    pub version: u64,
    /// The newest record's time.
    pub updated_at: Millis,
}

impl ItemState {
    pub fn item_id(&self) -> ItemId {
        self.offer.item_id
    }

    /// The source's SHA-512, lowercase hex: the offer's, or, for an offer that left it out
    /// ([`Offer::sha512_follows`](crate::Offer::sha512_follows)), the origin's `checksum`
    /// record's once it is known (`offer.file.sha512` holds it then, and is empty before).
    pub fn source_sha512(&self) -> Option<&str> {
        Some(self.offer.file.sha512.as_str()).filter(|s| !s.is_empty())
    }

    /// When a final item ended, for one whose end time was never noted (stored by a version
    /// before compaction, or a crash in between): its newest record's time, or `now` if that
    /// time is in the future. `None` while the item is open.
    pub fn end_time_unnoted(&self, now: Millis) -> Option<Millis> {
        self.phase.is_final().then(|| self.updated_at.min(now))
    }

    pub fn media_type(&self) -> MediaType {
        self.offer.media_type
    }

    /// The converter of the current epoch.
    pub fn converter(&self) -> Option<&NodeId> {
        self.assignment.as_ref().map(|(_, c)| c)
    }

    pub fn epoch(&self) -> Option<Epoch> {
        self.assignment.as_ref().map(|(e, _)| *e)
    }

    /// Lays the converter's newest progress report (made at `at`, its clock) over the state
    /// its records give, while the item runs: the phase and progress users see are the ones a
    /// progress record used to give (queued → accepted, then transferring or converting).
    /// Records stay the only input of the fold; reports are not records.
    pub fn overlay_progress(&mut self, progress: ProgressInfo, at: Millis) {
        if !matches!(
            self.phase,
            Phase::Accepted | Phase::Transferring | Phase::Converting
        ) {
            return;
        }
        self.phase = fold::running_phase(Some(&progress), true);
        self.progress = match self.phase {
            Phase::Transferring | Phase::Converting => Some(progress),
            _ => None,
        };
        self.updated_at = self.updated_at.max(at);
    }

    /// Why an item waits, as far as its records tell (the origin's engine knows more:
    /// [`crate::engine::Engine::retry_note`], [`crate::engine::Engine::lease_note`]).
    pub fn waiting(&self) -> Option<Waiting> {
        match self.phase {
            Phase::Offered => Some(match (&self.released, self.lost_now()) {
                (Some((by, reason, _)), _) => Waiting::GivenBack {
                    converter: by.clone(),
                    reason: reason.clone(),
                },
                (None, Some(lost)) => Waiting::ResultLost {
                    converter: lost.converter.clone(),
                    reason: lost.error.clone(),
                },
                (None, None) => Waiting::ForConverter,
            }),
            Phase::Rejected => self
                .rejections
                .iter()
                .max_by_key(|r| (r.epoch, r.at))
                .map(|r| Waiting::Rejected {
                    converter: r.server_id.clone(),
                    reason: r.reason.clone(),
                }),
            Phase::Retrying => self.after_last_failure(NextAttempt::WaitingForConverter),
            _ => None,
        }
    }

    /// The current epoch's result, if its converter lost it (and it does not count).
    fn lost_now(&self) -> Option<&FailedAttempt> {
        self.lost_results
            .last()
            .filter(|l| Some(l.epoch) == self.epoch())
    }

    /// The latest failed attempt, with what comes next.
    pub fn after_last_failure(&self, next: NextAttempt) -> Option<Waiting> {
        self.failures.last().map(|f| Waiting::AfterFailure {
            attempt: self.failures.len(),
            converter: f.converter.clone(),
            error: f.error.clone(),
            next,
        })
    }
}
