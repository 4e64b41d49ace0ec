//! Time-driven duties, run on `Tick`: leases (origin), heartbeats and retention (converter).

use crate::ids::{Epoch, ItemId, Millis, NodeId};
use crate::item::Phase;
use crate::record::{ProgressInfo, RecordBody};
use crate::schedule::{occupies_converter, pick_converter, Candidate};

use super::{next_epoch, Effect, Engine, HEARTBEAT_MS};

/// Origin: an item whose converter was silent past the lease, and where it goes next.
struct Reassign {
    item_id: ItemId,
    epoch: Epoch,
    silent: NodeId,
    next: NodeId,
    silent_ms: Millis,
}

impl Engine {
    /// Runs the time-driven duties: everything due is found first, then recorded, in this
    /// order: reassignments, heartbeats, deleted results.
    pub(super) fn timers(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let reassign = self.expired_leases(now);
        let heartbeats = self.due_heartbeats(now);
        let expired = self.expired_results(now);
        for r in reassign {
            self.heard.insert(r.item_id, now);
            self.author(
                RecordBody::Assign {
                    item_id: r.item_id,
                    epoch: r.epoch,
                    converter: r.next.clone(),
                },
                now,
                fx,
            );
            fx.push(Effect::LeaseExpired {
                item_id: r.item_id,
                silent: r.silent,
                silent_ms: r.silent_ms,
                next: r.next,
                epoch: r.epoch,
            });
        }
        for (item_id, epoch, progress) in heartbeats {
            self.report_progress(item_id, epoch, progress, now, fx);
        }
        let days = self.cfg.retention / (24 * 3600 * 1000);
        for (item_id, epoch) in expired {
            // Goes into the record: the text is part of the wire data.
            let error = format!(
                "the converter deleted its result: the origin did not fetch it within the \
                 retention time ({days} days)"
            );
            let body = RecordBody::Failed {
                item_id,
                epoch: Some(epoch),
                error,
                certain: false,
            };
            self.author(body, now, fx);
        }
    }

    /// Origin, while online: our items whose converter has been silent for the lease, each
    /// with the converter it goes to next (none when no other can take it).
    fn expired_leases(&self, now: Millis) -> Vec<Reassign> {
        let me = self.cfg.me();
        if self.connected.is_empty() {
            return Vec::new();
        }
        let mut candidates = self.candidates();
        let mut out = Vec::new();
        for item in self.replica.open_items() {
            let Some((_, converter)) = item.assignment.as_ref() else {
                continue;
            };
            if item.origin != *me || !occupies_converter(item) || converter == me {
                continue;
            }
            let id = item.item_id();
            let since = self
                .heard
                .get(&id)
                .copied()
                .unwrap_or(0)
                .max(self.lease_base);
            let silent_ms = now.saturating_sub(since);
            if silent_ms < self.cfg.lease {
                continue;
            }
            let others: Vec<Candidate> = candidates
                .iter()
                .filter(|c| c.id != converter)
                .cloned()
                .collect();
            if let Some(next) = pick_converter(item, &others, now) {
                out.push(Reassign {
                    item_id: id,
                    epoch: next_epoch(item),
                    silent: converter.clone(),
                    next: next.clone(),
                    silent_ms,
                });
                if let Some(c) = candidates.iter_mut().find(|c| c.id == next) {
                    c.load += 1;
                }
            }
        }
        out
    }

    /// Converter, while connected to anyone (a report reaches an origin through the nodes
    /// between): items we hold for another origin that have had no record or report of ours
    /// for a heartbeat, with the progress to report again.
    fn due_heartbeats(&self, now: Millis) -> Vec<(ItemId, Epoch, ProgressInfo)> {
        let me = self.cfg.me();
        let mut out = Vec::new();
        for item in self.replica.open_items() {
            let Some((epoch, converter)) = item.assignment.as_ref() else {
                continue;
            };
            let id = item.item_id();
            if converter == me
                && item.origin != *me
                && occupies_converter(item)
                && item.phase != Phase::Assigned
                && !self.connected.is_empty()
                && self
                    .reported
                    .get(&id)
                    .is_none_or(|t| now.saturating_sub(*t) >= HEARTBEAT_MS)
            {
                out.push((id, *epoch, self.last_progress(&id, *epoch)));
            }
        }
        out
    }

    /// Converter: results kept past the retention time for an origin that never fetched them.
    fn expired_results(&self, now: Millis) -> Vec<(ItemId, Epoch)> {
        let me = self.cfg.me();
        self.replica
            .open_items()
            .filter_map(|item| {
                let (epoch, converter) = item.assignment.as_ref()?;
                let expired = converter == me
                    && item.origin != *me
                    && item.phase == Phase::Converted
                    && item
                        .converted_at
                        .is_some_and(|t| now.saturating_sub(t) >= self.cfg.retention);
                expired.then_some((item.item_id(), *epoch))
            })
            .collect()
    }
}
