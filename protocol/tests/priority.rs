//! The origin's `priority` record (issue 15): the origin's newest one counts, whatever order
//! records arrive in; nobody else's counts; it replicates to a node that was away; and a node
//! makes one only for an open item of its own. A converter's jobs come out of the scheduling
//! pass in queue order.

mod sim;

use dmc_protocol::engine::{Effect, Event};
use dmc_protocol::{ItemId, ItemState, Phase, Record, RecordBody};
use proptest::prelude::*;
use sim::{node_id, signer, video_offer, Pending, Sim};

const ORIGIN: usize = 1;
const OTHER: usize = 2;

fn offer_record(priority: i32) -> (ItemId, Record) {
    let (item_id, body) = video_offer(&node_id(ORIGIN), [7; 16], priority);
    (item_id, record(ORIGIN, 1, body))
}

fn record(author: usize, seq: u64, body: RecordBody) -> Record {
    let mut r = Record {
        author: node_id(author),
        seq,
        created_at: 1_000 + seq,
        body,
        sig: Default::default(),
    };
    signer(author).sign(&mut r);
    r
}

proptest! {
    /// Any order of arrival, with duplicates and with priority records of another node, folds
    /// to the priority of the origin's record with the highest sequence (else the offer's).
    #[test]
    fn the_origins_newest_priority_counts_in_any_order(
        offered in any::<i32>(),
        changes in proptest::collection::vec((2u64..40, any::<i32>()), 0..6),
        forged in proptest::collection::vec((1u64..40, any::<i32>()), 0..3),
        order in any::<u64>(),
        dup in any::<bool>(),
    ) {
        let (item_id, offer) = offer_record(offered);
        let mut changes = changes;
        // One record per sequence number, as an honest author makes them.
        changes.sort_by_key(|c| c.0);
        changes.dedup_by_key(|c| c.0);
        let expected = changes.last().map_or(offered, |c| c.1);
        let mut recs = vec![offer];
        recs.extend(changes.iter().map(|(seq, p)| {
            record(ORIGIN, *seq, RecordBody::Priority { item_id, priority: *p })
        }));
        recs.extend(forged.iter().map(|(seq, p)| {
            record(OTHER, *seq, RecordBody::Priority { item_id, priority: *p })
        }));
        if dup {
            recs.extend(recs.clone());
        }
        // A pseudo-random permutation from `order`.
        let mut state = order | 1;
        for i in (1..recs.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            recs.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let item = ItemState::fold(&recs).unwrap();
        prop_assert_eq!(item.priority, expected);
        prop_assert_eq!(item.offer.priority, offered);
        prop_assert_eq!(item.phase, Phase::Offered);
    }
}

#[test]
fn a_priority_record_encodes_signs_and_validates() {
    let (item_id, _) = offer_record(0);
    let r = record(
        ORIGIN,
        2,
        RecordBody::Priority {
            item_id,
            priority: i32::MIN,
        },
    );
    r.validate().unwrap();
    dmc_protocol::sign::verify(&r).unwrap();
    let bytes = dmc_protocol::wire::encode(&r);
    let back: Record = dmc_protocol::wire::decode(&bytes, 1 << 16).unwrap();
    assert_eq!(back, r);
    assert_eq!(r.body.kind(), "priority");
    assert_eq!(r.body.authority(), dmc_protocol::record::Authority::Origin);
}

/// Node 1 offers, node 0 converts; node 2 relays. The converter is away when the origin
/// raises the priority, and learns it on its return; a priority from another node is refused.
#[test]
fn a_priority_change_reaches_a_converter_that_was_away_and_only_the_origins_counts() {
    let mut sim = Sim::new(3, 1);
    sim.link(0, ORIGIN);
    sim.link(OTHER, ORIGIN);
    sim.drain();
    let id = sim.offer(ORIGIN);
    sim.drain();
    assert_eq!(sim.item(0, &id).priority, 0);
    sim.cut(0, ORIGIN);
    sim.feed(
        ORIGIN,
        Event::Local(RecordBody::Priority {
            item_id: id,
            priority: 9,
        }),
    );
    sim.drain();
    assert_eq!(sim.item(ORIGIN, &id).priority, 9);
    assert_eq!(sim.item(OTHER, &id).priority, 9);
    assert_eq!(sim.item(0, &id).priority, 0, "away: not yet");
    sim.link(0, ORIGIN);
    sim.drain();
    assert_eq!(sim.item(0, &id).priority, 9, "learnt on its return");

    // Another node may not make one (its engine refuses the local event), nor may the origin
    // once the item has ended.
    let before = sim.engines[OTHER].replica().len();
    sim.feed(
        OTHER,
        Event::Local(RecordBody::Priority {
            item_id: id,
            priority: 100,
        }),
    );
    sim.drain();
    assert_eq!(sim.engines[OTHER].replica().len(), before);
    assert_eq!(sim.item(0, &id).priority, 9);
    let body = RecordBody::Priority {
        item_id: id,
        priority: 1,
    };
    assert!(sim.engines[ORIGIN].may_author(&body));
    assert!(!sim.engines[OTHER].may_author(&body));
    sim.feed(ORIGIN, Event::Local(RecordBody::Cancel { item_id: id }));
    sim.drain();
    assert!(!sim.engines[ORIGIN].may_author(&body), "ended");
}

/// Node 0 converts six items of node 1, accepted and waiting for a worker. Each scheduling
/// pass emits their `RunJob`s in queue order: the highest priority first, then the oldest
/// offer, whatever the items' ids; a priority change reorders them.
#[test]
fn a_converters_jobs_come_out_of_the_scheduling_pass_in_queue_order() {
    let mut sim = Sim::new(2, 1);
    sim.link(0, ORIGIN);
    sim.drain();
    let offered: Vec<ItemId> = (0..6)
        .map(|_| {
            let id = sim.offer(ORIGIN);
            sim.drain();
            id
        })
        .collect();
    while let Some(k) = sim
        .pending
        .iter()
        .position(|p| matches!(p, Pending::Evaluate { .. }))
    {
        sim.act(k, 1);
        sim.drain();
    }
    let jobs = |sim: &mut Sim| -> Vec<ItemId> {
        let at = sim.now + 1;
        let fx = sim.engines[0].handle(Event::Tick, at);
        fx.into_iter()
            .filter_map(|e| match e {
                Effect::RunJob { item_id, .. } => Some(item_id),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        jobs(&mut sim),
        offered,
        "equal priority: oldest offer first"
    );
    let mut by_id = offered.clone();
    by_id.sort();
    assert_ne!(by_id, offered, "the ids alone would give another order");

    for (item, priority) in [(offered[3], 5), (offered[0], -1)] {
        sim.feed(
            ORIGIN,
            Event::Local(RecordBody::Priority {
                item_id: item,
                priority,
            }),
        );
        sim.drain();
    }
    let mut expected = vec![offered[3]];
    expected.extend_from_slice(&offered[1..3]);
    expected.extend_from_slice(&offered[4..]);
    expected.push(offered[0]);
    assert_eq!(jobs(&mut sim), expected);
}
