//! Checksums that follow: an offer of a large file is published before its SHA-512 is known
//! (`sha512_follows`), scheduled and pulled at once, and the origin's `checksum` record fills
//! the SHA-512 in later; nobody else can, and the first one counts.

mod sim;

use dmc_protocol::engine::Event;
use dmc_protocol::{ItemId, MediaType, Offer, Phase, Record, RecordBody};
use serde::{Deserialize, Serialize};
use sim::{file, node_id, Sim};

const CONVERTER: usize = 0;
const ORIGIN: usize = 1;
const MALLORY: usize = 2;

/// The origin's offer of a file whose SHA-512 follows.
fn offer_without_sha512(nonce: [u8; 16]) -> Offer {
    let mut file = file("film.mkv", 9);
    file.sha512.clear();
    Offer {
        item_id: ItemId::for_origin(&node_id(ORIGIN), &nonce),
        nonce,
        file,
        media_type: MediaType::Video,
        profile: "mkv-x264".into(),
        duration_ms: Some(4000),
        priority: 0,
        sha512_follows: true,
        part_of: None,
    }
}

/// A record by `author`'s key.
fn signed(author: usize, seq: u64, body: RecordBody) -> Record {
    sim::record_by(author, author, seq, body)
}

#[test]
fn an_item_is_converted_before_its_checksum_which_only_the_origin_gives_once() {
    let mut sim = Sim::new(3, 1);
    sim.link(CONVERTER, ORIGIN);
    sim.link(MALLORY, CONVERTER);
    sim.drain();
    let offer = offer_without_sha512([3; 16]);
    let id = offer.item_id;
    sim.feed(ORIGIN, Event::Local(RecordBody::Offer(offer)));
    sim.drain();
    // Scheduled and taken without waiting for the SHA-512.
    assert_eq!(sim.item(CONVERTER, &id).phase, Phase::Assigned);
    sim.feed(
        CONVERTER,
        Event::Local(RecordBody::Accept {
            item_id: id,
            epoch: 1,
        }),
    );
    sim.drain();
    assert_eq!(sim.item(ORIGIN, &id).phase, Phase::Accepted);
    assert_eq!(sim.item(CONVERTER, &id).source_sha512(), None);

    // Mallory's checksum is not the origin's: refused, and nothing changes.
    let forged = RecordBody::Checksum {
        item_id: id,
        sha512: "e".repeat(128),
    };
    let refused = sim::relay(
        &mut sim,
        MALLORY,
        CONVERTER,
        vec![signed(MALLORY, 50, forged.clone())],
    );
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("only its origin"), "{}", refused[0]);
    assert!(!sim.engines[CONVERTER].may_author(&forged));

    let sha512 = "a1".repeat(64);
    let checksum = RecordBody::Checksum {
        item_id: id,
        sha512: sha512.clone(),
    };
    assert!(sim.engines[ORIGIN].may_author(&checksum));
    sim.feed(ORIGIN, Event::Local(checksum.clone()));
    sim.drain();
    for node in [ORIGIN, CONVERTER] {
        let item = sim.item(node, &id);
        assert_eq!(item.source_sha512(), Some(sha512.as_str()));
        assert_eq!(item.phase, Phase::Accepted, "the checksum moves no phase");
    }
    // Once: the origin may not say it again, and a second one (against the rules) is ignored.
    assert!(!sim.engines[ORIGIN].may_author(&checksum));
    let seq = sim.engines[ORIGIN].replica().len() as u64 + 10;
    let again = RecordBody::Checksum {
        item_id: id,
        sha512: "b2".repeat(64),
    };
    assert!(sim::relay(
        &mut sim,
        MALLORY,
        CONVERTER,
        vec![signed(ORIGIN, seq, again)]
    )
    .is_empty());
    assert_eq!(
        sim.item(CONVERTER, &id).source_sha512(),
        Some(sha512.as_str())
    );
}

#[test]
fn an_offer_that_carries_its_sha512_takes_no_checksum_record() {
    let mut sim = Sim::new(2, 1);
    sim.link(CONVERTER, ORIGIN);
    let id = sim.offer(ORIGIN);
    sim.drain();
    let carried = sim.item(ORIGIN, &id).source_sha512().map(str::to_string);
    assert!(carried.is_some());
    let checksum = RecordBody::Checksum {
        item_id: id,
        sha512: "c3".repeat(64),
    };
    assert!(!sim.engines[ORIGIN].may_author(&checksum));
    let seq = sim.engines[ORIGIN].replica().len() as u64 + 10;
    sim::relay(
        &mut sim,
        MALLORY,
        CONVERTER,
        vec![signed(ORIGIN, seq, checksum)],
    );
    assert_eq!(sim.item(CONVERTER, &id).source_sha512(), carried.as_deref());
}

#[test]
fn the_sha512_is_empty_exactly_when_it_follows_and_a_checksum_is_hex() {
    let follows = offer_without_sha512([4; 16]);
    let record = |offer: Offer| signed(ORIGIN, 1, RecordBody::Offer(offer));
    assert!(record(follows.clone()).validate().is_ok());
    let mut with_both = follows.clone();
    with_both.file.sha512 = "a".repeat(128);
    let err = record(with_both.clone())
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sha512_checksum") && err.contains("empty"),
        "{err}"
    );
    with_both.sha512_follows = false;
    assert!(record(with_both).validate().is_ok());
    let mut with_none = follows;
    with_none.sha512_follows = false;
    let err = record(with_none).validate().unwrap_err().to_string();
    assert!(err.contains("sha512_checksum"), "{err}");
    let bad = RecordBody::Checksum {
        item_id: ItemId::from_random([1; 16]),
        sha512: "XYZ".into(),
    };
    let err = signed(ORIGIN, 2, bad).validate().unwrap_err().to_string();
    assert!(err.contains("sha512_checksum"), "{err}");
}

#[test]
fn an_offer_that_carries_its_sha512_encodes_as_before() {
    /// `Offer` as versions before `sha512_follows` had it.
    #[derive(Serialize, Deserialize)]
    struct Old {
        item_id: ItemId,
        nonce: [u8; 16],
        file: dmc_protocol::FileInfo,
        media_type: MediaType,
        profile: String,
        duration_ms: Option<u64>,
        priority: i32,
    }
    let mut offer = offer_without_sha512([5; 16]);
    offer.file.sha512 = "d4".repeat(64);
    offer.sha512_follows = false;
    let old = Old {
        item_id: offer.item_id,
        nonce: offer.nonce,
        file: offer.file.clone(),
        media_type: offer.media_type,
        profile: offer.profile.clone(),
        duration_ms: offer.duration_ms,
        priority: offer.priority,
    };
    let bytes = dmc_protocol::wire::encode(&old);
    assert_eq!(dmc_protocol::wire::encode(&offer), bytes);
    let read: Offer = dmc_protocol::wire::decode(&bytes, 1 << 16).unwrap();
    assert_eq!(read, offer);
}

#[test]
fn a_checksum_given_while_the_origin_was_cut_off_reaches_every_node_once_it_returns() {
    let mut sim = Sim::new(5, 2);
    sim.heal();
    let offer = offer_without_sha512([6; 16]);
    let id = offer.item_id;
    sim.feed(ORIGIN, Event::Local(RecordBody::Offer(offer)));
    sim.drain();
    for other in (0..5).filter(|n| *n != ORIGIN) {
        sim.cut(ORIGIN, other);
    }
    let sha512 = "f0".repeat(64);
    sim.feed(
        ORIGIN,
        Event::Local(RecordBody::Checksum {
            item_id: id,
            sha512: sha512.clone(),
        }),
    );
    sim.drain();
    assert_eq!(sim.item(3, &id).source_sha512(), None, "cut off: not yet");
    sim.heal();
    for node in 0..5 {
        assert_eq!(
            sim.item(node, &id).source_sha512(),
            Some(sha512.as_str()),
            "node {node}"
        );
    }
    assert_eq!(sim.states(0), sim.states(4));
}
