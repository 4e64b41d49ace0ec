//! The set of records a node holds, indexed by author and item, with the per-author summary
//! used to find what a peer lacks.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{Epoch, ItemId, Millis, NodeId, Seq};
use crate::item::ItemState;
use crate::record::{Authority, NodeInfo, Record, RecordBody};
use crate::wire::{record_size_estimate, Summary};

/// A record made by a node with no right to it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OutOfTurn {
    #[error(
        "out-of-turn {kind} record for item {item_id} from {}: only its origin {} may make it",
        author.short(),
        origin.short()
    )]
    NotOrigin {
        kind: &'static str,
        item_id: ItemId,
        author: NodeId,
        origin: NodeId,
    },
    #[error(
        "out-of-turn {kind} record for item {item_id} epoch {epoch} from {}: the item is \
         assigned to {} for that epoch",
        author.short(),
        converter.short()
    )]
    NotConverter {
        kind: &'static str,
        item_id: ItemId,
        epoch: Epoch,
        author: NodeId,
        converter: NodeId,
    },
}

/// Limits of one page of records sent in answer to a summary.
#[derive(Clone, Copy, Debug)]
pub struct PageLimit {
    pub records: usize,
    pub bytes: usize,
}

/// What inserting a record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New,
    Duplicate,
}

/// All records a node holds, with the folded state of every item.
#[derive(Debug, Default)]
pub struct Replica {
    /// Every record, by (author, seq), with when this node received it (its own clock: what
    /// timers count from).
    records: BTreeMap<(NodeId, Seq), (Record, Millis)>,
    /// Per author: every seq in 1..=n is held.
    contiguous: BTreeMap<NodeId, Seq>,
    /// Record keys by item.
    by_item: BTreeMap<ItemId, BTreeSet<(NodeId, Seq)>>,
    /// Folded items (only those whose offer is known).
    items: BTreeMap<ItemId, ItemState>,
    /// Items whose phase is not final: the only ones scheduling can act on.
    open: BTreeSet<ItemId>,
    /// Latest node record per author: (seq, info).
    nodes: BTreeMap<NodeId, (Seq, NodeInfo)>,
}

impl Replica {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record (already validated) as received when it was made (tests, and records
    /// this node makes). Returns whether it was new.
    pub fn insert(&mut self, record: Record) -> Inserted {
        let at = record.created_at;
        self.insert_received(record, at)
    }

    /// Adds a record (already validated) that this node received at `received_at` (its own
    /// clock). Returns whether it was new; a duplicate keeps its first receipt time.
    pub fn insert_received(&mut self, record: Record, received_at: Millis) -> Inserted {
        let key = (record.author.clone(), record.seq);
        if self.records.contains_key(&key) {
            return Inserted::Duplicate;
        }
        let author = record.author.clone();
        let item = record.body.item_id();
        if let RecordBody::Node(info) = &record.body {
            let newer = self.nodes.get(&author).is_none_or(|(s, _)| *s < record.seq);
            if newer {
                self.nodes
                    .insert(author.clone(), (record.seq, info.clone()));
            }
        }
        self.records.insert(key.clone(), (record, received_at));
        // Advance the author's contiguous prefix.
        let c = self.contiguous.entry(author.clone()).or_insert(0);
        while self.records.contains_key(&(author.clone(), *c + 1)) {
            *c += 1;
        }
        if let Some(item) = item {
            self.by_item.entry(item).or_default().insert(key);
            self.refold(item);
        }
        Inserted::New
    }

    fn refold(&mut self, item: ItemId) {
        let Some(keys) = self.by_item.get(&item) else {
            return;
        };
        let state = ItemState::fold_received(
            keys.iter()
                .filter_map(|k| self.records.get(k))
                .map(|(r, at)| (r, *at)),
        );
        match state {
            Some(s) => {
                if s.phase.is_final() {
                    self.open.remove(&item);
                } else {
                    self.open.insert(item);
                }
                self.items.insert(item, s);
            }
            None => {
                self.open.remove(&item);
                self.items.remove(&item);
            }
        }
    }

    /// Whether `r`'s author may make it ([`RecordBody::authority`]), as far as the records
    /// held tell. A record that cannot be judged yet (its offer or assignment not held)
    /// passes; the fold ignores it if it turns out out of turn.
    pub fn authority(&self, r: &Record) -> Result<(), OutOfTurn> {
        let Some(item_id) = r.body.item_id() else {
            return Ok(());
        };
        let Some(item) = self.items.get(&item_id) else {
            return Ok(());
        };
        let epoch = match r.body.authority() {
            Authority::Itself => return Ok(()),
            Authority::Origin if r.author == item.origin => return Ok(()),
            Authority::Origin => {
                return Err(OutOfTurn::NotOrigin {
                    kind: r.body.kind(),
                    item_id,
                    author: r.author.clone(),
                    origin: item.origin.clone(),
                })
            }
            Authority::Converter(epoch) => epoch,
        };
        let holder = self
            .item_records(&item_id)
            .into_iter()
            .find_map(|a| match &a.body {
                RecordBody::Assign {
                    epoch: e,
                    converter,
                    ..
                } if a.author == item.origin && *e == epoch => Some(converter),
                _ => None,
            });
        match holder {
            Some(c) if *c != r.author => Err(OutOfTurn::NotConverter {
                kind: r.body.kind(),
                item_id,
                epoch,
                author: r.author.clone(),
                converter: c.clone(),
            }),
            _ => Ok(()),
        }
    }

    pub fn get(&self, author: &NodeId, seq: Seq) -> Option<&Record> {
        self.records.get(&(author.clone(), seq)).map(|(r, _)| r)
    }

    /// When this node received a record it holds (its own clock).
    pub fn received_at(&self, author: &NodeId, seq: Seq) -> Option<Millis> {
        self.records.get(&(author.clone(), seq)).map(|(_, at)| *at)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The highest sequence held from `author` (not necessarily contiguous).
    pub fn max_seq(&self, author: &NodeId) -> Seq {
        self.records
            .range((author.clone(), 0)..=(author.clone(), Seq::MAX))
            .next_back()
            .map(|((_, s), _)| *s)
            .unwrap_or(0)
    }

    pub fn summary(&self) -> Summary {
        Summary(
            self.contiguous
                .iter()
                .map(|(a, s)| (a.clone(), *s))
                .collect(),
        )
    }

    /// Records the holder of `theirs` lacks, in (author, seq) order, at most one page.
    /// Returns the page and whether more remain.
    pub fn missing(&self, theirs: &Summary, limit: PageLimit) -> (Vec<Record>, bool) {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let authors: BTreeSet<&NodeId> = self.contiguous.keys().collect();
        for author in authors {
            let from = theirs.get(author) + 1;
            for (_, (r, _)) in self
                .records
                .range((author.clone(), from)..=(author.clone(), Seq::MAX))
            {
                let size = record_size_estimate(r);
                if out.len() >= limit.records || (bytes + size > limit.bytes && !out.is_empty()) {
                    return (out, true);
                }
                bytes += size;
                out.push(r.clone());
            }
        }
        (out, false)
    }

    pub fn item(&self, id: &ItemId) -> Option<&ItemState> {
        self.items.get(id)
    }

    pub fn items(&self) -> impl Iterator<Item = &ItemState> {
        self.items.values()
    }

    /// Items not in a final phase (delivered, failed, cancelled), in item order: the same as
    /// `items()` filtered on `!phase.is_final()`, without visiting the finished ones, which
    /// are nearly all of them on a node that has run for a while.
    pub fn open_items(&self) -> impl Iterator<Item = &ItemState> {
        self.open.iter().filter_map(|id| self.items.get(id))
    }

    /// The records of one item, in (author, seq) order.
    pub fn item_records(&self, id: &ItemId) -> Vec<&Record> {
        self.by_item
            .get(id)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| self.records.get(k))
                    .map(|(r, _)| r)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn node(&self, id: &NodeId) -> Option<&NodeInfo> {
        self.nodes.get(id).map(|(_, n)| n)
    }

    /// Latest node record of every author, with its sequence number.
    pub fn nodes(&self) -> impl Iterator<Item = (&NodeId, Seq, &NodeInfo)> {
        self.nodes.iter().map(|(id, (s, n))| (id, *s, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MediaType;
    use crate::record::{FileInfo, Offer};

    fn rec(author: &str, seq: Seq, body: RecordBody) -> Record {
        Record {
            author: NodeId::new(author),
            seq,
            created_at: 1,
            body,
            sig: Default::default(),
        }
    }

    fn offer(item_id: ItemId) -> RecordBody {
        RecordBody::Offer(Offer {
            item_id,
            nonce: [0; 16],
            file: FileInfo {
                file_name: "a.mov".into(),
                file_size: 10,
                sha512: "0".repeat(128),
                blake3: "0".repeat(64),
                chunk_size: 1 << 20,
                manifest_hash: "0".repeat(64),
            },
            media_type: MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: None,
            priority: 0,
        })
    }

    fn open_ids(r: &Replica) -> Vec<ItemId> {
        r.open_items().map(|i| i.item_id()).collect()
    }

    fn filtered_ids(r: &Replica) -> Vec<ItemId> {
        r.items()
            .filter(|i| !i.phase.is_final())
            .map(|i| i.item_id())
            .collect()
    }

    #[test]
    fn open_items_are_the_items_not_final() {
        let (x, y) = (ItemId::from_random([1; 16]), ItemId::from_random([2; 16]));
        let mut r = Replica::new();
        // A cancel before its offer: no item yet, nothing open.
        r.insert(rec("O", 3, RecordBody::Cancel { item_id: y }));
        assert!(open_ids(&r).is_empty());
        r.insert(rec("O", 1, offer(x)));
        r.insert(rec("O", 2, offer(y)));
        assert_eq!(open_ids(&r), vec![x]);
        assert_eq!(open_ids(&r), filtered_ids(&r));
        r.insert(rec("O", 4, RecordBody::Cancel { item_id: x }));
        assert!(open_ids(&r).is_empty());
        assert_eq!(open_ids(&r), filtered_ids(&r));
    }

    #[test]
    fn missing_pages_by_records_and_bytes() {
        let mut r = Replica::new();
        for s in 1..=10 {
            r.insert(rec("A", s, offer(ItemId::from_random([s as u8; 16]))));
        }
        let one = crate::wire::record_size_estimate(r.get(&NodeId::new("A"), 1).unwrap());
        let theirs = Summary(vec![(NodeId::new("A"), 2)]);
        let (page, more) = r.missing(
            &theirs,
            PageLimit {
                records: 100,
                bytes: one * 3,
            },
        );
        assert_eq!(
            page.iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(more);
        let (page, more) = r.missing(
            &theirs,
            PageLimit {
                records: 100,
                bytes: usize::MAX,
            },
        );
        assert_eq!(page.len(), 8);
        assert!(!more);
    }
}
