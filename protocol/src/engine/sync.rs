//! Replication: answering a peer's summary, asking peers for what we lack (a digest first),
//! and taking in, checking and relaying the records they send.

use crate::ids::{Millis, NodeId};
use crate::record::Record;
use crate::replica::Inserted;
use crate::wire::{Request, Response, Summary, MAX_RECORDS_PER_MESSAGE};

use super::{note_record_speed, Effect, Engine, RESYNC_INTERVAL_MS, SYNC_PAGE};

impl Engine {
    /// Answers a peer's `SyncDigest`: `InSync` if our summaries match, else our summary.
    pub fn answer_digest(&self, digest: &[u8]) -> Response {
        let mine = self.replica.summary();
        if mine.digest() == digest {
            Response::InSync
        } else {
            Response::Summary { summary: mine }
        }
    }

    /// Answers a peer's `Sync`: a page of the records it lacks.
    pub fn answer_sync(&self, theirs: &Summary) -> Response {
        let (records, more) = self.replica.missing(theirs, SYNC_PAGE);
        Response::Records { records, more }
    }

    /// Connected peers not asked for what we lack within the resync interval.
    pub(super) fn resync_due(&self, now: Millis) -> Vec<NodeId> {
        self.connected
            .iter()
            .filter(|p| {
                self.last_sync
                    .get(*p)
                    .is_none_or(|t| now.saturating_sub(*t) >= RESYNC_INTERVAL_MS)
            })
            .cloned()
            .collect()
    }

    /// Checks with a peer whether we lack anything: a digest first, so that a peer with the
    /// same records answers in a few bytes.
    pub(super) fn ask_sync(&mut self, peer: NodeId, now: Millis, fx: &mut Vec<Effect>) {
        self.last_sync.insert(peer.clone(), now);
        fx.push(Effect::Send {
            to: peer,
            request: Request::SyncDigest {
                digest: self.replica.summary().digest(),
            },
        });
    }

    /// Asks a peer for a page of the records we lack.
    pub(super) fn ask_records(&mut self, peer: NodeId, now: Millis, fx: &mut Vec<Effect>) {
        self.last_sync.insert(peer.clone(), now);
        fx.push(Effect::Send {
            to: peer,
            request: Request::Sync {
                summary: self.replica.summary(),
            },
        });
    }

    /// Takes in records from a peer: each checked (shape, signature, authority) or refused,
    /// the new ones stored and relayed to every other connected peer.
    pub(super) fn receive(
        &mut self,
        from: &NodeId,
        records: Vec<Record>,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        let mut new = Vec::new();
        for r in records.into_iter().take(MAX_RECORDS_PER_MESSAGE) {
            // A record we hold already, byte for byte, needs no second check.
            if self.replica.get(&r.author, r.seq) == Some(&r) {
                continue;
            }
            let checked = r
                .validate()
                .and_then(|()| crate::sign::verify(&r))
                .map_err(|e| e.to_string())
                .and_then(|()| self.replica.authority(&r).map_err(|e| e.to_string()));
            if let Err(reason) = checked {
                fx.push(Effect::Refused {
                    from: from.clone(),
                    reason,
                });
                continue;
            }
            if r.author == *self.cfg.me() {
                // Our own record coming back (perhaps after our store was restored from an
                // older copy): never reuse its sequence number.
                self.next_seq = self.next_seq.max(r.seq + 1);
            }
            if self.replica.insert_received(r.clone(), now) == Inserted::New {
                note_record_speed(&mut self.speeds, &r);
                new.push(r);
            }
        }
        if new.is_empty() {
            return;
        }
        for r in &new {
            let Some(id) = r.body.item_id() else { continue };
            if self
                .replica
                .item(&id)
                .is_some_and(|i| i.origin == *self.cfg.me() && i.converter() == Some(&r.author))
            {
                self.heard.insert(id, now);
            }
        }
        fx.push(Effect::Persist(new.clone()));
        // Relay to every other connected peer.
        for peer in self.connected.iter().filter(|p| *p != from) {
            fx.push(Effect::Send {
                to: peer.clone(),
                request: Request::Push {
                    records: new.clone(),
                },
            });
        }
    }
}
