//! A node's store in the simulation, as a node's SQLite keeps it: every record persisted (with
//! when it was received), removed at compaction, and the compaction state. It answers peers'
//! `Sync` for an engine that drops ended items from memory (`EngineConfig::drop_ended`), and
//! rebuilds an engine at a restart the way a node's store does: ended items' records stay out
//! of memory.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ops::ControlFlow;

use dmc_protocol::engine::{Compaction, Restored};
use dmc_protocol::replica::RecordSource;
use dmc_protocol::{ItemId, ItemState, Millis, NodeId, Record, Seq};

#[derive(Clone, Debug, Default)]
pub struct SimStore {
    pub records: BTreeMap<(NodeId, Seq), (Record, Millis)>,
    pub ended: BTreeMap<ItemId, Millis>,
    pub tombstones: BTreeMap<ItemId, Millis>,
    pub horizons: BTreeMap<NodeId, Seq>,
}

impl SimStore {
    /// Stores records (a duplicate keeps its first receipt time).
    pub fn persist(&mut self, records: impl IntoIterator<Item = (Record, Millis)>) {
        for (r, at) in records {
            self.records
                .entry((r.author.clone(), r.seq))
                .or_insert((r, at));
        }
    }

    /// Stores a compaction as a node's store does.
    pub fn compact(&mut self, c: &Compaction) {
        for (id, at) in &c.ended {
            self.ended.entry(*id).or_insert(*at);
        }
        for (id, at) in &c.items {
            self.records
                .retain(|_, (r, _)| r.body.item_id() != Some(*id));
            self.ended.remove(id);
            self.tombstones.insert(*id, *at);
        }
        for k in &c.node_records {
            self.records.remove(k);
        }
        for (a, s) in &c.horizons {
            let h = self.horizons.entry(a.clone()).or_insert(0);
            *h = (*h).max(*s);
        }
    }

    /// Every item the stored records fold to (records alone: receipt times are the authors').
    pub fn states(&self) -> BTreeMap<ItemId, ItemState> {
        let mut by_item: BTreeMap<ItemId, Vec<&Record>> = BTreeMap::new();
        for (r, _) in self.records.values() {
            if let Some(id) = r.body.item_id() {
                by_item.entry(id).or_default().push(r);
            }
        }
        by_item
            .into_values()
            .filter_map(ItemState::fold)
            .map(|s| (s.item_id(), s))
            .collect()
    }

    /// What a node's store gives at start: records of items not ended, horizons counting
    /// every stored record, the highest seq stored per author.
    pub fn restored(&self) -> Restored {
        let mut horizons = self.horizons.clone();
        let mut tops: BTreeMap<NodeId, Seq> = BTreeMap::new();
        for (a, s) in self.records.keys() {
            let h = horizons.entry(a.clone()).or_insert(0);
            if *s == *h + 1 {
                *h = *s;
            }
            tops.insert(a.clone(), *s);
        }
        let ended = |r: &Record| {
            r.body
                .item_id()
                .is_some_and(|i| self.ended.contains_key(&i))
        };
        Restored {
            records: self
                .records
                .values()
                .filter(|(r, _)| !ended(r))
                .cloned()
                .collect(),
            tombstones: self.tombstones.iter().map(|(i, a)| (*i, *a)).collect(),
            horizons: horizons.into_iter().filter(|(_, s)| *s > 0).collect(),
            ended: self.ended.iter().map(|(i, a)| (*i, *a)).collect(),
            top_seqs: tops.into_iter().collect(),
        }
    }
}

impl RecordSource for SimStore {
    type Error = Infallible;
    fn visit_from(
        &self,
        author: &NodeId,
        from: Seq,
        visit: &mut dyn FnMut(&Record) -> ControlFlow<()>,
    ) -> Result<(), Infallible> {
        let range = (author.clone(), from)..=(author.clone(), Seq::MAX);
        for (r, _) in self.records.range(range).map(|(_, v)| v) {
            if visit(r).is_break() {
                break;
            }
        }
        Ok(())
    }
}
