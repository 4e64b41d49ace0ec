//! Clocks differ between nodes: every duration is measured on the node that acts, from when
//! it received the record, never from the author's `created_at`. A converter whose clock is
//! 10 minutes behind must not make the origin's rejection cool-down pass at once (no
//! assign/reject ping-pong); retention on a converter counts from when it holds the result.

mod sim;

use dmc_protocol::engine::{Engine, EngineConfig, Event, Restored};
use dmc_protocol::schedule::REJECT_COOLDOWN_MS;
use dmc_protocol::{ItemId, Phase, RecordBody};
use sim::{signer, Sim};

const CONVERTER: usize = 0;
const ORIGIN: usize = 1;
const MINUTE: u64 = 60_000;

/// How many `Assign` records the origin holds for `id`.
fn assigns(sim: &Sim, id: &ItemId) -> usize {
    sim.engines[ORIGIN]
        .replica()
        .item_records(id)
        .iter()
        .filter(|r| matches!(r.body, RecordBody::Assign { .. }))
        .count()
}

/// The converter refuses every assignment it is asked to evaluate.
fn reject_all(sim: &mut Sim) {
    while let Some(p) = sim.pending.pop() {
        if let sim::Pending::Evaluate {
            node,
            item_id,
            epoch,
        } = p
        {
            let reason = "insufficient disk: need 2 GiB, have 1 GiB".to_string();
            let body = RecordBody::Reject {
                item_id,
                epoch,
                reason,
                until_fewer: None,
            };
            sim.feed(node, Event::Local(body));
        }
    }
    sim.drain();
}

#[test]
fn a_converter_ten_minutes_behind_gets_no_ping_pong_of_assignments() {
    let mut sim = Sim::new(2, 1);
    sim.now = 1_764_000_000_000;
    sim.skew[CONVERTER] = -10 * MINUTE as i64;
    sim.link(CONVERTER, ORIGIN);
    sim.drain();
    let id = sim.offer(ORIGIN);
    sim.drain();
    assert_eq!(assigns(&sim, &id), 1, "assigned once");
    reject_all(&mut sim);
    assert_eq!(sim.item(ORIGIN, &id).phase, Phase::Rejected);
    let before = sim.engines[ORIGIN].replica().len();
    // Nine minutes of ticks, once a second: the converter refused just now by the origin's
    // clock, so it is not asked again.
    for _ in 0..9 * 60 {
        sim.tick_after(ORIGIN, 1_000);
        sim.drain();
        reject_all(&mut sim);
    }
    assert_eq!(
        assigns(&sim, &id),
        1,
        "no new assignment within the cool-down"
    );
    assert_eq!(
        sim.engines[ORIGIN].replica().len(),
        before,
        "no records made while the item waits"
    );
    // Once the cool-down has passed on the origin's clock, it is asked again, once.
    sim.tick_after(ORIGIN, REJECT_COOLDOWN_MS - 9 * MINUTE + 1_000);
    sim.drain();
    assert_eq!(assigns(&sim, &id), 2, "asked again after the cool-down");
}

#[test]
fn retention_counts_from_when_the_converter_holds_the_result() {
    // Records made by a converter whose clock was 31 days behind when it made its result,
    // restored with the time it received them: retention (30 days) has not passed.
    let mut sim = Sim::new(2, 1);
    sim.link(CONVERTER, ORIGIN);
    sim.drain();
    let id = sim.offer(ORIGIN);
    sim.drain();
    let epoch = sim.item(ORIGIN, &id).epoch().expect("assigned");
    sim.cut(CONVERTER, ORIGIN);
    sim.feed(
        CONVERTER,
        Event::Local(RecordBody::Accept { item_id: id, epoch }),
    );
    let output = sim::file("out.mkv", 3);
    let converted = RecordBody::Converted {
        item_id: id,
        epoch,
        output,
    };
    sim.feed(CONVERTER, Event::Local(converted));
    let records: Vec<_> = sim.engines[CONVERTER]
        .replica()
        .item_records(&id)
        .into_iter()
        .cloned()
        .collect();
    let day = 24 * 60 * MINUTE;
    let now = sim.now + 31 * day;
    // Made 31 days ago by the record's clock, received an hour ago.
    let stored = records.into_iter().map(|mut r| {
        r.created_at = r.created_at.saturating_sub(31 * day);
        (r, now - 60 * MINUTE)
    });
    let cfg = EngineConfig::new(signer(CONVERTER), "n0", None);
    let stored = Restored {
        records: stored.collect(),
        ..Restored::default()
    };
    let mut engine = Engine::restore(cfg, stored);
    assert_eq!(engine.item(&id).expect("item").phase, Phase::Converted);
    engine.handle(Event::Start, now);
    engine.handle(Event::Tick, now);
    assert_eq!(
        engine.item(&id).expect("item").phase,
        Phase::Converted,
        "the result is kept: held for an hour, not 31 days"
    );
    engine.handle(Event::Tick, now + 30 * day);
    assert_eq!(engine.item(&id).expect("item").phase, Phase::Retrying);
}
