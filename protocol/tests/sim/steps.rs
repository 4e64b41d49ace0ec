//! What the property tests share: the steps a random schedule draws, and healing and
//! settling a set of nodes.

use proptest::prelude::*;

use super::{Op, Sim};

/// The steps of a random schedule, as the property tests draw them.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..8usize).prop_map(Op::Offer),
        1 => (0..8usize, 0..64usize).prop_map(|(i, k)| Op::Cancel(i, k)),
        3 => (0..8usize).prop_map(Op::Tick),
        2 => (0..8usize, 0..8usize).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (0..8usize, 0..8usize).prop_map(|(a, b)| Op::Cut(a, b)),
        8 => (0..64usize).prop_map(Op::Deliver),
        2 => (0..64usize).prop_map(Op::Drop),
        6 => (0..64usize, any::<u8>()).prop_map(|(k, c)| Op::Act(k, c)),
    ]
}

/// Whether a step involves node `n` (node indices are taken modulo the 5 nodes).
pub fn touches(op: &Op, n: usize) -> bool {
    match *op {
        Op::Offer(i) | Op::Tick(i) | Op::Cancel(i, _) => i % 5 == n,
        Op::Link(a, b) | Op::Cut(a, b) => a % 5 == n || b % 5 == n,
        // Pending actions of the node away are what it does meanwhile: allowed.
        Op::Deliver(_) | Op::Drop(_) | Op::Act(..) => false,
    }
}

/// Links every pair among `nodes` and delivers everything.
pub fn heal_among(sim: &mut Sim, nodes: &[usize]) {
    for (k, a) in nodes.iter().enumerate() {
        for b in &nodes[k + 1..] {
            sim.link(*a, *b);
        }
    }
    sim.drain();
}

/// Lets `keep` pass, then ticks every node in `nodes` a few times, delivering everything.
pub fn settle(sim: &mut Sim, nodes: &[usize], keep: u64) {
    sim.now += keep + 1;
    for _ in 0..3 {
        for &i in nodes {
            sim.tick_after(i, 1_000);
            sim.drain();
        }
    }
}
