//! Ended items leave memory: an engine whose runtime answers peers from its store
//! (`EngineConfig::drop_ended`) drops an ended item's records and state at the tick after it
//! ended, and does not load them at a restart; records about it that arrive again (a peer
//! back from an absence, a repeated sync) are recognised and never resurrect, re-assign or
//! re-deliver it; and a 5-node simulation with partitions, compaction and a long absence
//! converges as it does with every record in memory.

mod sim;

use dmc_protocol::engine::{Effect, Event};
use dmc_protocol::{ItemId, Phase, Record};
use proptest::prelude::*;
use sim::steps::{converged_without_resurrection, long_absence, op};
use sim::{Pending, Sim};

/// `keep_finished` in these tests: one hour.
const KEEP: u64 = 3_600_000;

fn dropping_sim(n: usize, converters: usize) -> Sim {
    Sim::with(n, converters, |c| {
        c.keep_finished = KEEP;
        c.drop_ended = true;
    })
}

fn pending_node(p: &Pending) -> usize {
    match p {
        Pending::Evaluate { node, .. }
        | Pending::RunJob { node, .. }
        | Pending::Deliver { node, .. } => *node,
    }
}

/// Ticks every node, delivers everything, carries out every pending action (accept,
/// convert, deliver) until the item is delivered at its origin `origin`.
fn deliver(sim: &mut Sim, origin: usize, x: &ItemId) {
    let n = sim.engines.len();
    for _ in 0..60 {
        if sim.stores[origin].states().get(x).map(|s| s.phase) == Some(Phase::Delivered) {
            return;
        }
        sim.now += 5_000;
        for i in 0..n {
            sim.feed(i, Event::Tick);
            sim.drain();
        }
        while let Some(k) = sim.pending.iter().position(|p| pending_node(p) < n) {
            sim.act(k, 2);
            sim.drain();
        }
    }
    panic!("the item was not delivered");
}

fn tick_all(sim: &mut Sim, ms: u64) {
    sim.now += ms;
    for i in 0..sim.engines.len() {
        sim.feed(i, Event::Tick);
        sim.drain();
    }
}

/// Effects that would act on an item again: assign it, run it, deliver it, or ask about it.
fn acts_on(fx: &[Effect], x: &ItemId) -> bool {
    fx.iter().any(|e| match e {
        Effect::Evaluate { item_id, .. }
        | Effect::RunJob { item_id, .. }
        | Effect::Deliver { item_id, .. } => item_id == x,
        Effect::Persist(records) => records.iter().any(|r| {
            r.body.item_id() == Some(*x)
                && matches!(r.body, dmc_protocol::RecordBody::Assign { .. })
        }),
        _ => false,
    })
}

fn assert_out_of_memory(sim: &Sim, i: usize, x: &ItemId) {
    let r = sim.engines[i].replica();
    assert!(r.item(x).is_none(), "node {i} holds the ended item's state");
    assert!(r.item_records(x).is_empty(), "node {i} holds its records");
    assert!(r.is_ended(x), "node {i} forgot that the item ended");
    assert!(!r.in_memory(x));
}

#[test]
fn an_ended_item_leaves_memory_and_its_old_records_never_bring_it_back() {
    let mut sim = dropping_sim(3, 1);
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        sim.link(a, b);
    }
    sim.drain();
    let x = sim.offer(1);
    sim.drain();
    deliver(&mut sim, 1, &x);
    let old: Vec<Record> = sim.stores[2]
        .records
        .values()
        .map(|(r, _)| r.clone())
        .filter(|r| r.body.item_id() == Some(x))
        .collect();
    assert!(old.len() >= 4, "the item's records: {}", old.len());
    // The tick after it ended, every node has dropped it; the store still holds it.
    tick_all(&mut sim, 1_000);
    for i in 0..3 {
        assert_out_of_memory(&sim, i, &x);
        assert_eq!(
            sim.states(i)[&x].phase,
            Phase::Delivered,
            "node {i}'s store"
        );
    }
    assert_eq!(
        sim.engines[0].replica().len(),
        3,
        "only the node records stay"
    );
    assert_eq!(sim.deliveries[&x], 1);

    // A restart loads no record of it either.
    sim.restart(2);
    assert_out_of_memory(&sim, 2, &x);
    assert_eq!(sim.engines[2].replica().len(), 3);

    // Its records again, pushed by a peer, and a peer's whole sync: nothing acts on it.
    let from = sim.engines[0].me().clone();
    let now = sim.clock(2);
    let fx = sim.engines[2].handle(
        Event::Records {
            from: from.clone(),
            records: old.clone(),
            sync_more: None,
            complete: vec![],
        },
        now,
    );
    assert!(!acts_on(&fx, &x), "{fx:?}");
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::Persist(_))),
        "duplicates stored again: {fx:?}"
    );
    assert_out_of_memory(&sim, 2, &x);
    for (a, b) in [(0, 2), (1, 2)] {
        sim.link(a, b);
    }
    sim.drain();
    tick_all(&mut sim, 40_000);
    for i in 0..3 {
        assert_out_of_memory(&sim, i, &x);
        assert!(!sim.engines[i].job_wanted(&x, 1));
        assert!(!sim.engines[i].result_wanted(&x, 1));
    }
    assert!(sim.pending.is_empty(), "{:?}", sim.pending);
    assert_eq!(sim.deliveries[&x], 1, "delivered again");
    let summary = sim.engines[0].replica().summary();
    for i in 1..3 {
        assert_eq!(sim.engines[i].replica().summary(), summary, "node {i}");
    }

    // keep_finished later it is compacted from the store as from memory.
    tick_all(&mut sim, KEEP + 1);
    for i in 0..3 {
        let r = sim.engines[i].replica();
        assert!(r.tombstone(&x).is_some(), "node {i}");
        assert!(!r.is_ended(&x));
        assert!(!sim.states(i).contains_key(&x), "node {i}'s store kept it");
    }
}

/// A node that never saw an item's end gets its records from a node that dropped them: the
/// answer comes from the store, and the late node drops the item too once it has ended there.
#[test]
fn a_late_node_gets_an_ended_items_records_from_a_store() {
    let mut sim = dropping_sim(3, 1);
    sim.link(0, 1);
    sim.drain();
    let x = sim.offer(1);
    sim.drain();
    deliver(&mut sim, 1, &x);
    tick_all(&mut sim, 1_000);
    assert_out_of_memory(&sim, 1, &x);
    sim.link(2, 1);
    sim.drain();
    tick_all(&mut sim, 1_000);
    assert_eq!(sim.states(2), sim.states(1));
    assert_out_of_memory(&sim, 2, &x);
    assert_eq!(
        sim.engines[2].replica().summary(),
        sim.engines[1].replica().summary()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With ended items out of memory (and a node restarted from its store midway), five
    /// nodes with partitions, compaction and a converter away for longer than keep_finished
    /// converge: same stored items, same summaries, nothing resurrected or delivered twice,
    /// at most one converter per item, and no ended item left in any node's memory.
    #[test]
    fn five_nodes_dropping_ended_items_converge_without_resurrection(
        before in prop::collection::vec(op(), 1..150),
        during in prop::collection::vec(op(), 1..200),
        restarted in 0..5usize,
    ) {
        const AWAY: usize = 2;
        let mut sim = dropping_sim(5, 3);
        for op in &before {
            sim.run(op);
        }
        sim.restart(restarted);
        long_absence(&mut sim, AWAY, &during, KEEP);
        converged_without_resurrection(&sim)?;
        for i in 0..5 {
            let r = sim.engines[i].replica();
            prop_assert!(r.items().all(|s| !s.phase.is_final()), "node {} holds an ended item", i);
        }
    }
}
