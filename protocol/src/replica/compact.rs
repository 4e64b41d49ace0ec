//! Compaction of the replica: an ended item's records go and a tombstone stays, so records
//! about it are ignored from then on; superseded node records go; and each author's horizon
//! (the summary) passes over what was compacted, here or at a peer, so nobody asks for the
//! holes.

use super::Replica;
use crate::ids::{ItemId, Millis, NodeId, Seq};
use crate::record::{NodeInfo, RecordBody};

/// What compacting removed: the records (by author and seq) and the horizons of their
/// authors, to store with the removal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub records: Vec<(NodeId, Seq)>,
    pub horizons: Vec<(NodeId, Seq)>,
    /// The item had been dropped from memory: store every author's horizon
    /// ([`Replica::all_horizons`]).
    pub every_author: bool,
}

impl Replica {
    /// The author's horizon: every record of it up to this seq is held or was compacted.
    pub fn horizon(&self, author: &NodeId) -> Seq {
        self.contiguous.get(author).copied().unwrap_or(0)
    }

    /// Raises an author's horizon to `seq` (a stored horizon, or a peer's `complete` mark),
    /// then past the records held above it. Returns whether it moved.
    pub fn raise_horizon(&mut self, author: &NodeId, seq: Seq) -> bool {
        if seq == 0 || self.retired_covers(author, seq) {
            return false;
        }
        self.unretire(author);
        let before = self.horizon(author);
        if seq > before {
            self.contiguous.insert(author.clone(), seq);
            self.compacted_above
                .retain(|(a, s)| a != author || *s > seq);
        }
        self.advance(author);
        self.horizon(author) != before
    }

    /// Moves an author's horizon past the records held (or compacted) right above it.
    pub(super) fn advance(&mut self, author: &NodeId) {
        let c = self.contiguous.entry(author.clone()).or_insert(0);
        loop {
            let next = (author.clone(), *c + 1);
            if !self.records.contains_key(&next) && !self.compacted_above.remove(&next) {
                break;
            }
            *c += 1;
        }
    }

    /// Keeps the newest node record of each author as its description; older ones become
    /// stale, to be compacted.
    pub(super) fn note_node(&mut self, author: &NodeId, seq: Seq, info: &NodeInfo) {
        match self.nodes.get(author) {
            Some((newest, _)) if *newest > seq => {
                self.stale_nodes.insert((author.clone(), seq));
            }
            previous => {
                if let Some((old, _)) = previous {
                    self.stale_nodes.insert((author.clone(), *old));
                }
                self.nodes.insert(author.clone(), (seq, info.clone()));
            }
        }
    }

    /// When a compacted item ended, if it was compacted here.
    pub fn tombstone(&self, id: &ItemId) -> Option<Millis> {
        self.tombstones.get(id).copied()
    }

    /// Every tombstone: compacted items with when they ended.
    pub fn tombstones(&self) -> impl Iterator<Item = (&ItemId, &Millis)> {
        self.tombstones.iter()
    }

    /// Adds a stored tombstone (at start, before the records).
    pub fn add_tombstone(&mut self, id: ItemId, ended_at: Millis) {
        self.tombstones.insert(id, ended_at);
    }

    /// Compacts an item: its records and folded state go, a tombstone (`ended_at`) stays.
    /// For an item already dropped from memory ([`Replica::drop_ended`]) which authors its
    /// records had is no longer known here: `every_author` says to store every horizon.
    pub fn compact(&mut self, id: ItemId, ended_at: Millis) -> Removed {
        self.tombstones.insert(id, ended_at);
        self.items.remove(&id);
        self.open.remove(&id);
        let keys = self.by_item.remove(&id).unwrap_or_default();
        let mut removed = self.remove_records(keys.into_iter().collect());
        removed.every_author = self.ended.remove(&id);
        removed
    }

    /// Compacts node records superseded by a newer one of the same author, once the
    /// author's horizon has passed them.
    pub fn compact_stale_nodes(&mut self) -> Removed {
        let due: Vec<(NodeId, Seq)> = self
            .stale_nodes
            .iter()
            .filter(|(a, s)| *s <= self.horizon(a))
            .cloned()
            .collect();
        for k in &due {
            self.stale_nodes.remove(k);
        }
        self.remove_records(due)
    }

    fn remove_records(&mut self, keys: Vec<(NodeId, Seq)>) -> Removed {
        let mut authors = std::collections::BTreeSet::new();
        for key in &keys {
            if self.records.remove(key).is_some() && key.1 > self.horizon(&key.0) {
                self.compacted_above.insert(key.clone());
            }
            authors.insert(key.0.clone());
        }
        let horizons = authors
            .into_iter()
            .map(|a| {
                let h = self.horizon(&a);
                (a, h)
            })
            .collect();
        Removed {
            records: keys,
            horizons,
            every_author: false,
        }
    }

    /// Items whose records are held without their offer (so no state folds from them), all
    /// made before `cutoff`: perhaps compacted by the others before we got the offer.
    pub fn orphans_before(&self, cutoff: Millis) -> Vec<ItemId> {
        self.by_item
            .iter()
            .filter(|(id, _)| !self.items.contains_key(id))
            .filter(|(_, keys)| {
                keys.iter()
                    .filter_map(|k| self.records.get(k))
                    // The author's clock, capped at when we received it.
                    .all(|(r, received)| r.created_at.min(*received) < cutoff)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether a record would be about a compacted item.
    pub fn is_compacted(&self, body: &RecordBody) -> bool {
        body.item_id()
            .is_some_and(|i| self.tombstones.contains_key(&i))
    }
}
