//! Compaction stories: an ended item's records go `keep_finished` after it ended, a tombstone
//! stays, records about it are ignored, and a node that was away for longer with stale
//! records drops the item too: nothing is resurrected, re-assigned or delivered twice.

mod sim;

use dmc_protocol::engine::{Effect, Engine, EngineConfig, Event, Restored};
use dmc_protocol::{ItemId, Phase, Record};
use sim::{Pending, Sim};

/// `keep_finished` in these stories: ten minutes.
const KEEP: u64 = 600_000;

fn pending_node(p: &Pending) -> usize {
    match p {
        Pending::Evaluate { node, .. }
        | Pending::RunJob { node, .. }
        | Pending::Deliver { node, .. } => *node,
    }
}

/// Carries out the first pending action of a node `allowed` says may act (accept, convert,
/// deliver); returns whether there was one.
fn act_where(sim: &mut Sim, allowed: impl Fn(usize) -> bool) -> bool {
    match sim.pending.iter().position(|p| allowed(pending_node(p))) {
        Some(k) => {
            sim.act(k, 2);
            true
        }
        None => false,
    }
}

/// Ticks every node in `nodes` once, after `ms`, delivering everything in between.
fn tick_all(sim: &mut Sim, nodes: &[usize], ms: u64) {
    sim.now += ms;
    for &i in nodes {
        sim.feed(i, Event::Tick);
        sim.drain();
    }
}

/// Runs rounds of ticks and actions of `nodes` until `done` or `rounds` pass.
fn run_until(sim: &mut Sim, nodes: &[usize], rounds: usize, done: impl Fn(&Sim) -> bool) {
    for _ in 0..rounds {
        if done(sim) {
            return;
        }
        tick_all(sim, nodes, 5_000);
        while act_where(sim, |n| nodes.contains(&n)) {
            sim.drain();
        }
    }
    assert!(done(sim), "the story did not get there");
}

fn phase(sim: &Sim, i: usize, id: &ItemId) -> Option<Phase> {
    sim.engines[i].replica().item(id).map(|s| s.phase)
}

fn linked_sim(n: usize, converters: usize) -> Sim {
    let mut sim = Sim::with(n, converters, |c| c.keep_finished = KEEP);
    for a in 0..n {
        for b in a + 1..n {
            sim.link(a, b);
        }
    }
    sim.drain();
    sim
}

/// Offers an item from `origin` and runs every node until it is delivered.
fn delivered_item(sim: &mut Sim, origin: usize) -> ItemId {
    let x = sim.offer(origin);
    sim.drain();
    let all: Vec<usize> = (0..sim.engines.len()).collect();
    run_until(sim, &all, 60, |s| {
        phase(s, origin, &x) == Some(Phase::Delivered)
    });
    x
}

#[test]
fn an_ended_item_is_compacted_after_keep_finished_leaving_only_a_tombstone() {
    let mut sim = linked_sim(2, 1);
    let x = delivered_item(&mut sim, 1);
    let records = sim.engines[0].replica().len();
    let held = sim.engines[0].replica().item_records(&x);
    let bytes: usize = held
        .iter()
        .map(|r| dmc_protocol::wire::encode(*r).len())
        .sum();
    eprintln!("before compaction: {} records, {bytes} bytes", held.len());
    assert!(held.len() >= 4);
    // Not yet: the item ended just now.
    tick_all(&mut sim, &[0, 1], KEEP / 2);
    assert_eq!(phase(&sim, 0, &x), Some(Phase::Delivered));
    tick_all(&mut sim, &[0, 1], KEEP / 2 + 1);
    for i in 0..2 {
        let r = sim.engines[i].replica();
        assert!(r.item(&x).is_none(), "node {i} still holds the item");
        assert!(r.item_records(&x).is_empty());
        assert!(r.tombstone(&x).is_some(), "node {i} has no tombstone");
    }
    assert!(sim.engines[0].replica().len() < records);
    assert_eq!(sim.compacted[&x].len(), 2);
    // The summaries still agree: the horizons did not move back.
    assert_eq!(
        sim.engines[0].replica().summary(),
        sim.engines[1].replica().summary()
    );
}

#[test]
fn records_of_a_compacted_item_are_ignored_not_stored_nor_relayed() {
    let mut sim = linked_sim(3, 1);
    let x = delivered_item(&mut sim, 1);
    let old: Vec<Record> = sim.engines[2]
        .replica()
        .item_records(&x)
        .into_iter()
        .cloned()
        .collect();
    tick_all(&mut sim, &[0, 1, 2], KEEP + 1);
    assert!(sim.engines[2].replica().item(&x).is_none());
    let from = sim.engines[0].me().clone();
    let fx = sim.engines[2].handle(
        Event::Records {
            from,
            records: old,
            sync_more: None,
            complete: vec![],
        },
        sim.now,
    );
    assert!(sim.engines[2].replica().item(&x).is_none(), "resurrected");
    assert!(
        !fx.iter()
            .any(|e| matches!(e, Effect::Persist(_) | Effect::Send { .. })),
        "stored or relayed: {fx:?}"
    );
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Stale { items, .. } if items == &vec![x])),
        "{fx:?}"
    );
}

/// The converter goes away mid-job; the origin's lease gives the item to another converter,
/// which converts it; it is delivered and, `keep_finished` later, compacted everywhere. The
/// first converter returns much later with its stale records (it even finished its own
/// conversion while away): it asks about its silent item, learns it was compacted and drops
/// it. Nothing is delivered twice, nobody holds the item, and everyone agrees.
#[test]
fn a_converter_away_longer_than_keep_finished_drops_its_stale_item() {
    // Nodes 0 and 1 convert, 2 offers, 3 only watches.
    let mut sim = linked_sim(4, 2);
    let x = sim.offer(2);
    sim.drain();
    for _ in 0..20 {
        tick_all(&mut sim, &[0, 1, 2, 3], 5_000);
        let evaluate = sim
            .pending
            .iter()
            .position(|p| matches!(p, Pending::Evaluate { .. }));
        if let Some(k) = evaluate {
            sim.act(k, 1);
            sim.drain();
        }
    }
    assert_eq!(phase(&sim, 2, &x), Some(Phase::Accepted));
    let away = sim.engines[2]
        .item(&x)
        .unwrap()
        .assignment
        .clone()
        .unwrap()
        .1;
    let away = (0..2).find(|i| *sim.engines[*i].me() == away).unwrap();
    let others: Vec<usize> = (0..4).filter(|i| *i != away).collect();
    for &o in &others {
        sim.cut(away, o);
    }
    // Away, it converts anyway: its own records say it holds a result.
    assert!(act_where(&mut sim, |n| n == away));
    run_until(&mut sim, &others, 200, |s| {
        phase(s, 2, &x) == Some(Phase::Delivered)
    });
    tick_all(&mut sim, &others, KEEP + 1);
    for &o in &others {
        assert!(sim.engines[o].replica().tombstone(&x).is_some(), "node {o}");
    }
    assert_eq!(phase(&sim, away, &x), Some(Phase::Converted));
    // Long after, it returns.
    sim.now += 2 * KEEP;
    for &o in &others {
        sim.link(away, o);
    }
    sim.drain();
    let all = [0, 1, 2, 3];
    tick_all(&mut sim, &all, 1_000);
    tick_all(&mut sim, &all, 31_000);
    for i in all {
        let e = &sim.engines[i];
        assert!(e.replica().item(&x).is_none(), "node {i} resurrected it");
        assert!(e.replica().tombstone(&x).is_some(), "node {i}");
        for epoch in 0..4 {
            assert!(!e.job_wanted(&x, epoch) && !e.result_wanted(&x, epoch));
        }
    }
    assert_eq!(sim.deliveries.get(&x), Some(&1), "delivered once");
    let summary = sim.engines[0].replica().summary();
    for i in all {
        assert_eq!(sim.engines[i].replica().summary(), summary, "node {i}");
    }
}

/// A restarted node rebuilds its horizons and tombstones from what it stored, so it neither
/// asks for the compacted records again nor reuses one of its own sequence numbers.
#[test]
fn a_restart_keeps_horizons_tombstones_and_sequence_numbers() {
    let mut sim = linked_sim(2, 1);
    let x = delivered_item(&mut sim, 1);
    tick_all(&mut sim, &[0, 1], KEEP + 1);
    let e = &sim.engines[1];
    let me = e.me().clone();
    let horizon = e.replica().horizon(&me);
    let stored = Restored {
        records: e
            .replica()
            .nodes()
            .filter_map(|(id, seq, _)| {
                let r = e.replica().get(id, seq).cloned()?;
                Some((r, e.replica().received_at(id, seq)?))
            })
            .collect(),
        tombstones: vec![(x, 1)],
        horizons: e.replica().summary().0,
        ended: vec![],
        top_seqs: vec![],
    };
    let summary = e.replica().summary();
    let cfg = EngineConfig {
        keep_finished: KEEP,
        ..e.config().clone()
    };
    let mut back = Engine::restore(cfg, stored);
    assert_eq!(back.replica().summary(), summary);
    assert!(back.replica().tombstone(&x).is_some());
    let y = ItemId::for_origin(&me, &[9; 16]);
    let offer = sim::file("again.mp4", 9);
    let fx = back.handle(
        Event::Local(dmc_protocol::RecordBody::Offer(dmc_protocol::Offer {
            item_id: y,
            nonce: [9; 16],
            file: offer,
            media_type: dmc_protocol::MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: None,
            priority: 0,
            sha512_follows: false,
            part_of: None,
        })),
        sim.now,
    );
    let seq = fx
        .iter()
        .find_map(|e| match e {
            Effect::Persist(r) => Some(r[0].seq),
            _ => None,
        })
        .expect("the offer is made");
    assert_eq!(seq, horizon + 1, "a sequence number was reused");
}

/// A node that never knew an item gets its stale records from a node back from a long
/// absence: it asks about the silent item as soon as it meets a node that compacted it, and
/// drops it; the compacting nodes ignore the stale records.
#[test]
fn stale_records_relayed_to_a_new_node_are_dropped_at_its_next_question() {
    // 0 converts, 1 offers, 2 goes away with the item open, 3 joins late.
    let mut sim = Sim::with(4, 1, |c| c.keep_finished = KEEP);
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        sim.link(a, b);
    }
    sim.drain();
    let x = sim.offer(1);
    sim.drain();
    assert!(phase(&sim, 2, &x).is_some_and(|p| !p.is_final()));
    sim.cut(2, 0);
    sim.cut(2, 1);
    run_until(&mut sim, &[0, 1], 60, |s| {
        phase(s, 1, &x) == Some(Phase::Delivered)
    });
    tick_all(&mut sim, &[0, 1], KEEP + 1);
    assert!(sim.engines[0].replica().tombstone(&x).is_some());
    // Much later, 2 comes back and meets only 3, which takes the stale item in.
    sim.now += 2 * KEEP;
    sim.link(2, 3);
    sim.drain();
    assert!(phase(&sim, 3, &x).is_some_and(|p| !p.is_final()));
    // 3 meets the others: its next question drops the item; 2 drops it too.
    sim.link(3, 0);
    sim.link(3, 1);
    sim.link(2, 0);
    sim.link(2, 1);
    sim.drain();
    tick_all(&mut sim, &[0, 1, 2, 3], 1_000);
    for i in 0..4 {
        assert!(
            sim.engines[i].replica().item(&x).is_none(),
            "node {i} holds it"
        );
    }
    assert_eq!(sim.deliveries.get(&x), Some(&1));
}

/// A node whose store was restored from a copy older than its compacted records learns its
/// horizon from a peer's `complete` marks and never reuses one of its sequence numbers.
#[test]
fn a_node_restored_from_an_old_copy_never_reuses_a_compacted_sequence_number() {
    let mut sim = linked_sim(2, 1);
    let x = delivered_item(&mut sim, 1);
    tick_all(&mut sim, &[0, 1], KEEP + 1);
    let me = sim.engines[1].me().clone();
    let used = sim.engines[1].replica().horizon(&me);
    assert!(sim.engines[1].replica().item(&x).is_none());
    // Node 1 comes back from an empty store; node 0 compacted node 1's item records.
    sim.cut(0, 1);
    let cfg = sim.engines[1].config().clone();
    sim.engines[1] = Engine::new(cfg, []);
    sim.feed(1, Event::Start);
    sim.link(0, 1);
    sim.drain();
    assert_eq!(sim.engines[1].replica().horizon(&me), used);
    let y = sim.offer(1);
    let seq = sim.engines[1]
        .replica()
        .item_records(&y)
        .first()
        .map(|r| r.seq)
        .unwrap();
    assert!(seq > used, "seq {seq} reused (used up to {used})");
}

/// Records of an item held without its offer (the others compacted the item before this
/// node got the offer) are asked about too once they are old, and dropped.
#[test]
fn records_held_without_their_offer_are_dropped_once_the_others_compacted_the_item() {
    let mut sim = linked_sim(3, 1);
    let x = delivered_item(&mut sim, 1);
    // Node 2 loses everything but the item's delivered record (say, a restored store).
    let delivered: Vec<Record> = sim.engines[2]
        .replica()
        .item_records(&x)
        .into_iter()
        .filter(|r| r.body.kind() == "delivered")
        .cloned()
        .collect();
    sim.cut(0, 2);
    sim.cut(1, 2);
    let cfg = sim.engines[2].config().clone();
    let mut restored = Engine::new(cfg, delivered);
    restored.handle(Event::Start, sim.now);
    sim.engines[2] = restored;
    assert!(sim.engines[2].replica().item(&x).is_none());
    assert_eq!(sim.engines[2].replica().item_records(&x).len(), 1);
    tick_all(&mut sim, &[0, 1], KEEP + 1);
    sim.link(2, 0);
    sim.link(2, 1);
    sim.drain();
    tick_all(&mut sim, &[0, 1, 2], 1_000);
    assert!(sim.engines[2].replica().item_records(&x).is_empty());
    assert!(sim.engines[2].replica().tombstone(&x).is_some());
}
