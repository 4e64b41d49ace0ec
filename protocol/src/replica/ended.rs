//! Ended items out of memory: once an item's phase is final (delivered, failed, cancelled),
//! no record changes it, so a node whose store answers peers (`Engine::answer_sync_from`)
//! folds it one last time and drops its records and state from memory; they stay in the store
//! until compaction. What stays in memory is the fact that it ended, so a late or repeated
//! record about it is recognised ([`Inserted::Ended`]) and never resurrects, re-assigns or
//! re-delivers it.

use std::collections::BTreeSet;

use super::{Inserted, Replica};
use crate::ids::{ItemId, NodeId, Seq};

impl Replica {
    /// Drops an ended item's records and folded state from memory, keeping the fact that it
    /// ended. Returns the authors of the records dropped (they stay in the store until the
    /// item is compacted); does nothing (returns `None`) unless the item is held and final.
    pub fn drop_ended(&mut self, id: ItemId) -> Option<BTreeSet<NodeId>> {
        if !self.items.get(&id).is_some_and(|i| i.phase.is_final()) {
            return None;
        }
        self.items.remove(&id);
        self.open.remove(&id);
        let mut authors = BTreeSet::new();
        for key in self.by_item.remove(&id).unwrap_or_default() {
            if self.records.remove(&key).is_some() && key.1 > self.horizon(&key.0) {
                // Held in the store: the horizon passes over it once the hole below fills.
                self.compacted_above.insert(key.clone());
            }
            authors.insert(key.0);
        }
        self.ended.insert(id);
        Some(authors)
    }

    /// Notes an item that ended and whose records are not loaded (at start, from the store's
    /// `ended` table), unless it was compacted.
    pub fn add_ended(&mut self, id: ItemId) {
        if !self.tombstones.contains_key(&id) {
            self.ended.insert(id);
        }
    }

    /// Whether an item ended and was dropped from memory.
    pub fn is_ended(&self, id: &ItemId) -> bool {
        self.ended.contains(id)
    }

    /// How many ended items were dropped from memory (not compacted yet).
    pub fn ended_len(&self) -> usize {
        self.ended.len()
    }

    /// Whether any record or state of the item is in memory.
    pub fn in_memory(&self, id: &ItemId) -> bool {
        self.items.contains_key(id) || self.by_item.contains_key(id)
    }

    /// A record about a dropped ended item: a duplicate if its seq is at or below its
    /// author's horizon or known held above it; otherwise new here, counted as held (the
    /// caller stores it) and not kept in memory.
    pub(super) fn insert_ended(&mut self, key: (NodeId, Seq)) -> Inserted {
        if key.1 <= self.horizon(&key.0) || self.compacted_above.contains(&key) {
            return Inserted::Duplicate;
        }
        let author = key.0.clone();
        self.compacted_above.insert(key);
        self.advance(&author);
        Inserted::Ended
    }

    /// Every author with its horizon (what a compaction of a dropped item stores: which
    /// authors its records had is no longer in memory).
    pub fn all_horizons(&self) -> Vec<(NodeId, Seq)> {
        self.contiguous
            .iter()
            .filter(|(_, s)| **s > 0)
            .map(|(a, s)| (a.clone(), *s))
            .collect()
    }
}
