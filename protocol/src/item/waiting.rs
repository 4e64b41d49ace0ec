//! Why an item is not moving, as data: the node's control API puts it into words for
//! `status` (`waiting_reason`).

use crate::ids::{Millis, NodeId};

/// Why an item waits, with the ids and numbers that tell it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Offered, and no converter has taken it.
    ForConverter,
    /// A converter gave it back (it was shutting down); another converter may take it.
    GivenBack { converter: NodeId, reason: String },
    /// The converter of the current attempt answered that its result is gone (`reason`); the
    /// item is converted again, and this does not count as an attempt.
    ResultLost { converter: NodeId, reason: String },
    /// The converter of the latest refusal, and its reason; another converter may take it.
    Rejected { converter: NodeId, reason: String },
    /// The latest attempt (numbered from 1) failed on `converter`; `next` says what follows.
    AfterFailure {
        attempt: usize,
        converter: NodeId,
        error: String,
        next: NextAttempt,
    },
    /// Origin: the converter holds the result but is not connected.
    ResultHeldOffline { converter: NodeId },
    /// Origin: this node has no connection; the converter keeps the item until it returns.
    Offline { converter: NodeId },
    /// Origin: nothing heard from the converter for `silent_ms`; after `lease_ms` of silence
    /// the item goes to another converter.
    Silent {
        converter: NodeId,
        silent_ms: Millis,
        lease_ms: Millis,
    },
}

/// After a failed attempt: what the origin does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextAttempt {
    /// The backoff is over; the next converter free takes it.
    WaitingForConverter,
    /// The backoff ends in `in_ms`.
    Retry { in_ms: Millis },
    /// No attempts left.
    GivingUp,
}
