//! Peers whose records were refused over their budget (`[network] peer_records_per_minute`,
//! `peer_bytes_per_minute`; the engine counts and refuses): each logged at most once a minute,
//! and the latest refusal of each remembered for `dmc peers`.

use std::collections::HashMap;

use dmc_protocol::engine::OverBudget;
use dmc_protocol::{Millis, NodeId};
use tracing::warn;

/// Most peers remembered (the one refused longest ago is forgotten first).
pub(crate) const MAX_OVER_BUDGET: usize = 64;
/// At most one log line per peer in this time.
const LOG_EVERY_MS: Millis = 60_000;

/// The latest refusal of a peer's records over its budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OverBudgetNote {
    pub(crate) why: OverBudget,
    /// When (ms since the epoch) records were last refused.
    pub(crate) at: Millis,
    /// Records refused since the last log line.
    pub(crate) refused: u64,
    logged_at: Option<Millis>,
}

impl OverBudgetNote {
    /// What `dmc peers` says of it.
    pub(crate) fn reason(&self) -> String {
        format!("over budget: {}", self.why)
    }
}

/// Peers over budget, bounded.
#[derive(Debug, Default)]
pub(crate) struct OverBudgetBook {
    peers: HashMap<NodeId, OverBudgetNote>,
}

impl OverBudgetBook {
    /// `refused` records from `from` were refused at `now`: remembered, and logged unless
    /// this peer was logged within the last minute.
    pub(crate) fn note(&mut self, from: NodeId, refused: usize, why: OverBudget, now: Millis) {
        if !self.peers.contains_key(&from) && self.peers.len() >= MAX_OVER_BUDGET {
            let oldest = self.peers.iter().min_by_key(|(_, n)| n.at);
            if let Some(k) = oldest.map(|(k, _)| k.clone()) {
                self.peers.remove(&k);
            }
        }
        let n = self.peers.entry(from.clone()).or_insert(OverBudgetNote {
            why,
            at: now,
            refused: 0,
            logged_at: None,
        });
        n.why = why;
        n.at = now;
        n.refused += refused as u64;
        if n.logged_at
            .is_some_and(|t| now.saturating_sub(t) < LOG_EVERY_MS)
        {
            return;
        }
        warn!(
            peer = %from,
            refused = n.refused,
            "refused {} records from {from}: {why} ([network] peer_records_per_minute and \
             peer_bytes_per_minute); they were not stored or relayed, and are asked for again \
             later (logged once a minute at most)",
            n.refused
        );
        n.logged_at = Some(now);
        n.refused = 0;
    }

    pub(crate) fn get(&self, peer: &NodeId) -> Option<&OverBudgetNote> {
        self.peers.get(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHY: OverBudget = OverBudget::Records { limit: 50 };

    #[test]
    fn refusals_are_remembered_per_peer_and_bounded() {
        let mut b = OverBudgetBook::default();
        for i in 0..(MAX_OVER_BUDGET + 10) {
            b.note(NodeId::new(format!("p{i}")), 3, WHY, i as Millis);
        }
        assert_eq!(b.peers.len(), MAX_OVER_BUDGET);
        assert!(
            b.get(&NodeId::new("p0")).is_none(),
            "the oldest is forgotten"
        );
        let last = NodeId::new(format!("p{}", MAX_OVER_BUDGET + 9));
        let n = b.get(&last).copied().unwrap();
        assert_eq!(
            n.reason(),
            "over budget: more than 50 new records in a minute"
        );
        // Within a minute of the log line, refusals are counted for the next one.
        b.note(last.clone(), 4, WHY, 1_000);
        b.note(last.clone(), 5, WHY, 2_000);
        let n = b.get(&last).copied().unwrap();
        assert_eq!((n.refused, n.at), (9, 2_000));
    }
}
