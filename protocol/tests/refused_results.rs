//! Results the origin will not deliver (issue 13, points 3 and 7): a result that fails the
//! origin's own check is a failed attempt and the item is retried elsewhere; a result its
//! converter lost is converted again without counting an attempt (up to
//! `FREE_LOST_RESULTS`). Only the origin may say either, and only about the current epoch's
//! result.

mod sim;

use dmc_protocol::engine::Event;
use dmc_protocol::item::FREE_LOST_RESULTS;
use dmc_protocol::{ItemId, NodeId, Phase, RecordBody, Status, Waiting};
use sim::{file, node_id, Sim};

/// Nodes `0..converters` convert, the last node offers one item; all linked.
fn farm(converters: usize, max_attempts: u32) -> (Sim, ItemId, usize) {
    let origin = converters;
    let mut sim = Sim::with(converters + 1, converters, |c| {
        c.max_attempts = max_attempts;
        c.retry_backoff = 1_000;
    });
    for a in 0..=converters {
        for b in a + 1..=converters {
            sim.link(a, b);
        }
    }
    sim.drain();
    let id = sim.offer(origin);
    sim.drain();
    (sim, id, origin)
}

fn idx(id: &NodeId) -> usize {
    (0..8).find(|i| node_id(*i) == *id).expect("a node")
}

/// The current converter accepts and converts the item; returns (epoch, converter).
fn convert_current(sim: &mut Sim, origin: usize, id: ItemId) -> (u32, usize) {
    let (epoch, conv) = sim.item(origin, &id).assignment.expect("assigned");
    let c = idx(&conv);
    sim.feed(c, Event::Local(RecordBody::Accept { item_id: id, epoch }));
    let output = file("out.mkv", epoch as u8);
    let converted = RecordBody::Converted {
        item_id: id,
        epoch,
        output,
    };
    sim.feed(c, Event::Local(converted));
    sim.drain();
    assert_eq!(sim.item(origin, &id).phase, Phase::Converted);
    (epoch, c)
}

fn refuse(sim: &mut Sim, origin: usize, id: ItemId, epoch: u32, lost: bool) {
    let body = RecordBody::ResultRefused {
        item_id: id,
        epoch,
        reason: if lost { "the file is gone" } else { "no video" }.into(),
        lost,
    };
    sim.feed(origin, Event::Local(body));
    sim.drain();
}

#[test]
fn a_refused_result_is_a_failed_attempt_retried_on_another_converter() {
    let (mut sim, id, origin) = farm(2, 3);
    let (epoch, first) = convert_current(&mut sim, origin, id);
    refuse(&mut sim, origin, id, epoch, false);
    let item = sim.item(origin, &id);
    assert_eq!(item.phase, Phase::Retrying);
    assert_eq!(item.phase.status(), Status::ToDo);
    assert_eq!(item.failures.len(), 1, "{:?}", item.failures);
    assert_eq!(item.failures[0].converter, node_id(first));
    assert_eq!(item.failures[0].error, "result refused by origin: no video");
    assert_eq!(
        item.result, None,
        "a refused result is not the item's result"
    );
    // The converter no longer keeps it.
    assert!(!sim.engines[first].result_wanted(&id, epoch));
    // After the backoff, the next epoch goes to the other converter.
    sim.tick_after(origin, 1_100);
    sim.drain();
    let item = sim.item(origin, &id);
    let (next, conv) = item.assignment.clone().expect("reassigned");
    assert!(next > epoch);
    assert_eq!(idx(&conv), 1 - first);
    assert_eq!(item.phase, Phase::Assigned);
    // Everyone agrees (on the records: each node has its own receipt times).
    assert_eq!(sim.states(first)[&id], sim.states(origin)[&id]);
}

#[test]
fn refused_results_count_against_max_attempts() {
    let (mut sim, id, origin) = farm(1, 2);
    for n in 1..=2 {
        let (epoch, _) = convert_current(&mut sim, origin, id);
        refuse(&mut sim, origin, id, epoch, false);
        sim.tick_after(origin, 1_100 * n);
        sim.drain();
    }
    let item = sim.item(origin, &id);
    assert_eq!(item.phase, Phase::Failed, "{item:?}");
    assert_eq!(item.failures.len(), 2);
}

#[test]
fn a_lost_result_is_converted_again_at_once_without_counting_an_attempt() {
    // One converter, one attempt allowed: a counted attempt would end the item.
    let (mut sim, id, origin) = farm(1, 1);
    let (epoch, conv) = convert_current(&mut sim, origin, id);
    refuse(&mut sim, origin, id, epoch, true);
    let item = sim.item(origin, &id);
    // Reassigned at once, to the only converter there is.
    let (next, to) = item.assignment.clone().expect("reassigned");
    assert!(next > epoch);
    assert_eq!(idx(&to), conv);
    assert_eq!(item.phase, Phase::Assigned);
    assert!(item.failures.is_empty(), "{:?}", item.failures);
    assert_eq!(item.lost_results.len(), 1);
    assert_eq!(
        item.lost_results[0].error,
        "result lost by its converter: the file is gone"
    );
    // It converts and is delivered: nothing was counted.
    let (epoch, _) = convert_current(&mut sim, origin, id);
    let delivered = RecordBody::Delivered {
        item_id: id,
        epoch,
        output_path: "/out/clip.mkv".into(),
        sha512: format!("{:0128x}", 1),
    };
    sim.feed(origin, Event::Local(delivered));
    sim.drain();
    let item = sim.item(origin, &id);
    assert_eq!(item.phase, Phase::Delivered);
    assert!(item.failures.is_empty());
    assert_eq!(sim.states(conv)[&id], sim.states(origin)[&id]);
}

#[test]
fn while_no_converter_is_free_a_lost_result_says_so() {
    let (mut sim, id, origin) = farm(1, 3);
    let (epoch, conv) = convert_current(&mut sim, origin, id);
    sim.cut(conv, origin);
    refuse(&mut sim, origin, id, epoch, true);
    let item = sim.item(origin, &id);
    assert_eq!(item.phase, Phase::Offered);
    assert_eq!(
        item.waiting(),
        Some(Waiting::ResultLost {
            converter: node_id(conv),
            reason: "result lost by its converter: the file is gone".into(),
        })
    );
}

#[test]
fn lost_results_beyond_the_free_ones_count_as_attempts() {
    let attempts = 2;
    let (mut sim, id, origin) = farm(1, attempts);
    for _ in 0..FREE_LOST_RESULTS {
        let (epoch, _) = convert_current(&mut sim, origin, id);
        refuse(&mut sim, origin, id, epoch, true);
    }
    let item = sim.item(origin, &id);
    assert!(item.failures.is_empty());
    assert_eq!(item.lost_results.len(), FREE_LOST_RESULTS);
    for n in 1..=attempts as u64 {
        let (epoch, _) = convert_current(&mut sim, origin, id);
        refuse(&mut sim, origin, id, epoch, true);
        sim.tick_after(origin, 1_100 * n);
        sim.drain();
    }
    let item = sim.item(origin, &id);
    assert_eq!(item.phase, Phase::Failed, "{item:?}");
    assert_eq!(item.failures.len(), attempts as usize);
    assert!(
        item.failures[0].error.contains("more than 3 lost results"),
        "{:?}",
        item.failures
    );
}

#[test]
fn only_the_origin_refuses_and_only_the_current_converted_result() {
    let (mut sim, id, origin) = farm(2, 3);
    let (epoch, conv) = convert_current(&mut sim, origin, id);
    // The converter cannot refuse its own result, nor can the other converter.
    for who in [conv, 1 - conv] {
        let body = RecordBody::ResultRefused {
            item_id: id,
            epoch,
            reason: "not mine to say".into(),
            lost: true,
        };
        assert!(!sim.engines[who].may_author(&body));
        sim.feed(who, Event::Local(body));
        sim.drain();
        assert_eq!(sim.item(origin, &id).phase, Phase::Converted);
    }
    // The origin cannot refuse another epoch's result.
    let other = RecordBody::ResultRefused {
        item_id: id,
        epoch: epoch + 1,
        reason: "no such result".into(),
        lost: false,
    };
    assert!(!sim.engines[origin].may_author(&other));
    // Nor a result not converted yet: refused, then reassigned, the new epoch is only
    // assigned.
    refuse(&mut sim, origin, id, epoch, false);
    sim.tick_after(origin, 1_100);
    sim.drain();
    let (next, _) = sim.item(origin, &id).assignment.expect("reassigned");
    let early = RecordBody::ResultRefused {
        item_id: id,
        epoch: next,
        reason: "too early".into(),
        lost: false,
    };
    assert!(!sim.engines[origin].may_author(&early));
}
