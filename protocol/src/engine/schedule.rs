//! The scheduling pass, run after every event: re-derives from the records what this node
//! should be doing now. As origin it assigns waiting items, retries failed ones after their
//! backoff or gives up on them, and fetches results; as converter it evaluates and runs what
//! it was given.

use std::collections::BTreeMap;

use crate::ids::{Epoch, ItemId, Millis, NodeId};
use crate::item::{ItemState, Phase};
use crate::record::RecordBody;
use crate::schedule::{pick_converter, Candidate, QueueKey};

use super::{next_epoch, Effect, Engine};

/// For each of our items waiting to be retried: how many attempts had failed, and since when
/// (our clock) we have known it.
type RetryClocks = BTreeMap<ItemId, (usize, Millis)>;

/// What the origin does with one of its waiting items.
enum OriginStep {
    Assign(NodeId),
    /// Fail it for good, saying why.
    GiveUp(String),
}

/// The queue key of `effect` when it runs a job of `item`: `RunJob`s are put in queue order.
fn run_key(item: &ItemState, effect: &Effect) -> Option<QueueKey> {
    matches!(effect, Effect::RunJob { .. }).then(|| item.queue_key())
}

impl Engine {
    /// Re-derives, from the records, what this node should be doing now.
    pub(super) fn schedule(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let retrying = self.retry_clocks(now);
        let mut assign: Vec<(ItemId, Epoch, NodeId)> = Vec::new();
        let mut give_up: Vec<(ItemId, String)> = Vec::new();
        let mut duties: Vec<(Option<QueueKey>, Effect)> = Vec::new();
        {
            let mut candidates = self.candidates();
            for item in self.replica.open_items() {
                match self.origin_step(item, &retrying, &candidates, now) {
                    Some(OriginStep::Assign(c)) => {
                        if let Some(cand) = candidates.iter_mut().find(|x| *x.id == c) {
                            cand.load += 1;
                        }
                        assign.push((item.item_id(), next_epoch(item), c));
                    }
                    Some(OriginStep::GiveUp(why)) => give_up.push((item.item_id(), why)),
                    None => duties.extend(self.duty(item).map(|e| (run_key(item, &e), e))),
                }
            }
        }
        // Jobs in queue order, so that when fewer workers are free than jobs wait, the first
        // in the queue start; other duties first, in item order.
        duties.sort_by_key(|a| a.0);
        fx.extend(duties.into_iter().map(|(_, e)| e));
        self.retry_since = retrying;
        self.forget_stale_releases();
        for (item_id, epoch, converter) in assign {
            self.heard.insert(item_id, now);
            self.retry_since.remove(&item_id);
            let body = RecordBody::Assign {
                item_id,
                epoch,
                converter,
            };
            self.author(body, now, fx);
        }
        for (item_id, error) in give_up {
            self.retry_since.remove(&item_id);
            let body = RecordBody::Failed {
                item_id,
                epoch: None,
                error,
                certain: false,
            };
            self.author(body, now, fx);
        }
    }

    /// Our items waiting to be retried: since when each has waited (kept from the last pass
    /// while its count of failures is the same).
    fn retry_clocks(&self, now: Millis) -> RetryClocks {
        let me = self.cfg.me();
        let mut retrying = RetryClocks::new();
        for item in self.replica.open_items() {
            if item.origin == *me && item.phase == Phase::Retrying {
                let failed = item.failures.len();
                let since = match self.retry_since.get(&item.item_id()) {
                    Some((n, since)) if *n == failed => *since,
                    _ => now,
                };
                retrying.insert(item.item_id(), (failed, since));
            }
        }
        retrying
    }

    /// Origin: what to do with one of our items that waits for a converter, if anything now.
    fn origin_step(
        &self,
        item: &ItemState,
        retrying: &RetryClocks,
        candidates: &[Candidate<'_>],
        now: Millis,
    ) -> Option<OriginStep> {
        if item.origin != *self.cfg.me() {
            return None;
        }
        let picked = match item.phase {
            Phase::Retrying => {
                let (failed, since) = retrying.get(&item.item_id()).copied()?;
                if let Some(why) = self.give_up_because(item, failed) {
                    return Some(OriginStep::GiveUp(why));
                }
                if now < since.saturating_add(self.cfg.backoff_after(failed)) {
                    return None;
                }
                pick_converter(item, candidates, now)
            }
            Phase::Offered | Phase::Rejected => {
                let back = item
                    .epoch()
                    .is_some_and(|e| self.back_after_release.contains(&(item.item_id(), e)));
                if back {
                    // Its converter gave it back and has restarted since.
                    let mut again = item.clone();
                    again.released = None;
                    pick_converter(&again, candidates, now)
                } else {
                    pick_converter(item, candidates, now)
                }
            }
            _ => return None,
        };
        picked.map(|c| OriginStep::Assign(c.clone()))
    }

    /// Why the origin ends a retrying item that has failed `failed` times, if it must: the
    /// last failure would repeat on any converter, or `max_attempts` are used up. The text
    /// goes into the record: it is part of the wire data.
    fn give_up_because(&self, item: &ItemState, failed: usize) -> Option<String> {
        let attempts = if failed == 1 { "attempt" } else { "attempts" };
        if item.failures.last().is_some_and(|f| f.certain) {
            return Some(format!(
                "gave up after {failed} {attempts}: the failure would repeat on any converter"
            ));
        }
        (failed >= self.cfg.max_attempts as usize)
            .then(|| format!("gave up after {failed} attempts"))
    }

    /// What this node carries out for an item as it stands: fetch our result (origin),
    /// evaluate or run what we were given (converter).
    fn duty(&self, item: &ItemState) -> Option<Effect> {
        let me = self.cfg.me();
        let (epoch, converter) = item.assignment.clone()?;
        let item_id = item.item_id();
        match item.phase {
            Phase::Converted if item.origin == *me => Some(Effect::Deliver {
                item_id,
                epoch,
                converter,
            }),
            Phase::Assigned if converter == *me => Some(Effect::Evaluate { item_id, epoch }),
            Phase::Accepted | Phase::Transferring | Phase::Converting if converter == *me => {
                Some(Effect::RunJob {
                    item_id,
                    epoch,
                    origin: item.origin.clone(),
                })
            }
            _ => None,
        }
    }

    /// Drops the release marks of items no longer waiting in the epoch they were given back.
    fn forget_stale_releases(&mut self) {
        if self.back_after_release.is_empty() {
            return;
        }
        let replica = &self.replica;
        self.back_after_release.retain(|(id, e)| {
            replica
                .item(id)
                .is_some_and(|i| i.phase == Phase::Offered && i.epoch() == Some(*e))
        });
    }
}
