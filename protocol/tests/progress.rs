//! Progress is not history: a converter reporting every second for hours adds nothing to the
//! replicated records, yet the origin sees its progress and its lease never expires.

mod sim;

use dmc_protocol::engine::Event;
use dmc_protocol::{ItemId, Phase, ProgressInfo, RecordBody, Stage};
use sim::{file, node_id, Sim};

const ORIGIN: usize = 2;
/// Records an item may keep when its first attempt succeeds, however long it runs.
const MAX_RECORDS_PER_ITEM: u64 = 12;

fn converting(fraction: f32) -> ProgressInfo {
    ProgressInfo {
        stage: Stage::Converting,
        fraction,
        fps: Some(25.0),
        speed: Some(1.0),
        eta_secs: Some(10),
        segments: None,
    }
}

/// Node 2 offers; nodes 0 and 1 convert (1 is there so that an expired lease would move the
/// item). Only 0 is linked when the item is offered, so 0 gets it and accepts it.
fn accepted_by_node0() -> (Sim, ItemId) {
    let mut sim = Sim::new(3, 2);
    sim.link(0, ORIGIN);
    sim.drain();
    let id = sim.offer(ORIGIN);
    sim.drain();
    sim.feed(
        0,
        Event::Local(RecordBody::Accept {
            item_id: id,
            epoch: 1,
        }),
    );
    sim.link(1, ORIGIN);
    sim.drain();
    (sim, id)
}

/// How many records each node keeps about the item.
fn records_per_node(sim: &Sim, id: &ItemId) -> Vec<usize> {
    (0..sim.engines.len())
        .map(|i| sim.engines[i].replica().item_records(id).len())
        .collect()
}

#[test]
fn two_hours_of_progress_keep_at_most_twelve_records_and_the_lease() {
    let (mut sim, id) = accepted_by_node0();
    let seconds = 2 * 3600;
    for s in 0..seconds {
        sim.tick_after(0, 1_000);
        sim.feed(
            0,
            Event::Local(RecordBody::Progress {
                item_id: id,
                epoch: 1,
                progress: converting(s as f32 / seconds as f32),
            }),
        );
        sim.drain();
        sim.tick_after(ORIGIN, 0);
        sim.drain();
        if s % 600 == 0 {
            let seen = sim.item(ORIGIN, &id);
            assert_eq!(
                seen.assignment,
                Some((1, node_id(0))),
                "lease expired at {s} s"
            );
            assert_eq!(seen.phase, Phase::Converting, "at {s} s");
            let fraction = seen.progress.map(|p| p.fraction).unwrap_or(-1.0);
            assert!(
                (fraction - s as f32 / seconds as f32).abs() < 1e-3,
                "at {s} s"
            );
        }
    }
    sim.feed(
        0,
        Event::Local(RecordBody::Converted {
            item_id: id,
            epoch: 1,
            output: file("out.mkv", 1),
        }),
    );
    sim.drain();
    sim.feed(
        ORIGIN,
        Event::Local(RecordBody::Delivered {
            item_id: id,
            epoch: 1,
            output_path: "/out/clip.mkv".into(),
            sha512: format!("{:0128x}", 1),
        }),
    );
    sim.heal();
    let per_node = records_per_node(&sim, &id);
    eprintln!("records of the item on each node after 2 h of progress: {per_node:?}");
    for (i, n) in per_node.iter().enumerate() {
        let item = sim.item(i, &id);
        assert_eq!(item.phase, Phase::Delivered);
        assert!(
            item.version <= MAX_RECORDS_PER_ITEM && *n as u64 <= MAX_RECORDS_PER_ITEM,
            "node {i} keeps {n} records of one item"
        );
    }
    // Nothing else grew either: node records and this one item are all there is.
    for (i, e) in sim.engines.iter().enumerate() {
        assert!(
            e.replica().len() as u64 <= MAX_RECORDS_PER_ITEM + 3,
            "node {i} holds {} records",
            e.replica().len()
        );
    }
}

/// The converter reports every second for `secs` seconds, ticking both ends.
fn report_for(sim: &mut Sim, id: ItemId, secs: u32, fraction: impl Fn(u32) -> f32) {
    for s in 0..secs {
        sim.tick_after(0, 1_000);
        sim.feed(
            0,
            Event::Local(RecordBody::Progress {
                item_id: id,
                epoch: 1,
                progress: converting(fraction(s)),
            }),
        );
        sim.drain();
        sim.tick_after(ORIGIN, 0);
        sim.drain();
    }
}

#[test]
fn reports_relayed_by_a_third_node_keep_the_lease_and_a_reconnect_sees_progress_at_once() {
    let (mut sim, id) = accepted_by_node0();
    // The converter now reaches the origin only through node 1 (a converter that would get
    // the item if the lease expired).
    sim.cut(0, ORIGIN);
    sim.link(0, 1);
    sim.drain();
    report_for(&mut sim, id, 5 * 60, |s| s as f32 / 1000.0);
    let seen = sim.item(ORIGIN, &id);
    assert_eq!(seen.assignment, Some((1, node_id(0))), "the lease expired");
    assert_eq!(seen.phase, Phase::Converting);
    assert!((seen.progress.unwrap().fraction - 0.299).abs() < 1e-4);

    // The origin goes offline for a while; the converter goes on.
    sim.cut(1, ORIGIN);
    report_for(&mut sim, id, 60, |s| 0.5 + s as f32 / 1000.0);
    assert!(sim.item(ORIGIN, &id).progress.unwrap().fraction < 0.3);
    // On reconnecting it sees where the converter is, before any tick of either.
    sim.link(0, ORIGIN);
    sim.drain();
    let seen = sim.item(ORIGIN, &id);
    assert!(
        (seen.progress.unwrap().fraction - 0.559).abs() < 1e-4,
        "{seen:?}"
    );
    assert_eq!(sim.engines[ORIGIN].replica().item_records(&id).len(), 3);
}

#[test]
fn a_report_from_a_node_that_does_not_hold_the_item_is_refused() {
    use dmc_protocol::engine::Effect;
    use dmc_protocol::ProgressReport;
    let (mut sim, id) = accepted_by_node0();
    let before = sim.item(ORIGIN, &id);
    let mallory = sim::signer(1);
    let mut own = ProgressReport {
        author: node_id(1),
        item_id: id,
        epoch: 1,
        progress: converting(0.9),
        created_at: sim.now,
        sig: Default::default(),
    };
    mallory.sign_report(&mut own);
    // In the converter's name, signed with Mallory's key.
    let mut forged = own.clone();
    forged.author = node_id(0);
    for (report, why) in [(own, "does not hold it"), (forged, "signature")] {
        let fx = sim.engines[ORIGIN].handle(
            Event::Report {
                from: node_id(1),
                report,
            },
            sim.now,
        );
        let refused: Vec<&Effect> = fx
            .iter()
            .filter(|e| matches!(e, Effect::Refused { reason, .. } if reason.contains(why)))
            .collect();
        assert_eq!(refused.len(), 1, "{fx:?}");
        assert!(
            !fx.iter().any(|e| matches!(e, Effect::Send { .. })),
            "relayed"
        );
    }
    assert_eq!(sim.item(ORIGIN, &id), before);
}

#[test]
fn progress_records_stored_by_older_versions_still_fold_and_count_for_speed() {
    use dmc_protocol::engine::{Engine, EngineConfig};
    use dmc_protocol::Record;
    let (sim, id) = accepted_by_node0();
    let mut stored: Vec<Record> = sim.engines[ORIGIN]
        .replica()
        .item_records(&id)
        .into_iter()
        .cloned()
        .collect();
    let seq = sim.engines[0].replica().max_seq(&node_id(0)) + 1;
    let mut legacy = Record {
        author: node_id(0),
        seq,
        created_at: sim.now,
        body: RecordBody::Progress {
            item_id: id,
            epoch: 1,
            progress: ProgressInfo {
                speed: Some(2.0),
                ..converting(0.4)
            },
        },
        sig: Default::default(),
    };
    sim::signer(0).sign(&mut legacy);
    stored.push(legacy);
    let engine = Engine::new(
        EngineConfig::new(sim::signer(ORIGIN), "origin", None),
        stored,
    );
    let item = engine.item(&id).expect("folded");
    assert_eq!(item.phase, Phase::Converting);
    assert_eq!(item.progress.map(|p| p.fraction), Some(0.4));
    assert_eq!(engine.measured_speed(&node_id(0)), Some(2.0));
}

/// The converter `c` runs the current attempt for `secs` seconds of reports.
fn run_attempt(sim: &mut Sim, id: ItemId, secs: u32) -> (u32, usize) {
    let (epoch, conv) = sim.item(ORIGIN, &id).assignment.expect("assigned");
    let c = (0..2).find(|i| node_id(*i) == conv).expect("a converter");
    sim.feed(c, Event::Local(RecordBody::Accept { item_id: id, epoch }));
    sim.drain();
    for s in 0..secs {
        sim.tick_after(c, 1_000);
        sim.feed(
            c,
            Event::Local(RecordBody::Progress {
                item_id: id,
                epoch,
                progress: converting(s as f32 / secs as f32),
            }),
        );
        sim.drain();
        sim.tick_after(ORIGIN, 0);
        sim.drain();
    }
    assert_eq!(sim.item(ORIGIN, &id).assignment, Some((epoch, conv)));
    (epoch, c)
}

#[test]
fn each_further_attempt_adds_a_bounded_number_of_records() {
    let mut sim = Sim::new(3, 2);
    for (a, b) in [(0, ORIGIN), (1, ORIGIN), (0, 1)] {
        sim.link(a, b);
    }
    sim.drain();
    let id = sim.offer(ORIGIN);
    sim.drain();
    // Two attempts of an hour each fail; the third, of an hour too, succeeds.
    for _ in 0..2 {
        let (epoch, c) = run_attempt(&mut sim, id, 3600);
        sim.feed(
            c,
            Event::Local(RecordBody::Failed {
                item_id: id,
                epoch: Some(epoch),
                error: "ffmpeg exited 1".into(),
                certain: false,
            }),
        );
        sim.drain();
        // Past the backoff (30 s, then 60 s), the origin assigns the next attempt.
        sim.tick_after(ORIGIN, 61_000);
        sim.drain();
    }
    let (epoch, c) = run_attempt(&mut sim, id, 3600);
    sim.feed(
        c,
        Event::Local(RecordBody::Converted {
            item_id: id,
            epoch,
            output: file("out.mkv", 3),
        }),
    );
    sim.drain();
    sim.feed(
        ORIGIN,
        Event::Local(RecordBody::Delivered {
            item_id: id,
            epoch,
            output_path: "/out/clip.mkv".into(),
            sha512: format!("{:0128x}", 3),
        }),
    );
    sim.heal();
    let per_node = records_per_node(&sim, &id);
    eprintln!("records of the item after 3 attempts of an hour each: {per_node:?}");
    // Offer and delivery, then per attempt an assignment, an acceptance and its end.
    for (i, n) in per_node.iter().enumerate() {
        assert_eq!(sim.item(i, &id).phase, Phase::Delivered);
        assert!(*n <= 2 + 3 * 3, "node {i} keeps {n} records of one item");
    }
}
