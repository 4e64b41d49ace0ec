//! Authority of records: each kind of record counts only from the node entitled to it, and a
//! forged or out-of-turn record is refused (and changes nothing), also when a third node
//! relays it.

mod sim;

use dmc_protocol::engine::{Effect, Event};
use dmc_protocol::{ItemId, MediaType, Offer, Phase, ProgressInfo, Record, RecordBody, Stage};
use sim::{file, node_id, Sim};

const CONVERTER: usize = 0;
const ORIGIN: usize = 1;
const MALLORY: usize = 2;

/// Node 1 offers; node 0 converts and accepts; node 2 (a member of the network, but not
/// entitled to anything about the item) is connected to both.
fn accepted_item() -> (Sim, ItemId) {
    let mut sim = Sim::new(3, 1);
    sim.link(CONVERTER, ORIGIN);
    sim.link(MALLORY, ORIGIN);
    sim.link(MALLORY, CONVERTER);
    sim.drain();
    let id = sim.offer(ORIGIN);
    sim.drain();
    sim.feed(
        CONVERTER,
        Event::Local(RecordBody::Accept {
            item_id: id,
            epoch: 1,
        }),
    );
    sim.drain();
    assert_eq!(sim.item(ORIGIN, &id).phase, Phase::Accepted);
    (sim, id)
}

/// A record claiming `author`, signed by `key_of` (the same node for a genuine record).
fn record(author: usize, key_of: usize, seq: u64, body: RecordBody) -> Record {
    sim::record_by(author, key_of, seq, body)
}

/// Mallory hands `records` to node `to`; returns the reasons `to` refused them for.
fn relay(sim: &mut Sim, to: usize, records: Vec<Record>) -> Vec<String> {
    sim::relay(sim, MALLORY, to, records)
}

#[test]
fn a_forged_cancel_relayed_by_a_third_node_changes_nothing() {
    let (mut sim, id) = accepted_item();
    let before = sim.item(CONVERTER, &id);
    let held = sim.engines[CONVERTER].replica().len();
    // Mallory writes a cancel in the origin's name, with a sequence the origin has not used.
    let forged = record(ORIGIN, MALLORY, 1000, RecordBody::Cancel { item_id: id });
    let refused = relay(&mut sim, CONVERTER, vec![forged]);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("forged"), "{}", refused[0]);
    assert_eq!(sim.item(CONVERTER, &id), before);
    assert_eq!(sim.engines[CONVERTER].replica().len(), held);
}

#[test]
fn an_altered_genuine_record_is_refused() {
    let (mut sim, id) = accepted_item();
    let me = node_id(ORIGIN);
    let mut altered = sim.engines[ORIGIN]
        .replica()
        .item_records(&id)
        .into_iter()
        .find(|r| r.author == me)
        .cloned()
        .expect("the offer");
    if let RecordBody::Offer(o) = &mut altered.body {
        o.profile = "mkv-x265".into();
    }
    altered.seq = 999;
    let refused = relay(&mut sim, CONVERTER, vec![altered]);
    assert_eq!(refused.len(), 1, "{refused:?}");
}

#[test]
fn only_the_origin_may_assign_cancel_or_deliver() {
    let (mut sim, id) = accepted_item();
    let before = sim.item(CONVERTER, &id);
    // Signed by Mallory itself, so genuine, but out of turn.
    let assign = record(
        MALLORY,
        MALLORY,
        100,
        RecordBody::Assign {
            item_id: id,
            epoch: 9,
            converter: node_id(MALLORY),
        },
    );
    let cancel = record(MALLORY, MALLORY, 101, RecordBody::Cancel { item_id: id });
    let refused = relay(&mut sim, CONVERTER, vec![assign, cancel]);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|r| r.contains("only its origin")));
    assert_eq!(sim.item(CONVERTER, &id), before);
    assert_eq!(sim.item(ORIGIN, &id).phase, Phase::Accepted);
}

#[test]
fn only_the_assigned_converter_may_report_on_its_epoch() {
    let (mut sim, id) = accepted_item();
    let before = sim.item(ORIGIN, &id);
    let progress = record(
        MALLORY,
        MALLORY,
        100,
        RecordBody::Progress {
            item_id: id,
            epoch: 1,
            progress: ProgressInfo {
                stage: Stage::Converting,
                fraction: 0.9,
                fps: None,
                speed: None,
                eta_secs: None,
                segments: None,
            },
        },
    );
    let failed = record(
        MALLORY,
        MALLORY,
        101,
        RecordBody::Failed {
            item_id: id,
            epoch: Some(1),
            error: "boom".into(),
            certain: false,
        },
    );
    let refused = relay(&mut sim, ORIGIN, vec![progress, failed]);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|r| r.contains("assigned to")));
    assert_eq!(sim.item(ORIGIN, &id), before);
}

#[test]
fn an_offer_for_someone_elses_item_is_refused() {
    let (mut sim, id) = accepted_item();
    let before = sim.item(CONVERTER, &id);
    let hijack = record(
        MALLORY,
        MALLORY,
        100,
        RecordBody::Offer(Offer {
            item_id: id,
            nonce: [1; 16],
            file: file("evil.mp4", 3),
            media_type: MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: None,
            priority: 99,
            sha512_follows: false,
            part_of: None,
        }),
    );
    let refused = relay(&mut sim, CONVERTER, vec![hijack]);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("item_id"), "{}", refused[0]);
    assert_eq!(sim.item(CONVERTER, &id), before);
}

#[test]
fn out_of_turn_records_that_arrive_before_their_offer_are_ignored_by_the_fold() {
    // A node that holds nothing of the item yet cannot judge Mallory's cancel: it keeps it,
    // but once the offer arrives the fold gives it no effect.
    let mut sim = Sim::new(3, 1);
    let nonce = [5; 16];
    let id = ItemId::for_origin(&node_id(ORIGIN), &nonce);
    let cancel = record(MALLORY, MALLORY, 1, RecordBody::Cancel { item_id: id });
    assert!(relay(&mut sim, CONVERTER, vec![cancel]).is_empty());
    let offer = record(
        ORIGIN,
        ORIGIN,
        1,
        RecordBody::Offer(Offer {
            item_id: id,
            nonce,
            file: file("clip.mp4", 1),
            media_type: MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: None,
            priority: 0,
            sha512_follows: false,
            part_of: None,
        }),
    );
    let fx = sim.engines[CONVERTER].handle(
        Event::Records {
            from: node_id(ORIGIN),
            records: vec![offer],
            sync_more: None,
            complete: vec![],
        },
        sim.now + 1,
    );
    assert!(!fx.iter().any(|e| matches!(e, Effect::Refused { .. })));
    assert_eq!(sim.item(CONVERTER, &id).phase, Phase::Offered);
}

/// A node makes only the records it may make now: the same rule of who may author what as
/// for records it receives, plus where the item must be.
#[test]
fn a_node_makes_no_record_out_of_turn() {
    let (sim, id) = accepted_item();
    let made = |node: usize, body: RecordBody| sim.engines[node].may_author(&body);
    let progress = ProgressInfo {
        stage: Stage::Converting,
        fraction: 0.5,
        fps: None,
        speed: None,
        eta_secs: None,
        segments: None,
    };
    let sha512 = format!("{:0128x}", 1);
    let delivered = |epoch| RecordBody::Delivered {
        item_id: id,
        epoch,
        output_path: "/out/a.mkv".into(),
        sha512: sha512.clone(),
    };
    // Progress is never a record any more: nobody makes one. The converter of the current
    // epoch reports it as an ephemeral report instead (tests/progress.rs).
    let report = |epoch| RecordBody::Progress {
        item_id: id,
        epoch,
        progress,
    };
    assert!(!made(CONVERTER, report(1)), "a report, not a record");
    assert!(!made(CONVERTER, report(2)), "not its epoch");
    assert!(!made(MALLORY, report(1)), "not its item");
    assert!(!made(ORIGIN, report(1)), "the origin is not the converter");
    let accept = RecordBody::Accept {
        item_id: id,
        epoch: 1,
    };
    assert!(!made(CONVERTER, accept), "accepted already");
    // Only the origin cancels, fails or takes delivery of its item, each in its turn.
    let cancel = RecordBody::Cancel { item_id: id };
    assert!(made(ORIGIN, cancel.clone()));
    assert!(!made(CONVERTER, cancel), "not the origin");
    let failed = |epoch| RecordBody::Failed {
        item_id: id,
        epoch,
        error: "source changed".into(),
        certain: false,
    };
    assert!(made(ORIGIN, failed(None)));
    assert!(!made(CONVERTER, failed(None)), "not the origin");
    assert!(made(CONVERTER, failed(Some(1))));
    assert!(!made(ORIGIN, failed(Some(1))), "not the converter");
    assert!(!made(ORIGIN, delivered(1)), "no result yet");
    assert!(!made(CONVERTER, delivered(1)), "not its item");
    // Assignments and node records are the engine's own decisions; an offer is made once.
    let assign = RecordBody::Assign {
        item_id: id,
        epoch: 2,
        converter: node_id(MALLORY),
    };
    assert!(!made(ORIGIN, assign));
    let again = sim.item(ORIGIN, &id).offer;
    assert!(!made(ORIGIN, RecordBody::Offer(again)));
    let unknown = ItemId::from_random([77; 16]);
    assert!(!made(ORIGIN, RecordBody::Cancel { item_id: unknown }));
}
