//! Retired authors: an author of whom this node holds nothing any more (every record of it
//! compacted, no node description) leaves the summary, so identities that only ever made
//! items that ended and were compacted cost nothing in digests, summary pages and walks. Its
//! horizon stays in a small map out of the summary: a record of it at or below that horizon
//! is ignored at once (it is about a compacted item, or a duplicate), and one above brings
//! the author back into the summary at that horizon, so a returning author's new records are
//! taken in and synced like anyone's. Which authors hold nothing in memory is decided here;
//! records held only in the store (ended items dropped from memory) are the engine's to rule
//! out (`Engine::retire_idle`).

use super::Replica;
use crate::ids::{NodeId, Seq};
use crate::wire::{AuthorRange, Summary};

impl Replica {
    /// Authors that may retire as far as memory tells: not `me`, in the summary, no record
    /// in memory, none held or compacted above a hole, no node description.
    pub fn idle_authors(&self, me: &NodeId) -> Vec<NodeId> {
        self.contiguous
            .keys()
            .filter(|a| *a != me && !self.nodes.contains_key(*a))
            .filter(|a| !self.holds_any(a))
            .cloned()
            .collect()
    }

    /// Whether any record of `author` is in memory or known held or compacted above its
    /// horizon (a hole below it).
    fn holds_any(&self, author: &NodeId) -> bool {
        let range = (author.clone(), 0)..=(author.clone(), Seq::MAX);
        self.records.range(range.clone()).next().is_some()
            || self.compacted_above.range(range.clone()).next().is_some()
            || self.stale_nodes.range(range).next().is_some()
    }

    /// Takes an author out of the summary, keeping its horizon as retired. Returns that
    /// horizon, or `None` if the author holds something here or is not in the summary.
    pub fn retire(&mut self, author: &NodeId) -> Option<Seq> {
        if self.holds_any(author) || self.nodes.contains_key(author) {
            return None;
        }
        let horizon = self.contiguous.remove(author)?;
        let kept = self.retired.entry(author.clone()).or_insert(horizon);
        *kept = (*kept).max(horizon);
        Some(*kept)
    }

    /// The horizon of a retired author.
    pub fn retired_horizon(&self, author: &NodeId) -> Option<Seq> {
        self.retired.get(author).copied()
    }

    /// Whether a record of `author` numbered `seq` is covered by the author's retirement:
    /// compacted here or a duplicate, to be ignored before any check.
    pub fn retired_covers(&self, author: &NodeId, seq: Seq) -> bool {
        self.retired.get(author).is_some_and(|h| seq <= *h)
    }

    /// How many authors are retired.
    pub fn retired_len(&self) -> usize {
        self.retired.len()
    }

    /// Every retired author with its horizon.
    pub fn retired(&self) -> impl Iterator<Item = (&NodeId, Seq)> {
        self.retired.iter().map(|(a, s)| (a, *s))
    }

    /// A retired author has something above its retired horizon: back into the summary at
    /// that horizon (every seq up to it is held or compacted here).
    pub(super) fn unretire(&mut self, author: &NodeId) {
        if let Some(h) = self.retired.remove(author) {
            let c = self.contiguous.entry(author.clone()).or_insert(0);
            *c = (*c).max(h);
        }
    }

    /// The highest seq up to which this node holds or compacted every record of `author`,
    /// retired or not: a peer listing no more than this has nothing we lack of it.
    pub fn known_up_to(&self, author: &NodeId) -> Seq {
        self.held_up_to(author)
            .max(self.retired_horizon(author).unwrap_or(0))
    }

    /// What a page answering a peer's summary `theirs` of `range` covers: our authors of the
    /// range with their horizons ([`Replica::horizons_in`]), and the retired authors the peer
    /// lists below our retired horizon. For those the page carries a `complete` mark up to it
    /// (we hold none of their records), so a peer behind on an author we retired catches up
    /// and retires it too, instead of listing it below us forever.
    pub fn horizons_answering(&self, range: &AuthorRange, theirs: &Summary) -> Vec<(NodeId, Seq)> {
        let mut horizons = self.horizons_in(range);
        let behind: Vec<(NodeId, Seq)> = theirs
            .0
            .iter()
            .filter(|(a, _)| range.contains(a))
            .filter_map(|(a, s)| {
                let h = self.retired_horizon(a)?;
                (*s < h).then(|| (a.clone(), h))
            })
            .collect();
        if !behind.is_empty() {
            horizons.extend(behind);
            horizons.sort();
            horizons.dedup_by(|b, a| a.0 == b.0);
        }
        horizons
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ItemId;
    use crate::record::{Record, RecordBody};
    use crate::replica::{Inserted, PageLimit};

    const ALL: PageLimit = PageLimit {
        records: 100,
        bytes: usize::MAX,
    };

    /// `author`'s record `seq`: a cancel of item `n` (no offer: nothing folds).
    fn cancel(author: &str, seq: Seq, n: u8) -> Record {
        Record {
            author: NodeId::new(author),
            seq,
            created_at: 1,
            body: RecordBody::Cancel {
                item_id: ItemId::from_random([n; 16]),
            },
            sig: Default::default(),
        }
    }

    #[test]
    fn a_retired_author_ignores_old_records_and_comes_back_above_its_horizon() {
        let (me, x) = (NodeId::new("me"), NodeId::new("X"));
        let mut r = Replica::new();
        for s in 1..=3 {
            r.insert(cancel("X", s, s as u8));
        }
        assert!(r.idle_authors(&me).is_empty(), "X's records are held");
        assert_eq!(r.retire(&x), None);
        for n in 1..=3 {
            r.compact(ItemId::from_random([n; 16]), 1);
        }
        assert_eq!(r.idle_authors(&me), vec![x.clone()]);
        assert!(r.idle_authors(&x).is_empty(), "a node never retires itself");
        assert_eq!(r.retire(&x), Some(3));
        assert!(r.summary().0.is_empty());
        assert_eq!(r.known_up_to(&x), 3);
        // Old records and marks change nothing.
        assert_eq!(r.insert(cancel("X", 2, 2)), Inserted::Duplicate);
        assert!(!r.raise_horizon(&x, 3));
        assert!(r.summary().0.is_empty());
        // A peer behind on X is marked up to the retired horizon; one that does not list X,
        // or lists it as far, is sent nothing about it.
        let behind = Summary(vec![(x.clone(), 1)]);
        assert_eq!(r.missing(&behind, ALL).complete, vec![(x.clone(), 3)]);
        assert!(r.missing(&Summary::default(), ALL).complete.is_empty());
        let level = Summary(vec![(x.clone(), 3)]);
        assert!(r.missing(&level, ALL).complete.is_empty());
        // A new record brings X back at its horizon.
        assert_eq!(r.insert(cancel("X", 4, 9)), Inserted::New);
        assert_eq!(r.retired_horizon(&x), None);
        assert_eq!(r.summary().0, vec![(x, 4)]);
    }
}
