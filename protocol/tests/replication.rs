//! Property tests: whatever the order, duplication, loss and partitions, every node that
//! heals ends with the same records and the same state of every item.

mod sim;

use dmc_protocol::{ItemState, Phase, Record, Replica};
use proptest::prelude::*;
use sim::steps::{
    converged_without_resurrection, long_absence, op, op_with_minting, resync_rounds,
};
use sim::{Op, Sim};

/// Records of a random run, for the merge tests.
fn history(ops: &[Op]) -> Vec<Record> {
    let mut sim = Sim::new(3, 2);
    for op in ops {
        sim.run(op);
    }
    sim.heal();
    let mut all = Vec::new();
    for e in &sim.engines {
        for it in e.replica().items() {
            for r in e.replica().item_records(&it.item_id()) {
                all.push(r.clone());
            }
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    /// Five nodes, random partitions, losses and decisions: once healed, all agree.
    #[test]
    fn five_nodes_converge_after_any_partitions(ops in prop::collection::vec(op(), 1..300)) {
        let mut sim = Sim::new(5, 3);
        for op in &ops {
            sim.run(op);
        }
        sim.heal();
        let first = sim.states(0);
        let summary = sim.engines[0].replica().summary();
        for i in 1..sim.engines.len() {
            prop_assert_eq!(&sim.states(i), &first, "node {} differs from node 0", i);
            prop_assert_eq!(&sim.engines[i].replica().summary(), &summary);
        }
    }

    /// Issue 12, point 6: five nodes with partitions, losses, leases, ephemeral progress and
    /// compaction. A converter goes away with whatever it holds while the others go on and,
    /// much later, compact what ended; it returns long after `keep_finished` with its stale
    /// records. Everyone converges, nothing compacted anywhere is held again by anyone
    /// (nothing resurrects), no item is delivered twice, and at most one converter holds an
    /// item.
    #[test]
    fn five_nodes_with_compaction_and_a_long_absence_converge_without_resurrection(
        before in prop::collection::vec(op(), 1..150),
        during in prop::collection::vec(op(), 1..200),
    ) {
        const KEEP: u64 = 3_600_000;
        // A converter goes away: it may go on converting what it holds. The others meet and
        // compact what ended; it returns long after.
        const AWAY: usize = 2;
        let mut sim = Sim::with(5, 3, |c| c.keep_finished = KEEP);
        for op in &before {
            sim.run(op);
        }
        long_absence(&mut sim, AWAY, &during, KEEP);
        converged_without_resurrection(&sim)?;
    }

    /// Issue 12, point 4: the same with minted identities (no node description) pushing
    /// items they cancel at once, some coming back with new items after they retired, and
    /// nodes that keep ended items out of memory as a node does: every node converges, nothing
    /// is resurrected or delivered twice, and every minted identity has retired everywhere
    /// (its items compacted, it is in no summary).
    #[test]
    fn five_nodes_converge_as_minted_authors_retire_and_return(
        before in prop::collection::vec(op_with_minting(), 1..150),
        during in prop::collection::vec(op_with_minting(), 1..200),
    ) {
        const KEEP: u64 = 3_600_000;
        const AWAY: usize = 2;
        let mut sim = Sim::with(5, 3, |c| {
            c.keep_finished = KEEP;
            c.drop_ended = true;
        });
        for op in &before {
            sim.run(op);
        }
        long_absence(&mut sim, AWAY, &during, KEEP);
        // Minted records pushed into separate nodes leave holes no node holds the records
        // of; horizons pass over them one exchange of marks at a time.
        resync_rounds(&mut sim, 5);
        converged_without_resurrection(&sim)?;
        for i in 0..5 {
            prop_assert_eq!(sim.minted_in_summary(i, 4), 0, "node {} lists a minted author", i);
        }
    }

    /// Any order and any duplication of an item's records folds to the same state.
    #[test]
    fn fold_ignores_order_and_duplicates(
        ops in prop::collection::vec(op(), 1..200),
        seed in any::<u64>(),
        dups in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let records = history(&ops);
        let mut shuffled = records.clone();
        for d in &dups {
            if !records.is_empty() {
                shuffled.push(d.get(&records).clone());
            }
        }
        // Fisher-Yates with a seeded LCG: a different order each case.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let mut a = Replica::new();
        for r in records { a.insert(r); }
        let mut b = Replica::new();
        for r in shuffled { b.insert(r); }
        let sa: Vec<&ItemState> = a.items().collect();
        let sb: Vec<&ItemState> = b.items().collect();
        prop_assert_eq!(sa, sb);
        prop_assert_eq!(a.summary(), b.summary());
    }
    /// Losing some records and receiving them again later gives the same state as never
    /// losing them, and versions only grow on the way.
    #[test]
    fn loss_then_resend_gives_same_state(
        ops in prop::collection::vec(op(), 1..200),
        lost in prop::collection::vec(any::<bool>(), 0..400),
    ) {
        let records = history(&ops);
        let mut full = Replica::new();
        for r in records.iter().cloned() { full.insert(r); }
        let mut partial = Replica::new();
        let mut later = Vec::new();
        for (k, r) in records.iter().enumerate() {
            if lost.get(k).copied().unwrap_or(false) { later.push(r.clone()) } else { partial.insert(r.clone()); }
        }
        let before: Vec<(dmc_protocol::ItemId, u64)> =
            partial.items().map(|i| (i.item_id(), i.version)).collect();
        for r in later { partial.insert(r); }
        for (id, v) in before {
            prop_assert!(partial.item(&id).map(|i| i.version).unwrap_or(0) >= v);
        }
        let sa: Vec<&ItemState> = full.items().collect();
        let sb: Vec<&ItemState> = partial.items().collect();
        prop_assert_eq!(sa, sb);
    }
}

/// The story in small: offer, assign, accept, convert, deliver; everyone sees it delivered.
#[test]
fn an_offer_is_assigned_converted_and_delivered() {
    // Node 0 converts; node 1 offers.
    let mut sim = Sim::new(2, 1);
    sim.link(0, 1);
    while !sim.queue.is_empty() {
        sim.deliver(0);
    }
    sim.offer(1);
    for _ in 0..50 {
        while !sim.queue.is_empty() {
            sim.deliver(0);
        }
        sim.run(&Op::Tick(1));
        sim.run(&Op::Tick(0));
        while !sim.queue.is_empty() {
            sim.deliver(0);
        }
        if sim.pending.is_empty() {
            continue;
        }
        // Accept (choice 1), convert (choice 2), deliver.
        sim.act(0, 2);
    }
    let states = sim.states(1);
    let item = states.values().next().expect("one item");
    assert_eq!(item.phase, Phase::Delivered, "{item:?}");
    assert_eq!(sim.states(0), states);
}

/// Over many random schedules, items end in every phase that matters.
#[test]
fn random_schedules_cover_the_lifecycle() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..60 {
        let ops = prop::collection::vec(op(), 200..300)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        // Two attempts, so that random schedules both retry items and give up on some.
        let mut sim = Sim::with(5, 3, |c| c.max_attempts = 2);
        for o in &ops {
            sim.run(o);
        }
        sim.heal();
        for s in sim.engines[0].replica().items() {
            // As users see it: converting shows through the converter's latest report.
            seen.insert(sim.engines[0].live_item(s).phase.as_str());
            if !s.rejections.is_empty() {
                seen.insert("rejected");
            }
        }
    }
    for phase in [
        "delivered",
        "converted",
        "failed",
        "retrying",
        "cancelled",
        "rejected",
        "converting",
    ] {
        assert!(
            seen.contains(phase),
            "no schedule reached {phase}: {seen:?}"
        );
    }
}
