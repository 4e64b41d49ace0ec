//! Authors cannot break sync: the summary is exchanged in pages by author range, so any
//! number of authors replicates (10,000 minted identities here), an offer made meanwhile
//! still reaches its converter, and per-peer budgets refuse a flood while a well-behaved
//! peer's records get through. Every message goes through the wire's limit checks as a real
//! node's codec would (the simulator drops what they refuse).

mod sim;

use dmc_protocol::engine::{Effect, Engine, EngineConfig, Event, OverBudget, RecordBudget};
use dmc_protocol::wire::{
    record_size_estimate, Request, MAX_RECORDS_PER_MESSAGE, MAX_RECORD_BYTES_PER_MESSAGE,
};
use dmc_protocol::{Millis, NodeId, NodeInfo, Record, RecordBody, Signature, Signer, Summary};
use sim::{node_id, Sim};

/// Identities minted by one member: 10,000 keys, each authoring its `node` record.
const MINTED: usize = 10_000;

/// The `i`-th minted identity's key (seeds apart from the simulator's nodes').
fn minted_signer(i: usize) -> Signer {
    let mut seed = [0xA5u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    Signer::from_seed(seed)
}

/// A signed record of `signer`'s.
fn signed(signer: &Signer, seq: u64, body: RecordBody) -> Record {
    let mut r = Record {
        author: signer.node_id().clone(),
        seq,
        created_at: 1_000,
        body,
        sig: Signature::default(),
    };
    signer.sign(&mut r);
    r
}

fn node_record(signer: &Signer, seq: u64, name: &str) -> Record {
    signed(
        signer,
        seq,
        RecordBody::Node(NodeInfo {
            name: name.into(),
            converter: None,
        }),
    )
}

/// `n` minted identities' `node` records.
fn minted(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| node_record(&minted_signer(i), 1, &format!("m{i}")))
        .collect()
}

fn holds_all(e: &Engine, records: &[Record]) -> bool {
    records
        .iter()
        .all(|r| e.replica().get(&r.author, r.seq) == Some(r))
}

#[test]
fn a_summary_of_ten_thousand_authors_is_exchanged_in_pages_and_every_record_arrives() {
    let minted = minted(MINTED);
    let mut sim = Sim::with(2, 0, |c| c.budget.records = 100_000);
    // Node 1 holds every minted identity's record (as if relayed to it long ago).
    let cfg = sim.engines[1].config().clone();
    sim.engines[1] = Engine::new(cfg, minted.clone());
    sim.feed(1, Event::Start);
    sim.link(0, 1);
    sim.drain();
    assert_eq!(
        sim.refused_by_limits, 0,
        "every message within the wire's limits"
    );
    assert!(holds_all(&sim.engines[0], &minted), "node 0 lacks records");
    assert_eq!(
        sim.engines[0].replica().summary(),
        sim.engines[1].replica().summary()
    );
    let record_bytes: usize = minted.iter().map(record_size_estimate).sum();
    let record_pages = record_bytes.div_ceil(MAX_RECORD_BYTES_PER_MESSAGE)
        + MINTED.div_ceil(MAX_RECORDS_PER_MESSAGE);
    eprintln!(
        "full sync of {MINTED} authors: {} round trips, {} bytes in all (records: {record_bytes} \
         bytes; both directions and both nodes' digests included)",
        sim.round_trips, sim.wire_bytes
    );
    // Two digests, the record pages, a summary page or two more.
    assert!(
        sim.round_trips <= 2 + record_pages + 2,
        "{} round trips",
        sim.round_trips
    );
    assert!(
        sim.wire_bytes <= record_bytes + record_bytes / 4,
        "{} bytes for {record_bytes} bytes of records",
        sim.wire_bytes
    );

    // Idle: a resync round costs a digest and `InSync` per direction, however many authors.
    let (trips, bytes) = (sim.round_trips, sim.wire_bytes);
    sim.tick_after(0, 31_000);
    sim.tick_after(1, 0);
    sim.drain();
    let (idle_trips, idle_bytes) = (sim.round_trips - trips, sim.wire_bytes - bytes);
    eprintln!(
        "idle reconcile with {MINTED} authors: {idle_trips} round trips, {idle_bytes} bytes \
         (one per direction)"
    );
    assert_eq!(idle_trips, 2, "one round trip per direction");
    assert!(idle_bytes <= 2 * 1024, "{idle_bytes} bytes");
}

#[test]
fn an_offer_made_while_a_converter_was_away_reaches_it_past_ten_thousand_minted_identities() {
    // Node 0 converts; node 1 offers; node 2 takes in what a member who minted 10,000
    // identities pushes. Budgets are the defaults.
    let mut sim = Sim::new(3, 1);
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        sim.link(a, b);
    }
    sim.drain();
    sim.cut(0, 1);
    sim.cut(0, 2);
    let minter = NodeId::new("12D3KooWMinterMinterMinterMinterMinterMinterMinter");
    let minted = minted(MINTED);
    for batch in minted.chunks(1000) {
        sim.feed(
            2,
            Event::Records {
                from: minter.clone(),
                records: batch.to_vec(),
                sync_more: None,
                complete: vec![],
            },
        );
        sim.drain();
    }
    let item_id = sim.offer(1);
    sim.drain();
    sim.link(0, 1);
    sim.link(0, 2);
    let mut rounds = 0;
    loop {
        sim.drain();
        let reached = sim.engines[0]
            .item(&item_id)
            .is_some_and(|i| i.converter() == Some(&node_id(0)));
        if reached {
            break;
        }
        rounds += 1;
        assert!(rounds <= 10, "the offer never reached the converter");
        for i in 0..3 {
            sim.tick_after(i, 31_000);
        }
    }
    eprintln!("the offer reached the converter after {rounds} resync rounds");
    // Given time, every node holds every minted record too.
    for _ in 0..10 {
        for i in 0..3 {
            sim.tick_after(i, 31_000);
        }
        sim.drain();
    }
    assert_eq!(sim.refused_by_limits, 0);
    for i in 0..3 {
        assert!(
            holds_all(&sim.engines[i], &minted),
            "node {i} lacks records"
        );
    }
}

/// Effects of one push of `records` from `from` into `e` at `now`.
fn push(e: &mut Engine, from: &NodeId, records: Vec<Record>, now: Millis) -> Vec<Effect> {
    e.handle(
        Event::Records {
            from: from.clone(),
            records,
            sync_more: None,
            complete: vec![],
        },
        now,
    )
}

fn stored(fx: &[Effect]) -> usize {
    fx.iter()
        .map(|f| match f {
            Effect::Persist(r) => r.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn a_peer_over_its_budget_is_refused_and_a_well_behaved_peers_records_get_through() {
    let budget = RecordBudget {
        records: 100,
        bytes: 1 << 20,
    };
    let mut cfg = EngineConfig::new(sim::signer(0), "n0", None);
    cfg.budget = budget;
    let mut e = Engine::new(cfg, []);
    e.handle(Event::Start, 0);
    let (rogue, good, third) = (node_id(1), node_id(2), node_id(3));
    for p in [&rogue, &good, &third] {
        e.handle(Event::PeerConnected(p.clone()), 0);
    }
    let flood = minted(300);
    let fx = push(&mut e, &rogue, flood[..250].to_vec(), 1_000);
    assert_eq!(stored(&fx), 100, "the budget's worth is stored");
    assert!(fx.contains(&Effect::OverBudget {
        from: rogue.clone(),
        refused: 150,
        why: OverBudget::Records { limit: 100 },
    }));
    let relayed: usize = fx
        .iter()
        .map(|f| match f {
            Effect::Send {
                to,
                request: Request::Push { records },
            } if *to == third => records.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(relayed, 100, "what was refused is not relayed");
    assert!(holds_all(&e, &flood[..100]));
    assert!(flood[100..250]
        .iter()
        .all(|r| e.replica().get(&r.author, r.seq).is_none()));

    // A well-behaved peer, in the same minute, has its own budget.
    let signer = sim::signer(2);
    let own: Vec<Record> = (1..=10).map(|s| node_record(&signer, s, "good")).collect();
    let fx = push(&mut e, &good, own.clone(), 2_000);
    assert_eq!(stored(&fx), 10);
    assert!(!fx.iter().any(|f| matches!(f, Effect::OverBudget { .. })));

    // More from the rogue in the same minute: all refused; a minute later, taken again.
    let fx = push(&mut e, &rogue, flood[250..].to_vec(), 30_000);
    assert_eq!(stored(&fx), 0);
    let fx = push(&mut e, &rogue, flood[100..].to_vec(), 61_000);
    assert_eq!(stored(&fx), 100);

    // A sync page over budget ends the walk: nothing more is asked this round.
    let theirs = Summary(vec![(flood[299].author.clone(), 1)]);
    let fx = e.handle(
        Event::PeerSummary {
            from: rogue.clone(),
            summary: theirs,
            next: None,
        },
        62_000,
    );
    assert!(asks_sync(&fx, &rogue), "a walk starts");
    let fx = e.handle(
        Event::Records {
            from: rogue.clone(),
            records: flood[200..].to_vec(),
            sync_more: Some(true),
            complete: vec![],
        },
        62_100,
    );
    assert_eq!(stored(&fx), 0);
    assert!(!asks_sync(&fx, &rogue), "the walk ends");
}

fn asks_sync(fx: &[Effect], peer: &NodeId) -> bool {
    fx.iter()
        .any(|f| matches!(f, Effect::Send { to, request: Request::Sync { .. } } if to == peer))
}

/// The records of `n` items offered by `origin`, converted by `converter` and delivered, each
/// at its first attempt: what a node away meanwhile lacks.
fn finished_items(origin: &Signer, converter: &Signer, n: usize) -> Vec<Record> {
    let (mut o, mut c) = (0u64, 0u64);
    let mut out = Vec::new();
    for i in 0..n {
        let mut nonce = [7u8; 16];
        nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let item_id = dmc_protocol::ItemId::for_origin(origin.node_id(), &nonce);
        let mut by_origin = |body| {
            o += 1;
            signed(origin, o, body)
        };
        out.push(by_origin(RecordBody::Offer(dmc_protocol::Offer {
            item_id,
            nonce,
            file: sim::file(&format!("holiday film {i:04}.mov"), i as u8),
            media_type: dmc_protocol::MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: Some(5_400_000),
            priority: 0,
            sha512_follows: false,
            part_of: None,
        })));
        out.push(by_origin(RecordBody::Assign {
            item_id,
            epoch: 1,
            converter: converter.node_id().clone(),
        }));
        out.push(by_origin(RecordBody::Delivered {
            item_id,
            epoch: 1,
            output_path: format!("/home/me/dmc/converted/holiday film {i:04}.mkv"),
            sha512: format!("{:0128x}", i),
        }));
        let mut by_converter = |body| {
            c += 1;
            signed(converter, c, body)
        };
        out.push(by_converter(RecordBody::Accept { item_id, epoch: 1 }));
        out.push(by_converter(RecordBody::Converted {
            item_id,
            epoch: 1,
            output: sim::file(&format!("holiday film {i:04}.mkv"), i as u8),
        }));
    }
    out
}

#[test]
fn a_node_away_while_a_thousand_items_finished_catches_up_within_one_budget_minute() {
    // Node 1 holds the history of 1,000 finished items; node 0 comes back after 60 days
    // without any of it. Default budgets.
    let records = finished_items(&minted_signer(1), &minted_signer(2), 1000);
    let mut sim = Sim::new(2, 0);
    let cfg = sim.engines[1].config().clone();
    sim.engines[1] = Engine::new(cfg, records.clone());
    sim.feed(1, Event::Start);
    sim.link(0, 1);
    sim.drain();
    assert!(holds_all(&sim.engines[0], &records), "node 0 lacks records");
    let bytes: usize = records.iter().map(record_size_estimate).sum();
    let budget = sim.engines[0].config().budget;
    eprintln!(
        "catch-up of 1,000 finished items: {} records ({bytes} B), {} round trips, {} bytes \
         in all; budget {} records / {} B a minute",
        records.len(),
        sim.round_trips,
        sim.wire_bytes,
        budget.records,
        budget.bytes
    );
    assert!(records.len() <= budget.records as usize && bytes as u64 <= budget.bytes);
    assert!(sim.round_trips <= 2 + bytes.div_ceil(MAX_RECORD_BYTES_PER_MESSAGE) + 5);
}
