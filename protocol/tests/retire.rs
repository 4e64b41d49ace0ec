//! Issue 12, point 4: authors with nothing open and nothing recent drop out of the summary
//! after compaction. 10,000 minted identities each offer one item that ends; `keep_finished`
//! later every node has compacted the items and retired the authors: the summary is back to
//! the live nodes, an idle reconcile is one small round trip, a stale node holding the old
//! records brings nothing back, and a retired identity's new item is still taken in and
//! synced. Every message goes through the wire's limit checks, as a real node's codec would.

mod sim;

use dmc_protocol::engine::Event;
use dmc_protocol::wire::{encode, MAX_RECORDS_PER_MESSAGE};
use dmc_protocol::{ItemId, NodeId, Record};
use sim::mint::{minted_signer, offer_and_cancel};
use sim::Sim;

const MINTED: usize = 10_000;
/// `keep_finished` here: ten minutes.
const KEEP: u64 = 600_000;

/// Bytes of node `i`'s summary on the wire (what a digest mismatch and a walk carry).
fn summary_bytes(sim: &Sim, i: usize) -> usize {
    encode(&sim.engines[i].replica().summary()).len()
}

fn summary_len(sim: &Sim, i: usize) -> usize {
    sim.engines[i].replica().summary().0.len()
}

/// Every minted identity's item (offer, then cancel), and the items' ids.
fn minted_items(at: u64) -> (Vec<ItemId>, Vec<Record>) {
    let mut ids = Vec::new();
    let mut records = Vec::new();
    for k in 0..MINTED {
        let (id, rs) = offer_and_cancel(&minted_signer(k), 1, at);
        ids.push(id);
        records.extend(rs);
    }
    (ids, records)
}

/// Node `i` takes in `records` from an outside peer (the member that minted them), a
/// message's worth at a time.
fn push_from_outside(sim: &mut Sim, i: usize, records: &[Record]) {
    let from: NodeId = minted_signer(MINTED).node_id().clone();
    for chunk in records.chunks(MAX_RECORDS_PER_MESSAGE) {
        sim.feed(
            i,
            Event::Records {
                from: from.clone(),
                records: chunk.to_vec(),
                sync_more: None,
                complete: vec![],
            },
        );
        sim.drain();
    }
}

fn tick_all(sim: &mut Sim, nodes: &[usize], ms: u64) {
    sim.now += ms;
    for &i in nodes {
        sim.feed(i, Event::Tick);
        sim.drain();
    }
}

/// Whether node `i` holds anything of a minted identity: in its summary, its store, or an
/// item in memory.
fn holds_minted(sim: &Sim, i: usize, ids: &[ItemId]) -> bool {
    let minted: std::collections::BTreeSet<NodeId> = (0..MINTED)
        .map(|k| minted_signer(k).node_id().clone())
        .collect();
    let replica = sim.engines[i].replica();
    replica.summary().0.iter().any(|(a, _)| minted.contains(a))
        || sim.stores[i]
            .records
            .keys()
            .any(|(a, _)| minted.contains(a))
        || ids.iter().any(|id| replica.item(id).is_some())
}

#[test]
fn ten_thousand_minted_authors_retire_once_their_items_are_compacted() {
    // Node 0 converts; nodes keep ended items out of memory and answer from their store, as
    // a node does. The outside peer may push all 20,000 records at once.
    let mut sim = Sim::with(3, 1, |c| {
        c.keep_finished = KEEP;
        c.drop_ended = true;
        c.budget.records = 100_000;
        c.budget.bytes = 1 << 30;
    });
    for (a, b) in [(0, 1), (1, 2), (0, 2)] {
        sim.link(a, b);
    }
    sim.drain();
    let (ids, records) = minted_items(sim.now);
    push_from_outside(&mut sim, 1, &records);
    tick_all(&mut sim, &[0, 1, 2], 1_000);
    for i in 0..3 {
        assert_eq!(summary_len(&sim, i), MINTED + 3, "node {i}");
    }
    let before = summary_bytes(&sim, 0);

    // Node 2 goes away holding every minted record; the others compact and retire.
    sim.cut(0, 2);
    sim.cut(1, 2);
    tick_all(&mut sim, &[0, 1], KEEP / 2);
    assert_eq!(
        summary_len(&sim, 0),
        MINTED + 3,
        "not retired before keep_finished"
    );
    tick_all(&mut sim, &[0, 1], KEEP / 2 + 1);
    tick_all(&mut sim, &[0, 1], 1_000);
    for i in 0..2 {
        assert_eq!(
            summary_len(&sim, i),
            3,
            "node {i}: only the live nodes remain"
        );
        assert_eq!(sim.engines[i].replica().retired_len(), MINTED, "node {i}");
        assert!(!holds_minted(&sim, i, &ids), "node {i}");
    }
    let after = summary_bytes(&sim, 0);
    eprintln!(
        "summary of node 0: {before} bytes with {MINTED} minted authors, {after} bytes after \
         they retired"
    );
    assert!(after * 100 < before, "{after} bytes after, {before} before");

    // Idle: a resync round costs a digest and `InSync` per direction.
    let (trips, bytes) = (sim.round_trips, sim.wire_bytes);
    tick_all(&mut sim, &[0, 1], 31_000);
    let (idle_trips, idle_bytes) = (sim.round_trips - trips, sim.wire_bytes - bytes);
    eprintln!("idle reconcile after retirement: {idle_trips} round trips, {idle_bytes} bytes");
    assert_eq!(idle_trips, 2, "one round trip per direction");
    assert!(idle_bytes <= 1024, "{idle_bytes} bytes");

    // The stale node comes back with every old record: nothing comes back to the others.
    let (trips, bytes) = (sim.round_trips, sim.wire_bytes);
    sim.link(2, 0);
    sim.link(2, 1);
    sim.drain();
    eprintln!(
        "stale node reconnecting (before its own compaction): {} round trips, {} bytes",
        sim.round_trips - trips,
        sim.wire_bytes - bytes
    );
    for i in 0..2 {
        assert!(!holds_minted(&sim, i, &ids), "node {i} took something back");
        assert_eq!(summary_len(&sim, i), 3, "node {i}");
    }
    // Its own clock then compacts and retires them too: every summary agrees.
    tick_all(&mut sim, &[2, 0, 1], 1_000);
    tick_all(&mut sim, &[2, 0, 1], 31_000);
    assert!(!holds_minted(&sim, 2, &ids), "node 2");
    let summary = sim.engines[0].replica().summary();
    for i in 1..3 {
        assert_eq!(sim.engines[i].replica().summary(), summary, "node {i}");
    }
    assert_eq!(
        sim.refused_by_limits, 0,
        "every message within the wire's limits"
    );

    // A retired identity comes back with a new item: taken in and synced everywhere, its
    // author back in every summary after its old horizon.
    let signer = minted_signer(7);
    let (item, rs) = offer_and_cancel(&signer, 3, sim.now);
    push_from_outside(&mut sim, 0, &rs[..1]);
    tick_all(&mut sim, &[0, 1, 2], 31_000);
    for i in 0..3 {
        let r = sim.engines[i].replica();
        assert!(r.item(&item).is_some(), "node {i} lacks the new item");
        assert_eq!(r.held_up_to(signer.node_id()), 3, "node {i}");
    }
    let summary = sim.engines[0].replica().summary();
    for i in 1..3 {
        assert_eq!(sim.engines[i].replica().summary(), summary, "node {i}");
    }
}
