//! Per-peer budgets: how many new records, and how many bytes of them, one peer (one
//! connection) may make this node store per minute, whether it pushes them or answers our
//! sync. Records over the budget are refused (not stored, not relayed); the peer holds them
//! and they are asked for again at a later sync, so a budget slows a flood down without
//! losing anything a well-behaved peer sends.

use std::collections::BTreeMap;

use crate::ids::{Millis, NodeId};

/// The window a budget counts in.
pub const BUDGET_WINDOW_MS: Millis = 60_000;

/// What one peer may make this node store per [`BUDGET_WINDOW_MS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordBudget {
    /// New records.
    pub records: u32,
    /// Bytes of new records (their encoded size).
    pub bytes: u64,
}

/// Why a peer's record was refused: its budget for this minute is spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverBudget {
    #[error("more than {limit} new records in a minute")]
    Records { limit: u32 },
    #[error("more than {limit} bytes of new records in a minute")]
    Bytes { limit: u64 },
}

/// What a peer spent in its current window.
#[derive(Clone, Copy, Debug)]
struct Spent {
    since: Millis,
    records: u32,
    bytes: u64,
}

/// The spending of every peer that sent new records in the last window.
#[derive(Debug, Default)]
pub(super) struct Budgets {
    spent: BTreeMap<NodeId, Spent>,
}

impl Budgets {
    /// Charges one new record of `size` bytes to `peer`, unless that would go over `budget`.
    pub(super) fn charge(
        &mut self,
        peer: &NodeId,
        size: usize,
        now: Millis,
        budget: RecordBudget,
    ) -> Result<(), OverBudget> {
        let s = self.spent.entry(peer.clone()).or_insert(Spent {
            since: now,
            records: 0,
            bytes: 0,
        });
        if now.saturating_sub(s.since) >= BUDGET_WINDOW_MS {
            *s = Spent {
                since: now,
                records: 0,
                bytes: 0,
            };
        }
        if s.records >= budget.records {
            return Err(OverBudget::Records {
                limit: budget.records,
            });
        }
        let bytes = s.bytes.saturating_add(size as u64);
        if bytes > budget.bytes {
            return Err(OverBudget::Bytes {
                limit: budget.bytes,
            });
        }
        s.records += 1;
        s.bytes = bytes;
        Ok(())
    }

    /// Forgets the windows that are over: a peer that sends nothing costs nothing.
    pub(super) fn forget_old(&mut self, now: Millis) {
        self.spent
            .retain(|_, s| now.saturating_sub(s.since) < BUDGET_WINDOW_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: RecordBudget = RecordBudget {
        records: 3,
        bytes: 250,
    };

    #[test]
    fn a_window_admits_the_budget_then_refuses_until_it_is_over() {
        let (mut b, p, q) = (Budgets::default(), NodeId::new("p"), NodeId::new("q"));
        for _ in 0..3 {
            assert_eq!(b.charge(&p, 10, 1_000, B), Ok(()));
        }
        assert_eq!(
            b.charge(&p, 10, 2_000, B),
            Err(OverBudget::Records { limit: 3 })
        );
        // Another peer has its own budget.
        assert_eq!(b.charge(&q, 200, 2_000, B), Ok(()));
        assert_eq!(
            b.charge(&q, 100, 2_000, B),
            Err(OverBudget::Bytes { limit: 250 })
        );
        // A minute later the window starts again.
        assert_eq!(b.charge(&p, 10, 61_000, B), Ok(()));
        b.forget_old(62_100);
        assert_eq!(b.spent.len(), 1, "q's window is over and forgotten");
    }
}
