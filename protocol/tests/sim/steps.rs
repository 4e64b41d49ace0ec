//! What the property tests share: the steps a random schedule draws, healing and settling a
//! set of nodes, and a node away for longer than `keep_finished` that comes back.

use proptest::prelude::*;

use super::{Op, Sim};

/// The steps of a random schedule, as the property tests draw them.
pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..8usize).prop_map(Op::Offer),
        1 => (0..8usize, 0..64usize).prop_map(|(i, k)| Op::Cancel(i, k)),
        1 => (0..8usize, 0..64usize).prop_map(|(i, k)| Op::Checksum(i, k)),
        3 => (0..8usize).prop_map(Op::Tick),
        2 => (0..8usize, 0..8usize).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (0..8usize, 0..8usize).prop_map(|(a, b)| Op::Cut(a, b)),
        8 => (0..64usize).prop_map(Op::Deliver),
        2 => (0..64usize).prop_map(Op::Drop),
        6 => (0..64usize, any::<u8>()).prop_map(|(k, c)| Op::Act(k, c)),
    ]
}

/// The steps of [`op`], and now and then a minted identity's item (cancelled at once) pushed
/// into a node: authors that retire once their items are compacted.
pub fn op_with_minting() -> impl Strategy<Value = Op> {
    prop_oneof![
        9 => op(),
        1 => (0..8usize, 0..4usize).prop_map(|(i, k)| Op::Mint(i, k)),
    ]
}

/// Whether a step involves node `n` (node indices are taken modulo the 5 nodes).
fn touches(op: &Op, n: usize) -> bool {
    match *op {
        Op::Offer(i) | Op::Tick(i) | Op::Cancel(i, _) | Op::Checksum(i, _) | Op::Mint(i, _) => {
            i % 5 == n
        }
        Op::Link(a, b) | Op::Cut(a, b) => a % 5 == n || b % 5 == n,
        // Pending actions of the node away are what it does meanwhile: allowed.
        Op::Deliver(_) | Op::Drop(_) | Op::Act(..) => false,
    }
}

/// Links every pair among `nodes` and delivers everything.
fn heal_among(sim: &mut Sim, nodes: &[usize]) {
    for (k, a) in nodes.iter().enumerate() {
        for b in &nodes[k + 1..] {
            sim.link(*a, *b);
        }
    }
    sim.drain();
}

/// Lets `keep` pass, then ticks every node in `nodes` a few times, delivering everything.
fn settle(sim: &mut Sim, nodes: &[usize], keep: u64) {
    sim.now += keep + 1;
    for _ in 0..3 {
        for &i in nodes {
            sim.tick_after(i, 1_000);
            sim.drain();
        }
    }
}

/// Node `away` is cut off from the other four while `during` runs without it, the others
/// meet and compact what ended, then it comes back long after (three times `keep`) and
/// every node settles twice over `keep`.
pub fn long_absence(sim: &mut Sim, away: usize, during: &[Op], keep: u64) {
    let rest: Vec<usize> = (0..5).filter(|n| *n != away).collect();
    for o in &rest {
        sim.cut(away, *o);
    }
    for op in during {
        if !touches(op, away) {
            sim.run(op);
        }
    }
    heal_among(sim, &rest);
    settle(sim, &rest, keep);
    sim.now += 3 * keep;
    sim.heal();
    let all = [0, 1, 2, 3, 4];
    settle(sim, &all, keep);
    settle(sim, &all, keep);
}

/// `rounds` anti-entropy rounds: each node ticks with more than the resync interval (30 s)
/// since its last, so it asks every peer again, and everything is delivered. Horizons over
/// holes that no one holds the records of move one exchange at a time (a peer's `complete`
/// mark, then the next), so a few rounds may be needed after a long absence.
pub fn resync_rounds(sim: &mut Sim, rounds: usize) {
    for _ in 0..rounds {
        sim.now += 31_000;
        for i in 0..sim.engines.len() {
            sim.tick_after(i, 0);
            sim.drain();
        }
    }
}

/// Every one of the 5 nodes holds the same items and summary as node 0, no compacted item
/// is back anywhere, no item was delivered twice, and at most one converter holds each.
pub fn converged_without_resurrection(sim: &Sim) -> Result<(), TestCaseError> {
    let first = sim.states(0);
    let summary = sim.engines[0].replica().summary();
    for i in 0..5 {
        prop_assert_eq!(&sim.states(i), &first, "node {} differs from node 0", i);
        prop_assert_eq!(&sim.engines[i].replica().summary(), &summary, "node {}", i);
        for id in sim.compacted.keys() {
            prop_assert!(
                sim.engines[i].replica().item(id).is_none(),
                "node {} resurrected {}",
                i,
                id
            );
        }
    }
    for (id, n) in &sim.deliveries {
        prop_assert!(*n <= 1, "{} delivered {} times", id, n);
    }
    for (id, item) in &first {
        let holders = (0..5)
            .filter(|i| {
                let e = &sim.engines[*i];
                item.epoch()
                    .is_some_and(|ep| e.job_wanted(id, ep) || e.result_wanted(id, ep))
            })
            .count();
        prop_assert!(holders <= 1, "{} held by {} converters", id, holders);
    }
    Ok(())
}
