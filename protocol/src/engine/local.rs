//! This node's own records ([`Event::Local`](super::Event::Local)): which it may make now.

use crate::item::{ItemState, Phase};
use crate::record::{Authority, RecordBody};
use crate::schedule::occupies_converter;

use super::Engine;

impl Engine {
    /// Whether this node may make `body` now: it must be the record's author by
    /// [`RecordBody::authority`] (the item's origin, or the converter of the item's current
    /// epoch), and the item must be where the record belongs. Node records and assignments
    /// are the engine's own decisions, never a local event's; an offer must be for an item not
    /// known yet.
    pub fn may_author(&self, body: &RecordBody) -> bool {
        let Some(item_id) = body.item_id() else {
            return false;
        };
        let item = self.replica.item(&item_id);
        if let RecordBody::Offer(_) = body {
            return item.is_none()
                && !self.replica.is_compacted(body)
                && !self.replica.is_ended(&item_id);
        }
        // Not in memory: unknown, or ended (dropped or compacted), when no record fits.
        let Some(item) = item else {
            return false;
        };
        let me = self.cfg.me();
        let ours = match body.authority() {
            Authority::Itself => false,
            Authority::Origin => item.origin == *me,
            Authority::Converter(epoch) => item
                .assignment
                .as_ref()
                .is_some_and(|(e, c)| *e == epoch && c == me),
        };
        ours && in_turn(body, item)
    }
}

/// Whether the item is in a phase where `body` belongs (its author already checked).
fn in_turn(body: &RecordBody, item: &ItemState) -> bool {
    let running = matches!(
        item.phase,
        Phase::Accepted | Phase::Transferring | Phase::Converting
    );
    match body {
        RecordBody::Node(_) | RecordBody::Offer(_) | RecordBody::Assign { .. } => false,
        RecordBody::Cancel { .. }
        | RecordBody::Priority { .. }
        | RecordBody::Failed { epoch: None, .. } => !item.phase.is_final(),
        // Once, and only for an offer that left its checksum out; in any phase, so an item
        // delivered or ended early still gets its source's SHA-512.
        RecordBody::Checksum { .. } => item.source_sha512().is_none(),
        RecordBody::Accept { .. } | RecordBody::Reject { .. } => item.phase == Phase::Assigned,
        RecordBody::Release { .. } => occupies_converter(item),
        // Progress is an ephemeral report, never a record (`Engine::report_progress`).
        RecordBody::Progress { .. } => false,
        RecordBody::Converted { .. } | RecordBody::Failed { epoch: Some(_), .. } => running,
        RecordBody::Delivered { epoch, .. } | RecordBody::ResultRefused { epoch, .. } => {
            item.phase == Phase::Converted && item.epoch() == Some(*epoch)
        }
    }
}
