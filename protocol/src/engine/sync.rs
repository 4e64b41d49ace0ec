//! Replication: answering a peer's summary, asking peers for what we lack (a digest first,
//! then the summary in pages by author range), and taking in, checking, budgeting and
//! relaying the records they send.
//!
//! A paged sync ("walk") with a peer: we send the summary of our authors in `from..to` (at
//! most [`MAX_SUMMARY_AUTHORS`] of them); the peer answers a page of the records we lack in
//! that range; while it has more, we ask the same range again (our summary has moved on),
//! then the next range, until the last. One walk per peer at a time; a page that brings
//! nothing new moves on to the next range, and a peer over its budget ends the walk (the
//! next anti-entropy round asks again).

use std::collections::BTreeSet;

use crate::ids::{ItemId, Millis, NodeId, Seq};
use crate::record::Record;
use crate::replica::{page_in, Inserted, Page, RecordSource};
use crate::wire::{
    record_size_estimate, AuthorRange, Request, Response, Summary, MAX_RECORDS_PER_MESSAGE,
    MAX_SUMMARY_AUTHORS,
};

use super::budget::OverBudget;
use super::{note_record_speed, Effect, Engine, RESYNC_INTERVAL_MS, SYNC_PAGE};

/// The `Records` answer carrying a page.
fn records_response(page: Page) -> Response {
    Response::Records {
        records: page.records,
        more: page.more,
        complete: page.complete,
    }
}

/// A paged sync under way with a peer: the author range asked last, and when.
#[derive(Clone, Debug)]
pub(super) struct Walk {
    range: AuthorRange,
    /// The last author the walk needs (the peer's whole summary was known), if any.
    until: Option<NodeId>,
    asked_at: Millis,
}

/// What taking in one batch of records from a peer did.
#[derive(Clone, Debug, Default)]
pub(super) struct Received {
    /// Records new to us, stored.
    new: usize,
    /// Some were refused because the peer's budget was spent.
    over_budget: bool,
    /// The author of the last record sent (pages run in author order: every author before
    /// it in the range was sent in full).
    last_author: Option<NodeId>,
}

impl Engine {
    /// Answers a peer's `SyncDigest`: `InSync` if our summaries match, else the first page of
    /// our summary.
    pub fn answer_digest(&self, digest: &[u8]) -> Response {
        if self.replica.summary().digest() == digest {
            return Response::InSync;
        }
        let (summary, next) = self.replica.summary_page(None, MAX_SUMMARY_AUTHORS);
        Response::Summary { summary, next }
    }

    /// Answers a peer's `Sync`: a page of the records it lacks among the authors of `range`.
    /// `complete` marks pass over what was compacted here.
    pub fn answer_sync(&self, theirs: &Summary, range: &AuthorRange) -> Response {
        records_response(self.replica.missing_in(theirs, range, SYNC_PAGE))
    }

    /// Answers a peer's `Sync` from another source of records (a node's database), with the
    /// same paging rule and our horizons, for records that need not be in memory.
    pub fn answer_sync_from<S: RecordSource>(
        source: &S,
        horizons: &[(NodeId, Seq)],
        theirs: &Summary,
    ) -> Result<Response, S::Error> {
        page_in(source, horizons, theirs, SYNC_PAGE).map(records_response)
    }

    /// What a page answering a peer's `Sync` of `range` with its summary `theirs` covers: our
    /// authors of the range with their horizons, and retired authors the peer is behind on
    /// (for [`Engine::answer_sync_from`]; see [`crate::replica::Replica::horizons_answering`]).
    pub fn sync_horizons(&self, range: &AuthorRange, theirs: &Summary) -> Vec<(NodeId, Seq)> {
        self.replica.horizons_answering(range, theirs)
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

    /// A peer's summary page differs from ours: walk our summary with it, from the first
    /// range if its page shows records we lack, else from where its page ends (if it does).
    pub(super) fn start_walk(
        &mut self,
        peer: NodeId,
        page: &Summary,
        next: Option<NodeId>,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        let walking = self
            .walks
            .get(&peer)
            .is_some_and(|w| now.saturating_sub(w.asked_at) < RESYNC_INTERVAL_MS);
        if !self.connected.contains(&peer) || walking {
            return;
        }
        let more = self.authors_to_walk(page, next.as_ref());
        // Nothing before the first of them to ask for; with the whole summary in the page,
        // nothing after the last of them either.
        let (from, until) = match (more.first(), next) {
            (Some(first), None) => (first.clone(), more.last().cloned()),
            (Some(first), Some(_)) => (first.clone(), None),
            (None, Some(next)) => (next, None),
            (None, None) => return,
        };
        self.ask_records(peer, Some(from), until, now, fx);
    }

    /// The authors a walk with a peer must cover, in author order, seen from its summary
    /// `page` (and `next`, the first author after it): those of whom it holds more than we
    /// know (retired ones counted at their retired horizon), and ours with a hole (records
    /// held or compacted above our horizon) that its page leaves out within its range. The
    /// peer may have retired those past the hole (its answer then marks how far: see
    /// [`crate::replica::Replica::horizons_answering`]), or lack them (it answers nothing).
    fn authors_to_walk(&self, page: &Summary, next: Option<&NodeId>) -> Vec<NodeId> {
        let mut more: Vec<NodeId> = page
            .0
            .iter()
            .filter(|(a, seq)| *seq > self.replica.known_up_to(a))
            .map(|(a, _)| a.clone())
            .collect();
        let theirs: BTreeSet<&NodeId> = page.0.iter().map(|(a, _)| a).collect();
        let (ours, _) = self
            .replica
            .summary_page_through(None, next, MAX_SUMMARY_AUTHORS);
        more.extend(
            ours.0
                .into_iter()
                .filter(|(a, _)| Some(a) != next && !theirs.contains(a))
                .filter(|(a, s)| self.replica.max_seq(a) > *s)
                .map(|(a, _)| a),
        );
        more.sort();
        more
    }

    /// A page of our walk with `peer` arrived: ask for the rest of its range (from the author
    /// the page ended with), or the next range, or end the walk.
    pub(super) fn continue_walk(
        &mut self,
        peer: NodeId,
        more: bool,
        got: Received,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        let Some(walk) = self.walks.get(&peer) else {
            return;
        };
        let until = walk.until.clone();
        let next = if !self.connected.contains(&peer) || got.over_budget {
            None
        } else if more && got.new > 0 {
            Some(got.last_author.max(walk.range.from.clone()))
        } else {
            let past_until = |t: &NodeId| until.as_ref().is_some_and(|u| t > u);
            walk.range.to.clone().filter(|t| !past_until(t)).map(Some)
        };
        match next {
            Some(from) => self.ask_records(peer, from, until, now, fx),
            None => {
                self.walks.remove(&peer);
            }
        }
    }

    /// Asks a peer for a page of the records we lack among the authors from `from` on (up to
    /// `until`, if set): sends our summary of the next [`MAX_SUMMARY_AUTHORS`] of them.
    pub(super) fn ask_records(
        &mut self,
        peer: NodeId,
        from: Option<NodeId>,
        until: Option<NodeId>,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        self.last_sync.insert(peer.clone(), now);
        let (summary, to) =
            self.replica
                .summary_page_through(from.as_ref(), until.as_ref(), MAX_SUMMARY_AUTHORS);
        let range = AuthorRange {
            from: from.clone(),
            to: to.clone(),
        };
        let walk = Walk {
            range,
            until,
            asked_at: now,
        };
        self.walks.insert(peer.clone(), walk);
        fx.push(Effect::Send {
            to: peer,
            request: Request::Sync { summary, from, to },
        });
    }

    /// Takes in records from a peer: each charged to the peer's budget, checked (shape,
    /// signature, authority) or refused, the new ones stored and relayed to every other
    /// connected peer. Records about items compacted here are ignored.
    pub(super) fn receive(
        &mut self,
        from: &NodeId,
        records: Vec<Record>,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) -> Received {
        let mut new = Vec::new();
        let mut stale = Vec::new();
        let mut over: Option<(OverBudget, usize)> = None;
        let last_author = records.last().map(|r| r.author.clone());
        for r in records.into_iter().take(MAX_RECORDS_PER_MESSAGE) {
            // A record we hold already, or one of a retired author at or below its horizon
            // (compacted here), needs no check and costs no budget.
            if self.replica.get(&r.author, r.seq).is_some()
                || self.replica.retired_covers(&r.author, r.seq)
            {
                continue;
            }
            // Charged before the signature check: a flood over budget costs no verifying.
            let charged = self
                .budgets
                .charge(from, record_size_estimate(&r), now, self.cfg.budget);
            if let Err(why) = charged {
                over.get_or_insert((why, 0)).1 += 1;
                continue;
            }
            match self.check(from, r, now, fx) {
                Checked::New(r) => new.push(*r),
                Checked::Compacted(Some(id)) if !stale.contains(&id) => stale.push(id),
                Checked::Compacted(_) | Checked::Dropped => {}
            }
        }
        if !stale.is_empty() {
            fx.push(Effect::Stale {
                from: from.clone(),
                items: stale,
            });
        }
        if let Some((why, refused)) = over {
            fx.push(Effect::OverBudget {
                from: from.clone(),
                refused,
                why,
            });
        }
        let got = Received {
            new: new.len(),
            over_budget: over.is_some(),
            last_author,
        };
        if !new.is_empty() {
            self.took_in(from, new, now, fx);
        }
        got
    }

    /// Checks a record new to us and inserts it as received `now` (this node's clock).
    fn check(&mut self, from: &NodeId, r: Record, now: Millis, fx: &mut Vec<Effect>) -> Checked {
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
            return Checked::Dropped;
        }
        if r.author == *self.cfg.me() {
            // Our own record coming back (perhaps after our store was restored from an
            // older copy): never reuse its sequence number.
            self.next_seq = self.next_seq.max(r.seq + 1);
        }
        match self.replica.insert_received(r.clone(), now) {
            Inserted::New => {
                note_record_speed(&mut self.speeds, &r);
                Checked::New(Box::new(r))
            }
            // About an item that ended and left memory: stored and relayed, never folded;
            // in the store until the item is compacted.
            Inserted::Ended => {
                let ended_at = r.body.item_id().and_then(|i| self.ended.get(&i).copied());
                self.note_stored_until(r.author.clone(), ended_at.unwrap_or(now));
                Checked::New(Box::new(r))
            }
            // About an item compacted here: ignored (not stored, folded or relayed).
            Inserted::Compacted => Checked::Compacted(r.body.item_id()),
            Inserted::Duplicate => Checked::Dropped,
        }
    }

    /// New records from `from`: lease clocks of our items their converter renewed, then
    /// stored and relayed to every other connected peer.
    fn took_in(&mut self, from: &NodeId, new: Vec<Record>, now: Millis, fx: &mut Vec<Effect>) {
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
        self.note_records(&new, now, fx);
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

/// What became of one record a peer sent.
enum Checked {
    /// New here: stored, folded, to be relayed (boxed: a record is large, the others small).
    New(Box<Record>),
    /// About an item compacted here (its id): ignored.
    Compacted(Option<ItemId>),
    /// Refused, or held already.
    Dropped,
}
