//! Progress reports: where the assigned converter is with an item, sent about once a second
//! (and as a heartbeat every [`HEARTBEAT_MS`](crate::engine::HEARTBEAT_MS) while it waits).
//! They are signed like records but are not records: no sequence number, never stored or
//! replicated by sync; each node keeps only the newest per item in memory, and a newer one
//! replaces it. Losing one costs nothing: the next one follows within seconds.

use serde::{Deserialize, Serialize};

use crate::ids::{Epoch, ItemId, Millis, NodeId};
use crate::record::{InvalidRecord, ProgressInfo, Signature};

/// A converter's signed word on where it is with an item in an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    pub author: NodeId,
    pub item_id: ItemId,
    pub epoch: Epoch,
    pub progress: ProgressInfo,
    /// When the converter made it (its clock): a later report of the same author, item and
    /// epoch replaces an earlier one.
    pub created_at: Millis,
    pub sig: Signature,
}

impl ProgressReport {
    /// Checks the shape: a valid author id and progress within its bounds. The signature
    /// is [`crate::sign::verify_report`]'s, the author's right the engine's.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        if !self.author.is_valid() {
            return Err(InvalidRecord::Author(self.author.as_str().into()));
        }
        self.progress.validate()
    }

    /// Whether this report says more recent things than `held` about the same item: a later
    /// epoch, or the same epoch and author, made later.
    pub fn newer_than(&self, held: &ProgressReport) -> bool {
        (self.epoch, self.created_at) > (held.epoch, held.created_at)
            && (self.epoch > held.epoch || self.author == held.author)
    }
}
