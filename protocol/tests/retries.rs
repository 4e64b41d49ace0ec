//! Retries: a failed attempt sends the item, after a backoff, to a converter that has not
//! failed it; after `max_attempts` failed attempts the origin gives up and lists every error.

mod sim;

use dmc_protocol::engine::Event;
use dmc_protocol::{ItemId, NextAttempt, NodeId, Phase, RecordBody, Status, Waiting};
use sim::{node_id, Sim};

const ORIGIN: usize = 2;

/// Nodes 0 and 1 convert, node 2 offers one item; all linked.
fn farm(max_attempts: u32, backoff: u64) -> (Sim, ItemId) {
    let mut sim = Sim::with(3, 2, |c| {
        c.max_attempts = max_attempts;
        c.retry_backoff = backoff;
    });
    sim.link(0, ORIGIN);
    sim.link(1, ORIGIN);
    sim.link(0, 1);
    sim.drain();
    let id = sim.offer(ORIGIN);
    sim.drain();
    (sim, id)
}

fn idx(id: &NodeId) -> usize {
    (0..2).find(|i| node_id(*i) == *id).expect("a converter")
}

/// The current converter accepts the item and fails it.
fn fail_current(sim: &mut Sim, id: ItemId, error: &str) -> (u32, usize) {
    let (epoch, conv) = sim
        .item(ORIGIN, &id)
        .assignment
        .expect("the item is assigned");
    let c = idx(&conv);
    sim.feed(c, Event::Local(RecordBody::Accept { item_id: id, epoch }));
    sim.feed(
        c,
        Event::Local(RecordBody::Failed {
            item_id: id,
            epoch: Some(epoch),
            error: error.into(),
            certain: false,
        }),
    );
    sim.drain();
    (epoch, c)
}

#[test]
fn a_failed_attempt_is_retried_on_the_other_converter_after_the_backoff() {
    let (mut sim, id) = farm(3, 10_000);
    let (epoch, first) = fail_current(&mut sim, id, "ffmpeg exited 1");
    let item = sim.item(ORIGIN, &id);
    assert_eq!(item.phase, Phase::Retrying);
    assert_eq!(item.phase.status(), Status::ToDo);
    assert_eq!(item.failures.len(), 1);
    let note = sim.engines[ORIGIN]
        .retry_note(&item, sim.now)
        .expect("a note");
    assert!(
        matches!(
            &note,
            Waiting::AfterFailure {
                attempt: 1,
                error,
                next: NextAttempt::Retry { .. },
                ..
            } if error == "ffmpeg exited 1"
        ),
        "{note:?}"
    );
    // Within the backoff nothing is reassigned.
    sim.tick_after(ORIGIN, 5_000);
    sim.drain();
    assert_eq!(sim.item(ORIGIN, &id).assignment.map(|a| a.0), Some(epoch));
    assert_eq!(sim.item(ORIGIN, &id).phase, Phase::Retrying);
    // After it, the item goes to the converter that has not failed it.
    sim.tick_after(ORIGIN, 6_000);
    sim.drain();
    let item = sim.item(ORIGIN, &id);
    let (next_epoch, next) = item.assignment.clone().expect("reassigned");
    assert!(next_epoch > epoch);
    assert_eq!(idx(&next), 1 - first);
    assert_eq!(item.phase, Phase::Assigned);
    // Everyone agrees (on what the records say; each node keeps its own receipt times).
    assert_eq!(sim.states(first)[&id], sim.states(ORIGIN)[&id]);
}

#[test]
fn the_origin_gives_up_after_max_attempts_listing_every_error() {
    let (mut sim, id) = farm(3, 1_000);
    let mut used = Vec::new();
    for n in 1..=3u64 {
        let (_, c) = fail_current(&mut sim, id, &format!("failure {n}"));
        used.push(c);
        if n < 3 {
            // The backoff doubles: 1 s after the first failure, 2 s after the second.
            let wait = 1_000 << (n - 1);
            sim.tick_after(ORIGIN, wait - 500);
            sim.drain();
            assert_eq!(sim.item(ORIGIN, &id).phase, Phase::Retrying, "attempt {n}");
            sim.tick_after(ORIGIN, 600);
            sim.drain();
            assert_eq!(sim.item(ORIGIN, &id).phase, Phase::Assigned, "attempt {n}");
        }
    }
    // Consecutive attempts go to different converters.
    assert_ne!(used[0], used[1]);
    assert_ne!(used[1], used[2]);
    let item = sim.item(ORIGIN, &id);
    assert_eq!(item.phase, Phase::Failed);
    assert_eq!(item.phase.status(), Status::FinishedWithErrors);
    assert_eq!(item.failures.len(), 3, "{:?}", item.failures);
    for n in 1..=3 {
        let error = &item.failures[n - 1].error;
        assert!(error.ends_with(&format!("failure {n}")), "{error}");
    }
    assert_eq!(
        item.origin_error.as_deref(),
        Some("gave up after 3 attempts")
    );
    // No more assignments after giving up.
    sim.tick_after(ORIGIN, 60_000);
    sim.drain();
    assert_eq!(sim.item(ORIGIN, &id), item);
    assert_eq!(sim.states(0)[&id], sim.states(ORIGIN)[&id]);
}

#[test]
fn a_lone_converter_that_failed_is_tried_again() {
    let mut sim = Sim::with(2, 1, |c| c.retry_backoff = 1_000);
    sim.link(0, 1);
    sim.drain();
    let id = sim.offer(1);
    sim.drain();
    sim.feed(
        0,
        Event::Local(RecordBody::Accept {
            item_id: id,
            epoch: 1,
        }),
    );
    sim.feed(
        0,
        Event::Local(RecordBody::Failed {
            item_id: id,
            epoch: Some(1),
            error: "out of memory".into(),
            certain: false,
        }),
    );
    sim.drain();
    sim.tick_after(1, 2_000);
    sim.drain();
    assert_eq!(sim.item(1, &id).assignment, Some((2, node_id(0))));
}

#[test]
fn refusals_are_not_attempts() {
    let (mut sim, id) = farm(1, 1_000);
    let (epoch, conv) = sim.item(ORIGIN, &id).assignment.expect("assigned");
    sim.feed(
        idx(&conv),
        Event::Local(RecordBody::Reject {
            item_id: id,
            epoch,
            reason: "insufficient disk".into(),
            until_fewer: None,
        }),
    );
    sim.drain();
    let item = sim.item(ORIGIN, &id);
    assert!(item.failures.is_empty());
    assert!(!item.phase.is_final());
    // The other converter gets it; its failure is the one attempt allowed.
    fail_current(&mut sim, id, "boom");
    let item = sim.item(ORIGIN, &id);
    assert_eq!(item.phase, Phase::Failed);
    assert_eq!(item.failures.len(), 1, "{:?}", item.failures);
    assert!(item.origin_error.is_some(), "{item:?}");
}

#[test]
fn the_origin_measures_converter_speed_from_progress_records() {
    let (mut sim, id) = farm(3, 1_000);
    let (epoch, conv) = sim.item(ORIGIN, &id).assignment.expect("assigned");
    let c = idx(&conv);
    sim.feed(c, Event::Local(RecordBody::Accept { item_id: id, epoch }));
    for speed in [4.0, 4.0] {
        sim.feed(
            c,
            Event::Local(RecordBody::Progress {
                item_id: id,
                epoch,
                progress: dmc_protocol::ProgressInfo {
                    stage: dmc_protocol::Stage::Converting,
                    fraction: 0.5,
                    fps: Some(100.0),
                    speed: Some(speed),
                    eta_secs: Some(1),
                    segments: None,
                },
            }),
        );
    }
    sim.drain();
    let measured = sim.engines[ORIGIN].measured_speed(&conv).expect("measured");
    assert!((measured - 4.0).abs() < 0.01, "{measured}");
    assert_eq!(sim.engines[ORIGIN].measured_speed(&node_id(1 - c)), None);
}

#[test]
fn an_item_given_back_goes_to_its_converter_again_once_it_has_restarted() {
    let mut sim = Sim::new(2, 1);
    sim.link(0, 1);
    sim.drain();
    let id = sim.offer(1);
    sim.drain();
    sim.feed(
        0,
        Event::Local(RecordBody::Accept {
            item_id: id,
            epoch: 1,
        }),
    );
    sim.feed(
        0,
        Event::Local(RecordBody::Release {
            item_id: id,
            epoch: 1,
            reason: "converter shutting down".into(),
        }),
    );
    sim.drain();
    // While it stops, the converter is not given the item again.
    sim.tick_after(1, 1_000);
    sim.drain();
    let item = sim.item(1, &id);
    assert_eq!(item.phase, Phase::Offered);
    assert_eq!(item.phase.status(), Status::ToDo);
    assert!(
        matches!(item.waiting(), Some(Waiting::GivenBack { .. })),
        "{item:?}"
    );
    // It restarts (connects again): the item is its again at once, with a new epoch.
    sim.cut(0, 1);
    sim.link(0, 1);
    sim.drain();
    assert_eq!(sim.item(1, &id).assignment, Some((2, node_id(0))));
}

#[test]
fn a_certain_failure_ends_the_item_after_one_attempt() {
    let (mut sim, id) = farm(3, 30_000);
    let (epoch, c) = {
        let (epoch, conv) = sim.item(ORIGIN, &id).assignment.expect("assigned");
        (epoch, idx(&conv))
    };
    sim.feed(c, Event::Local(RecordBody::Accept { item_id: id, epoch }));
    let error = "output check failed: output larger than source (900 bytes from 400)";
    sim.feed(
        c,
        Event::Local(RecordBody::Failed {
            item_id: id,
            epoch: Some(epoch),
            error: error.into(),
            certain: true,
        }),
    );
    sim.drain();
    // Ended at once, without waiting out a backoff or trying the other converter.
    let item = sim.item(ORIGIN, &id);
    assert_eq!(item.phase, Phase::Failed);
    assert_eq!(item.failures.len(), 1);
    assert_eq!(item.failures[0].error, error);
    assert_eq!(
        item.origin_error.as_deref(),
        Some("gave up after 1 attempt: the failure would repeat on any converter")
    );
    sim.tick_after(ORIGIN, 120_000);
    sim.drain();
    assert_eq!(
        sim.item(ORIGIN, &id).epoch(),
        Some(epoch),
        "never assigned again"
    );
}

#[test]
fn a_converter_that_refused_for_room_is_asked_again_as_soon_as_it_holds_fewer_items() {
    let (conv, origin) = (0, 1);
    let mut sim = Sim::new(2, 1);
    sim.link(conv, origin);
    sim.drain();
    let first = sim.offer(origin);
    let second = sim.offer(origin);
    sim.drain();
    let epoch_of = |sim: &Sim, id| sim.item(origin, id).epoch().expect("assigned");
    let (e1, e2) = (epoch_of(&sim, &first), epoch_of(&sim, &second));
    sim.feed(
        conv,
        Event::Local(RecordBody::Accept {
            item_id: first,
            epoch: e1,
        }),
    );
    // No room for the second beside the first, which occupies the converter.
    let reject = RecordBody::Reject {
        item_id: second,
        epoch: e2,
        reason: "insufficient disk: need 2 GiB, have 1 GiB".into(),
        until_fewer: Some(1),
    };
    sim.feed(conv, Event::Local(reject));
    sim.drain();
    sim.tick_after(origin, 5_000);
    sim.drain();
    assert_eq!(
        sim.item(origin, &second).phase,
        Phase::Rejected,
        "still full"
    );
    // The first is done: its room is free, and the second goes back at once, well within
    // the 10-minute cool-down.
    let output = sim::file("out.mkv", 1);
    let done = RecordBody::Converted {
        item_id: first,
        epoch: e1,
        output,
    };
    sim.feed(conv, Event::Local(done));
    sim.drain();
    sim.tick_after(origin, 1_000);
    sim.drain();
    let item = sim.item(origin, &second);
    assert_eq!(item.phase, Phase::Assigned);
    assert!(item.epoch() > Some(e2));
}
