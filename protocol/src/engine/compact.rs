//! Compaction of ended items: when an item's phase first becomes final here the engine notes
//! the time (this node's clock); `keep_finished` later its records go and a tombstone stays,
//! so records about it that arrive later (from a node that was away) are ignored and nothing
//! resurrects it. Open items silent for `keep_finished` are asked about (`Request::Ended`):
//! a peer that compacted one says so, and we compact it too.

use std::collections::BTreeMap;

use crate::ids::{ItemId, Millis, NodeId, Seq};
use crate::record::Record;
use crate::replica::Replica;
use crate::wire::{Request, Response, MAX_ENDED_ITEMS};

use super::{Effect, Engine};

/// A peer is asked about our silent open items at most this often (and on every connect).
pub const ENDED_ASK_INTERVAL_MS: Millis = 3600 * 1000;

/// What a node stored besides records, to rebuild its engine at start.
#[derive(Clone, Debug, Default)]
pub struct Restored {
    /// The records to hold in memory, with when this node received each (its own clock):
    /// every record, or (a node's store, whose engine drops ended items) all but those of
    /// the items in `ended`.
    pub records: Vec<(Record, Millis)>,
    /// Compacted items, with when they ended.
    pub tombstones: Vec<(ItemId, Millis)>,
    /// Per author: every record up to this seq is held or was compacted.
    pub horizons: Vec<(NodeId, Seq)>,
    /// Items that ended here and are not compacted yet, with when they ended.
    pub ended: Vec<(ItemId, Millis)>,
    /// Per author, the highest seq stored, loaded or not (this node never reuses one of
    /// its own).
    pub top_seqs: Vec<(NodeId, Seq)>,
}

/// Compaction state to store, in one transaction ([`Effect::Compact`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Items that became final here, with when (this node's clock).
    pub ended: Vec<(ItemId, Millis)>,
    /// Items compacted: delete their records (and their `ended` row), keep a tombstone with
    /// this time.
    pub items: Vec<(ItemId, Millis)>,
    /// Superseded node records to delete.
    pub node_records: Vec<(NodeId, Seq)>,
    /// Per author: every record up to this seq is held or was compacted.
    pub horizons: Vec<(NodeId, Seq)>,
    /// Authors retired here (nothing of theirs is held any more), with their horizons
    /// ([`Replica::retire`]). Their horizons are in `horizons` too: the store keeps them as
    /// any horizon, and a restart retires these authors again by the same rule.
    pub retired: Vec<(NodeId, Seq)>,
}

impl Compaction {
    pub fn is_empty(&self) -> bool {
        self.ended.is_empty()
            && self.items.is_empty()
            && self.node_records.is_empty()
            && self.horizons.is_empty()
            && self.retired.is_empty()
    }
}

/// Whether an item that ended at `ended_at` (this node's clock) is compacted at `now`: the one
/// rule, for the engine's compaction and the start's fill-in of an upgraded database.
pub fn compaction_due(ended_at: Millis, now: Millis, keep_finished: Millis) -> bool {
    now.saturating_sub(ended_at) >= keep_finished
}

/// The ended times of final items (those stored) and the last-heard times of open ones (the
/// newest record's time), at start.
pub(super) fn clocks_at_start(
    replica: &Replica,
    stored: Vec<(ItemId, Millis)>,
) -> (BTreeMap<ItemId, Millis>, BTreeMap<ItemId, Millis>) {
    let ended = stored
        .into_iter()
        .filter(|(id, _)| {
            replica
                .item(id)
                .map_or(replica.is_ended(id), |i| i.phase.is_final())
        })
        .collect();
    let touched = replica
        .open_items()
        .map(|i| (i.item_id(), i.updated_at))
        .collect();
    (ended, touched)
}

/// When an open item was last heard of: its newest record's time by its author's clock, or
/// now if that is later. Old records relayed by a node back from a long absence make the
/// item silent at once, so a node that never knew it asks about it at once too.
fn last_heard(item: &crate::item::ItemState, now: Millis) -> Millis {
    item.updated_at.min(now)
}

impl Engine {
    /// At start: final items with no stored end time (stored by a version before compaction,
    /// or a crash in between) ended at their newest record's time, or now if that is later.
    pub(super) fn note_unknown_ends(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let mut c = Compaction::default();
        for item in self.replica.items() {
            let Some(at) = item.end_time_unnoted(now) else {
                continue;
            };
            let id = item.item_id();
            if let std::collections::btree_map::Entry::Vacant(e) = self.ended.entry(id) {
                e.insert(at);
                c.ended.push((id, at));
                self.ended_in_memory.insert(id);
            }
        }
        push(fx, c);
    }

    /// New records were taken in (or made) now: items they made final get their end time,
    /// open ones were heard from.
    pub(super) fn note_records(&mut self, records: &[Record], now: Millis, fx: &mut Vec<Effect>) {
        let mut c = Compaction::default();
        for id in records.iter().filter_map(|r| r.body.item_id()) {
            let Some(item) = self.replica.item(&id) else {
                continue;
            };
            if !item.phase.is_final() {
                self.touched.insert(id, last_heard(item, now));
            } else if !self.ended.contains_key(&id) {
                self.touched.remove(&id);
                self.ended.insert(id, now);
                self.ended_in_memory.insert(id);
                c.ended.push((id, now));
            }
        }
        push(fx, c);
    }

    /// Compacts the items that ended `keep_finished` ago or more, and superseded node
    /// records.
    pub(super) fn compact_due(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let keep = self.cfg.keep_finished;
        let due: Vec<(ItemId, Millis)> = self
            .ended
            .iter()
            .filter(|(_, at)| compaction_due(**at, now, keep))
            .map(|(id, at)| (*id, *at))
            .collect();
        let mut c = Compaction::default();
        let mut every_author = false;
        for (id, at) in due {
            every_author |= self.compact_item(id, at, &mut c);
        }
        if every_author {
            merge_horizons(&mut c.horizons, self.replica.all_horizons());
        }
        let removed = self.replica.compact_stale_nodes();
        c.node_records = removed.records;
        merge_horizons(&mut c.horizons, removed.horizons);
        push(fx, c);
    }

    /// Compacts one item: the replica keeps a tombstone; every clock about it is forgotten.
    /// Returns whether it had been dropped from memory (every author's horizon is to be
    /// stored: see [`Replica::compact`]).
    fn compact_item(&mut self, id: ItemId, ended_at: Millis, c: &mut Compaction) -> bool {
        let removed = self.replica.compact(id, ended_at);
        merge_horizons(&mut c.horizons, removed.horizons);
        c.items.push((id, ended_at));
        self.ended.remove(&id);
        self.touched.remove(&id);
        self.ended_in_memory.remove(&id);
        self.forget_item_clocks(id);
        removed.every_author
    }

    /// With `drop_ended`: the items that ended since the last tick leave memory (their final
    /// state was folded, and the runtime has carried out what their end asked for); only
    /// the fact that they ended stays ([`Replica::drop_ended`]).
    pub(super) fn drop_ended_items(&mut self) {
        if !self.cfg.drop_ended {
            return;
        }
        for id in std::mem::take(&mut self.ended_in_memory) {
            if let Some(authors) = self.replica.drop_ended(id) {
                let ended_at = self.ended.get(&id).copied().unwrap_or(0);
                for author in authors {
                    self.note_stored_until(author, ended_at);
                }
                self.forget_item_clocks(id);
            }
        }
    }

    /// `author` has a record in the store, out of memory, of an item that ended at
    /// `ended_at` (this node's clock): it is compacted `keep_finished` later, and the author
    /// may not retire before.
    pub(super) fn note_stored_until(&mut self, author: NodeId, ended_at: Millis) {
        let until = ended_at.saturating_add(self.cfg.keep_finished);
        let e = self.stored_until.entry(author).or_insert(until);
        *e = (*e).max(until);
    }

    /// Retires the authors of whom this node holds nothing any more: no record in memory,
    /// none in the store (every ended item that had one is compacted), no node description,
    /// and not this node ([`Replica::retire`]). Every node applies this rule to what it
    /// holds, so an author retires on each within about `keep_finished` of its last item's
    /// end.
    pub(super) fn retire_idle(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        self.stored_until.retain(|_, until| *until > now);
        let retired = retire_where(&mut self.replica, self.cfg.me(), &self.stored_until);
        let c = Compaction {
            horizons: retired.clone(),
            retired,
            ..Compaction::default()
        };
        push(fx, c);
    }

    /// Forgets the lease, report and retry clocks of an item that left memory.
    fn forget_item_clocks(&mut self, id: ItemId) {
        self.heard.remove(&id);
        self.reported.remove(&id);
        self.reports.remove(&id);
        self.retry_since.remove(&id);
        self.back_after_release.retain(|(i, _)| *i != id);
    }

    /// Open items we have heard nothing of for `keep_finished` (and items held without their
    /// offer for as long): the others may have compacted them while we were away. At most
    /// one question's worth.
    fn silent_items(&self, now: Millis) -> Vec<ItemId> {
        let keep = self.cfg.keep_finished;
        let orphans = self.replica.orphans_before(now.saturating_sub(keep));
        self.touched
            .iter()
            .filter(|(_, at)| now.saturating_sub(**at) >= keep)
            .map(|(id, _)| *id)
            .chain(orphans)
            .take(MAX_ENDED_ITEMS)
            .collect()
    }

    /// Asks each connected peer not asked within the hour (or since it connected) about our
    /// silent open items. With none, it counts as asked: the next look is an hour later.
    pub(super) fn ask_ended(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let due: Vec<NodeId> = self
            .connected
            .iter()
            .filter(|p| {
                self.asked_ended
                    .get(*p)
                    .is_none_or(|t| now.saturating_sub(*t) >= ENDED_ASK_INTERVAL_MS)
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        let items = self.silent_items(now);
        for peer in due {
            self.asked_ended.insert(peer.clone(), now);
            if !items.is_empty() {
                fx.push(Effect::Send {
                    to: peer,
                    request: Request::Ended {
                        items: items.clone(),
                    },
                });
            }
        }
    }

    /// Answers a peer's `Ended`: the asked items compacted here.
    pub fn answer_ended(&self, items: &[ItemId]) -> Response {
        Response::Ended {
            items: items
                .iter()
                .take(MAX_ENDED_ITEMS)
                .filter(|id| self.replica.tombstone(id).is_some())
                .copied()
                .collect(),
        }
    }

    /// A peer compacted some of the items we asked about: we compact those that are still
    /// silent here (a peer cannot make us drop an item we have heard of lately).
    pub(super) fn take_ended_answer(
        &mut self,
        _from: &NodeId,
        items: Vec<ItemId>,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        let silent = self.silent_items(now);
        let mut c = Compaction::default();
        for id in items.into_iter().take(MAX_ENDED_ITEMS) {
            if silent.contains(&id) {
                // Silent open items are in memory: their records give the horizons.
                self.compact_item(id, now, &mut c);
            }
        }
        push(fx, c);
    }

    /// A sync page's `complete` marks: our horizons pass over what the peer compacted.
    pub(super) fn take_horizons(
        &mut self,
        from: &NodeId,
        complete: Vec<(NodeId, Seq)>,
        fx: &mut Vec<Effect>,
    ) {
        if !self.connected.contains(from) {
            return;
        }
        let mut c = Compaction::default();
        for (author, seq) in complete.into_iter().take(crate::wire::MAX_SUMMARY_AUTHORS) {
            if self.replica.raise_horizon(&author, seq) {
                let h = self.replica.horizon(&author);
                if author == *self.cfg.me() {
                    // Our own records, compacted by others (our store was restored from an
                    // older copy): never reuse their sequence numbers.
                    self.next_seq = self.next_seq.max(h + 1);
                }
                c.horizons.push((author, h));
            }
        }
        push(fx, c);
    }
}

/// Retires the idle authors of `replica` (not `me`) with no record in the store out of
/// memory (`stored_until`); returns them with their horizons.
pub(super) fn retire_where(
    replica: &mut Replica,
    me: &NodeId,
    stored_until: &BTreeMap<NodeId, Millis>,
) -> Vec<(NodeId, Seq)> {
    let mut retired = Vec::new();
    for author in replica.idle_authors(me) {
        if stored_until.contains_key(&author) {
            continue;
        }
        if let Some(h) = replica.retire(&author) {
            retired.push((author, h));
        }
    }
    retired
}

/// Adds horizons, keeping one (the highest) per author, in author order.
fn merge_horizons(into: &mut Vec<(NodeId, Seq)>, more: Vec<(NodeId, Seq)>) {
    if more.is_empty() {
        return;
    }
    let mut all: BTreeMap<NodeId, Seq> = BTreeMap::new();
    for (a, s) in std::mem::take(into).into_iter().chain(more) {
        let e = all.entry(a).or_insert(s);
        *e = (*e).max(s);
    }
    *into = all.into_iter().collect();
}

fn push(fx: &mut Vec<Effect>, c: Compaction) {
    if !c.is_empty() {
        fx.push(Effect::Compact(c));
    }
}
