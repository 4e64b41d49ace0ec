//! `[network] allowed_peers` applied to records, not only to connections: when the list is
//! set, records authored by a node outside it are refused wherever they come from (pushed by
//! a listed peer that relays them, or in a sync page), before they reach the engine. This
//! node's own records and those of listed peers pass; an outsider's records of every kind
//! (its `node` record too) are refused, so it can neither offer, nor be assigned, nor make a
//! converter reserve disk here.
//!
//! A listed peer keeps holding the outsider's records, and would offer them in every sync
//! page: the outsiders seen, with the highest sequence number seen of each, are claimed in
//! this node's `Sync` requests, so pages move past them (a page made only of refused records
//! would otherwise be asked for again and again).

use std::collections::{HashMap, HashSet};

use dmc_protocol::wire::{AuthorRange, Request, Summary, MAX_SUMMARY_AUTHORS};
use dmc_protocol::{Millis, NodeId, Record, Seq};
use tracing::warn;

/// Most outsiders remembered (the one seen longest ago is forgotten first).
pub(crate) const MAX_OUTSIDERS: usize = 1024;
/// At most one log line per outsider in this time.
const LOG_EVERY_MS: Millis = 60_000;

/// An author outside `allowed_peers` whose records were offered to this node.
#[derive(Clone, Copy, Debug)]
struct Outsider {
    /// The highest sequence number seen of its records.
    seq: Seq,
    seen_at: Millis,
    logged_at: Option<Millis>,
}

/// Which authors' records this node takes in.
#[derive(Debug, Default)]
pub(crate) struct AuthorFilter {
    /// `allowed_peers` and this node; `None` (no list): every author.
    allowed: Option<HashSet<NodeId>>,
    outsiders: HashMap<NodeId, Outsider>,
}

impl AuthorFilter {
    /// Every author passes when `allowed_peers` is empty; else only those and `me`.
    pub(crate) fn new(me: &NodeId, allowed_peers: &[NodeId]) -> Self {
        AuthorFilter {
            allowed: (!allowed_peers.is_empty())
                .then(|| allowed_peers.iter().cloned().chain([me.clone()]).collect()),
            outsiders: HashMap::new(),
        }
    }

    fn admits(&self, author: &NodeId) -> bool {
        self.allowed.as_ref().is_none_or(|a| a.contains(author))
    }

    /// The records of `records` whose authors are admitted; the others are logged (with
    /// `from`, the peer that relayed them) at most once a minute per author, and remembered.
    pub(crate) fn admit(
        &mut self,
        from: &NodeId,
        records: Vec<Record>,
        now: Millis,
    ) -> Vec<Record> {
        if self.allowed.is_none() {
            return records;
        }
        let mut refused: HashMap<NodeId, usize> = HashMap::new();
        let kept = records
            .into_iter()
            .filter(|r| {
                if self.admits(&r.author) {
                    return true;
                }
                self.note(&r.author, r.seq, now);
                *refused.entry(r.author.clone()).or_default() += 1;
                false
            })
            .collect();
        for (author, count) in refused {
            self.log(&author, from, count, now);
        }
        kept
    }

    /// A peer's summary without the outsiders it lists (they are remembered), so that their
    /// records alone never make this node ask the peer for a sync page.
    pub(crate) fn filter_summary(&mut self, summary: Summary, now: Millis) -> Summary {
        if self.allowed.is_none() {
            return summary;
        }
        let (kept, outside): (Vec<_>, Vec<_>) =
            summary.0.into_iter().partition(|(a, _)| self.admits(a));
        for (author, seq) in outside {
            self.note(&author, seq, now);
        }
        Summary(kept)
    }

    /// For a `Sync` request of ours: claims the outsiders' records seen in its author range,
    /// so the page the peer answers holds none of them. The summary stays within
    /// [`MAX_SUMMARY_AUTHORS`].
    pub(crate) fn claim_outsiders(&self, request: Request) -> Request {
        let Request::Sync {
            mut summary,
            from,
            to,
        } = request
        else {
            return request;
        };
        let range = AuthorRange { from, to };
        let room = MAX_SUMMARY_AUTHORS.saturating_sub(summary.0.len());
        let mine: HashSet<NodeId> = summary.0.iter().map(|(a, _)| a.clone()).collect();
        let extra: Vec<(NodeId, Seq)> = self
            .outsiders
            .iter()
            .filter(|(a, _)| !mine.contains(*a) && range.contains(a))
            .map(|(a, o)| (a.clone(), o.seq))
            .take(room)
            .collect();
        summary.0.extend(extra);
        Request::Sync {
            summary,
            from: range.from,
            to: range.to,
        }
    }

    fn note(&mut self, author: &NodeId, seq: Seq, now: Millis) {
        if !self.outsiders.contains_key(author) && self.outsiders.len() >= MAX_OUTSIDERS {
            let oldest = self.outsiders.iter().min_by_key(|(_, o)| o.seen_at);
            if let Some(k) = oldest.map(|(k, _)| k.clone()) {
                self.outsiders.remove(&k);
            }
        }
        let o = self.outsiders.entry(author.clone()).or_insert(Outsider {
            seq,
            seen_at: now,
            logged_at: None,
        });
        o.seq = o.seq.max(seq);
        o.seen_at = now;
    }

    fn log(&mut self, author: &NodeId, from: &NodeId, count: usize, now: Millis) {
        let Some(o) = self.outsiders.get_mut(author) else {
            return;
        };
        if o.logged_at
            .is_some_and(|t| now.saturating_sub(t) < LOG_EVERY_MS)
        {
            return;
        }
        o.logged_at = Some(now);
        warn!(
            %author,
            relayed_by = %from,
            records = count,
            "refused records authored by a node not in [network] allowed_peers, relayed by \
             {from}; add {author} to allowed_peers to take them in (logged once a minute at most)"
        );
    }

    #[cfg(test)]
    fn outsiders(&self) -> usize {
        self.outsiders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmc_protocol::{ItemId, RecordBody, Signature};

    fn rec(author: &str, seq: Seq) -> Record {
        Record {
            author: NodeId::new(author),
            seq,
            created_at: 1,
            body: RecordBody::Cancel {
                item_id: ItemId::from_random([seq as u8; 16]),
            },
            sig: Signature::default(),
        }
    }

    fn ids(v: &[&str]) -> Vec<NodeId> {
        v.iter().map(|s| NodeId::new(*s)).collect()
    }

    #[test]
    fn without_a_list_every_author_passes() {
        let mut f = AuthorFilter::new(&NodeId::new("me"), &[]);
        let kept = f.admit(&NodeId::new("b"), vec![rec("x", 1), rec("b", 1)], 0);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn outsiders_records_are_refused_whoever_relays_them() {
        let mut f = AuthorFilter::new(&NodeId::new("me"), &ids(&["b"]));
        let kept = f.admit(
            &NodeId::new("b"),
            vec![rec("x", 1), rec("b", 1), rec("me", 3), rec("x", 7)],
            0,
        );
        let authors: Vec<&str> = kept.iter().map(|r| r.author.as_str()).collect();
        assert_eq!(authors, vec!["b", "me"]);
        // Our next sync request claims x's records up to the highest seen.
        let req = f.claim_outsiders(Request::Sync {
            summary: Summary(vec![(NodeId::new("b"), 1)]),
            from: None,
            to: None,
        });
        let Request::Sync { summary, .. } = req else {
            panic!()
        };
        assert_eq!(summary.get(&NodeId::new("x")), 7);
        assert_eq!(summary.get(&NodeId::new("b")), 1);
        // A page of another author range claims only the outsiders in it.
        let req = f.claim_outsiders(Request::Sync {
            summary: Summary(vec![(NodeId::new("b"), 1)]),
            from: Some(NodeId::new("a")),
            to: Some(NodeId::new("c")),
        });
        let Request::Sync { summary, .. } = req else {
            panic!()
        };
        assert_eq!(summary.get(&NodeId::new("x")), 0);
    }

    #[test]
    fn a_peer_summary_loses_its_outsiders() {
        let mut f = AuthorFilter::new(&NodeId::new("me"), &ids(&["b"]));
        let s = f.filter_summary(
            Summary(vec![(NodeId::new("b"), 4), (NodeId::new("x"), 9)]),
            0,
        );
        assert_eq!(s.0, vec![(NodeId::new("b"), 4)]);
        assert_eq!(f.outsiders(), 1);
    }

    #[test]
    fn outsiders_are_bounded_and_claims_fit_a_summary() {
        let mut f = AuthorFilter::new(&NodeId::new("me"), &ids(&["b"]));
        for i in 0..(MAX_OUTSIDERS * 2) {
            f.admit(
                &NodeId::new("b"),
                vec![rec(&format!("x{i}"), 1)],
                i as Millis,
            );
        }
        assert_eq!(f.outsiders(), MAX_OUTSIDERS);
        let full: Vec<(NodeId, Seq)> = (0..MAX_SUMMARY_AUTHORS - 10)
            .map(|i| (NodeId::new(format!("a{i}")), 1))
            .collect();
        let Request::Sync { summary, .. } = f.claim_outsiders(Request::Sync {
            summary: Summary(full),
            from: None,
            to: None,
        }) else {
            panic!()
        };
        assert_eq!(summary.0.len(), MAX_SUMMARY_AUTHORS);
    }
}
