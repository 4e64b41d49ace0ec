//! The set of records a node holds, indexed by author and item, with the per-author summary
//! used to find what a peer lacks. Compaction (tombstones, horizons over compacted records,
//! superseded node records) is in `replica/compact.rs`; dropping ended items from memory (their
//! records stay in the node's store until compaction) in `replica/ended.rs`; authors that
//! hold nothing any more leaving the summary in `replica/retire.rs`.

mod compact;
mod ended;
mod page;
mod retire;

pub use page::{page_in, Page, PageLimit, RecordSource};

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{Epoch, ItemId, Millis, NodeId, Seq};
use crate::item::ItemState;
use crate::record::{Authority, NodeInfo, Record, RecordBody};
use crate::wire::{AuthorRange, Summary};

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

/// What inserting a record did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    New,
    Duplicate,
    /// About an item compacted here (it has a tombstone): ignored, never stored, so the
    /// item is never resurrected.
    Compacted,
    /// New here, about an item that ended and was dropped from memory
    /// ([`Replica::drop_ended`]): not kept or folded (the item stays as it ended, a final
    /// phase no record changes), but counted as held: the caller stores it, so the store that
    /// answers peers holds it, and relays it.
    Ended,
}

/// All records a node holds, with the folded state of every item.
#[derive(Debug, Default)]
pub struct Replica {
    /// Every record, by (author, seq), with when this node received it (its own clock: what
    /// timers count from).
    records: BTreeMap<(NodeId, Seq), (Record, Millis)>,
    /// Per author: every seq in 1..=n is held or was compacted (the author's horizon).
    contiguous: BTreeMap<NodeId, Seq>,
    /// Record keys by item.
    by_item: BTreeMap<ItemId, BTreeSet<(NodeId, Seq)>>,
    /// Folded items (only those whose offer is known).
    items: BTreeMap<ItemId, ItemState>,
    /// Items whose phase is not final: the only ones scheduling can act on.
    open: BTreeSet<ItemId>,
    /// Latest node record per author: (seq, info).
    nodes: BTreeMap<NodeId, (Seq, NodeInfo)>,
    /// Compacted items, with when they ended (or were found compacted by a peer): records
    /// about them are ignored.
    tombstones: BTreeMap<ItemId, Millis>,
    /// Records not in memory above their author's horizon (a hole below them): compacted,
    /// or of an ended item dropped from memory (held in the store). The horizon passes over
    /// them once the hole is filled.
    compacted_above: BTreeSet<(NodeId, Seq)>,
    /// Items that ended and whose records and state were dropped from memory
    /// ([`Replica::drop_ended`]); their records stay in the node's store until compaction.
    /// A record about one is never kept or folded again ([`Inserted::Ended`]).
    ended: BTreeSet<ItemId>,
    /// Node records superseded by a newer one of the same author, still held.
    stale_nodes: BTreeSet<(NodeId, Seq)>,
    /// Retired authors (`replica/retire.rs`): out of the summary, with their horizon. A
    /// record of one at or below it is ignored; one above brings the author back.
    retired: BTreeMap<NodeId, Seq>,
}

impl Replica {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record (already validated) as received when it was made (tests, and records
    /// this node makes). Returns whether it was new; a record about a compacted item is not
    /// added.
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
        if self.retired_covers(&author, record.seq) {
            // Compacted here (or held) before the author retired.
            return Inserted::Duplicate;
        }
        self.unretire(&author);
        let item = record.body.item_id();
        if item.is_some_and(|i| self.tombstones.contains_key(&i)) {
            // Counts as compacted here: the horizon passes over it.
            if record.seq > self.horizon(&author) {
                self.compacted_above.insert(key);
                self.advance(&author);
            }
            return Inserted::Compacted;
        }
        if item.is_some_and(|i| self.ended.contains(&i)) {
            return self.insert_ended(key);
        }
        if let RecordBody::Node(info) = &record.body {
            self.note_node(&author, record.seq, info);
        }
        self.records.insert(key.clone(), (record, received_at));
        self.advance(&author);
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

    /// The highest sequence held from `author` (not necessarily contiguous), in memory or
    /// known to be held or compacted above a hole.
    pub fn max_seq(&self, author: &NodeId) -> Seq {
        let range = (author.clone(), 0)..=(author.clone(), Seq::MAX);
        let in_memory = self
            .records
            .range(range.clone())
            .next_back()
            .map(|(k, _)| k.1);
        let above = self.compacted_above.range(range).next_back().map(|k| k.1);
        in_memory.max(above).unwrap_or(0)
    }

    pub fn summary(&self) -> Summary {
        Summary(
            self.contiguous
                .iter()
                .map(|(a, s)| (a.clone(), *s))
                .collect(),
        )
    }

    /// The highest sequence up to which every record of `author` is held or known compacted
    /// (its summary entry).
    pub fn held_up_to(&self, author: &NodeId) -> Seq {
        self.contiguous.get(author).copied().unwrap_or(0)
    }

    /// One page of the summary: at most `max` authors from `from` on (included; `None`: the
    /// first author), and the first author after the page (`None`: the page reaches the end).
    pub fn summary_page(&self, from: Option<&NodeId>, max: usize) -> (Summary, Option<NodeId>) {
        self.summary_page_through(from, None, max)
    }

    /// Like [`Replica::summary_page`], ending at `through` (included) if it comes first.
    pub fn summary_page_through(
        &self,
        from: Option<&NodeId>,
        through: Option<&NodeId>,
        max: usize,
    ) -> (Summary, Option<NodeId>) {
        let mut authors = match from {
            Some(f) => self.contiguous.range(f.clone()..),
            None => self.contiguous.range::<NodeId, _>(..),
        }
        .peekable();
        let mut page = Vec::new();
        while let Some((a, s)) = authors.peek() {
            if page.len() >= max || through.is_some_and(|t| *a > t) {
                break;
            }
            page.push(((*a).clone(), **s));
            authors.next();
        }
        (Summary(page), authors.next().map(|(a, _)| a.clone()))
    }

    /// Records the holder of `theirs` lacks, in (author, seq) order, at most one page, with
    /// a `complete` mark for each author it finishes whose records up to our horizon have
    /// holes (compacted here).
    pub fn missing(&self, theirs: &Summary, limit: PageLimit) -> Page {
        self.missing_in(theirs, &AuthorRange::all(), limit)
    }

    /// Like [`Replica::missing`], for the authors of `range` only (`theirs` covers that range;
    /// an author of the range it does not list counts as 0).
    pub fn missing_in(&self, theirs: &Summary, range: &AuthorRange, limit: PageLimit) -> Page {
        let Ok(page) = page_in(self, &self.horizons_answering(range, theirs), theirs, limit);
        page
    }

    /// Our authors of `range` with their horizons, in author order: what a page answering a
    /// summary of that range covers ([`page_in`]).
    pub fn horizons_in(&self, range: &AuthorRange) -> Vec<(NodeId, Seq)> {
        let authors = match &range.from {
            Some(f) => self.contiguous.range(f.clone()..),
            None => self.contiguous.range::<NodeId, _>(..),
        };
        authors
            .take_while(|(a, _)| range.contains(a))
            .map(|(a, s)| (a.clone(), *s))
            .collect()
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
            sha512_follows: false,
            part_of: None,
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
        let page = r.missing(
            &theirs,
            PageLimit {
                records: 100,
                bytes: one * 3,
            },
        );
        assert_eq!(
            page.records.iter().map(|p| p.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(page.more);
        let page = r.missing(
            &theirs,
            PageLimit {
                records: 100,
                bytes: usize::MAX,
            },
        );
        assert_eq!(page.records.len(), 8);
        assert!(!page.more);
        assert!(page.complete.is_empty(), "no holes, no marks");
    }

    /// A long log with a compacted hole near its start pages through to the end: each page
    /// marks how far it got, so the next does not start again below the hole.
    #[test]
    fn pages_over_a_compacted_hole_reach_the_end() {
        let mut r = Replica::new();
        for s in 1..=10 {
            r.insert(rec("A", s, offer(ItemId::from_random([s as u8; 16]))));
        }
        r.compact(ItemId::from_random([3; 16]), 1);
        let mut asker = Replica::new();
        let limit = PageLimit {
            records: 4,
            bytes: usize::MAX,
        };
        for _ in 0..5 {
            let page = r.missing(&asker.summary(), limit);
            for rec in page.records {
                asker.insert(rec);
            }
            for (a, s) in page.complete {
                asker.raise_horizon(&a, s);
            }
            if !page.more {
                break;
            }
        }
        assert_eq!(asker.summary(), r.summary());
        assert_eq!(asker.len(), 9);
    }

    #[test]
    fn summary_pages_and_missing_follow_author_ranges() {
        let mut r = Replica::new();
        for a in ["A", "B", "C", "D", "E"] {
            for s in 1..=2 {
                r.insert(rec(
                    a,
                    s,
                    RecordBody::Cancel {
                        item_id: ItemId::from_random([s as u8; 16]),
                    },
                ));
            }
        }
        let id = |s: &str| NodeId::new(s);
        let (page, next) = r.summary_page(None, 2);
        assert_eq!(page.0, vec![(id("A"), 2), (id("B"), 2)]);
        assert_eq!(next, Some(id("C")));
        let (page, next) = r.summary_page(Some(&id("C")), 10);
        assert_eq!(page.0.len(), 3);
        assert_eq!(next, None);
        let (page, next) = r.summary_page_through(Some(&id("B")), Some(&id("C")), 10);
        assert_eq!(page.0, vec![(id("B"), 2), (id("C"), 2)]);
        assert_eq!(next, Some(id("D")));
        assert_eq!(r.held_up_to(&id("C")), 2);
        assert_eq!(r.held_up_to(&id("Z")), 0);
        // The holder of this summary page lacks B's second record and all of C's; D is out
        // of the range.
        let theirs = Summary(vec![(id("B"), 1)]);
        let range = AuthorRange {
            from: Some(id("B")),
            to: Some(id("D")),
        };
        let all = PageLimit {
            records: 100,
            bytes: usize::MAX,
        };
        let page = r.missing_in(&theirs, &range, all);
        let got: Vec<(&str, Seq)> = page
            .records
            .iter()
            .map(|p| (p.author.as_str(), p.seq))
            .collect();
        assert_eq!(got, vec![("B", 2), ("C", 1), ("C", 2)]);
        assert!(!page.more);
    }
}
