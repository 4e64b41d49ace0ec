//! Tests of the compaction tables: the migration of a database written before compaction,
//! and compactions stored in one transaction and found again after a reopen.

use dmc_protocol::engine::{Compaction, Effect, Engine, EngineConfig, Event};
use dmc_protocol::record::{Offer, RecordBody};
use dmc_protocol::{MediaType, Record};

use super::tests::{
    bodies, database_at, file_info, item, node, offer_record, raw, rec, received, sample, sorted,
};
use super::*;

/// Node 1's offer of item 7 (left open).
fn open_offer(seq: u64) -> Record {
    offer_record(seq, item(7))
}

/// A summary row of `item_id`, as the core writes with the records that change it.
fn summary_row(item_id: dmc_protocol::ItemId) -> ItemSummary {
    ItemSummary {
        item_id,
        client_id: node(1),
        server_id: None,
        file_name: "clip.mp4".into(),
        profile: "mkv-x264".into(),
        file_size: 64,
        sha512_checksum: "0".repeat(128),
        status: "finished_with_errors".into(),
        phase: "cancelled".into(),
        errors: String::new(),
        output_path: None,
        created_at: 1,
        updated_at: 2,
        ended_at: Some(2),
        version: 1,
        view: "{}".into(),
    }
}

/// Feeds `event` and stores every compaction the engine asks for.
async fn feed(store: &Store, engine: &mut Engine, event: Event, now: u64) {
    for e in engine.handle(event, now) {
        if let Effect::Compact(c) = e {
            store.compact(c, NodeId::new("me")).await.unwrap();
        }
    }
}

/// Issue 12, point 5: an old database migrates with nothing lost; at the first start its
/// items that ended long ago (by their newest record's time) are compacted by the usual rule,
/// and its open items continue.
#[tokio::test]
async fn a_version_4_database_migrates_and_its_long_ended_items_are_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = sample();
    records.push(open_offer(6));
    database_at(dir.path(), 4, &records);

    let store = Store::open(dir.path()).await.unwrap();
    let state = store.load_state().await.unwrap();
    assert_eq!(bodies(state.records.clone()), sorted(records.clone()));
    assert!(state.tombstones.is_empty() && state.ended.is_empty());

    let cfg = EngineConfig::new(dmc_protocol::Signer::from_seed([3; 32]), "n", None);
    let now = 1_800_000_000_000;
    let mut engine = Engine::restore(cfg.clone(), state);
    feed(&store, &mut engine, Event::Start, now).await;
    feed(&store, &mut engine, Event::Tick, now + 1000).await;
    store.close().await.unwrap();

    let store = Store::open(dir.path()).await.unwrap();
    let state = store.load_state().await.unwrap();
    // The ended item's records are gone, its tombstone stays; the open item and the node
    // record are kept.
    assert!(state
        .records
        .iter()
        .all(|(r, _)| r.body.item_id() != Some(item(1))));
    assert!(bodies(state.records.clone()).contains(&open_offer(6)));
    assert!(state.records.iter().any(|(r, _)| r.body.kind() == "node"));
    assert_eq!(state.tombstones.len(), 1);
    assert_eq!(state.tombstones[0].0, item(1));
    assert!(state.ended.is_empty());
    // Its horizons keep the summary where it was, so nobody sends the records again; node 2,
    // of whom nothing is held any more (no node description), is retired at its horizon.
    let engine = Engine::restore(cfg, state);
    assert_eq!(engine.replica().horizon(&node(1)), 6);
    assert_eq!(engine.replica().retired_horizon(&node(2)), Some(3));
    assert!(engine.item(&item(1)).is_none());
    assert!(engine.item(&item(7)).is_some_and(|i| !i.phase.is_final()));
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_compaction_is_stored_whole_and_found_again_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let mut records = sample();
    records.push(open_offer(6));
    store.put_records(received(records)).await.unwrap();
    store
        .record_delivery_target(item(1), 1, "/out/x.mkv".into())
        .await
        .unwrap();
    store
        .put_local_file(LocalFile {
            item_id: item(1),
            role: FileRole::Source,
            epoch: 0,
            path: "/media/clip.mp4".into(),
            file_size: 64,
            mtime_ns: 7,
            chunk_size: 32,
            hashes: vec![0; 64],
            pinned: None,
        })
        .await
        .unwrap();
    let c = Compaction {
        ended: vec![(item(7), 42)],
        items: vec![(item(1), 41)],
        node_records: vec![(node(1), 1)],
        horizons: vec![(node(1), 6), (node(2), 3)],
        retired: vec![],
    };
    store.compact(c, NodeId::new("me")).await.unwrap();
    store
        .put_summaries(vec![summary_row(item(7))])
        .await
        .unwrap();
    // A lower horizon never moves one back.
    store
        .compact(
            Compaction {
                horizons: vec![(node(1), 2)],
                ..Compaction::default()
            },
            NodeId::new("me"),
        )
        .await
        .unwrap();
    store.close().await.unwrap();

    let store = Store::open(dir.path()).await.unwrap();
    let state = store.load_state().await.unwrap();
    // Item 7 ended: its records stay in the store, out of memory.
    assert!(state.records.is_empty());
    assert_eq!(
        bodies(store.load_records().await.unwrap()),
        vec![open_offer(6)]
    );
    assert_eq!(state.tombstones, vec![(item(1), 41)]);
    assert_eq!(state.ended, vec![(item(7), 42)]);
    let mut h = state.horizons.clone();
    h.sort();
    assert_eq!(h, vec![(node(1), 6), (node(2), 3)]);
    assert_eq!(store.delivery_target(item(1), 1).await.unwrap(), None);
    assert!(store.local_files().await.unwrap().is_empty());
    store.close().await.unwrap();
    // A tombstone costs well under 100 bytes of payload: an item id and a time.
    let conn = raw(dir.path());
    let bytes: i64 = conn
        .query_row("SELECT length(item_id) + 8 FROM tombstones", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(bytes <= 100, "{bytes}");
}

/// Issue 12, point 3: an ended item leaves memory at the tick after it ended and is not
/// loaded at the next start, while the store keeps its records (peers' `Sync` is answered
/// from them) and the horizons count them.
#[tokio::test]
async fn an_ended_items_records_stay_in_the_store_and_out_of_memory_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let mut records = sample();
    records.push(open_offer(6));
    store.put_records(received(records.clone())).await.unwrap();
    let cfg = EngineConfig {
        drop_ended: true,
        ..EngineConfig::new(dmc_protocol::Signer::from_seed([3; 32]), "n", None)
    };
    let now = 1_700_000_100_000;
    let mut engine = Engine::restore(cfg.clone(), store.load_state().await.unwrap());
    assert!(
        engine.item(&item(1)).is_some(),
        "not ended here yet: loaded"
    );
    feed(&store, &mut engine, Event::Start, now).await;
    feed(&store, &mut engine, Event::Tick, now + 1000).await;
    let dropped = |e: &Engine| {
        let r = e.replica();
        r.item(&item(1)).is_none() && r.item_records(&item(1)).is_empty() && r.is_ended(&item(1))
    };
    assert!(dropped(&engine), "the ended item is still in memory");
    assert!(engine.item(&item(7)).is_some());
    // The stored node record, this engine's own (made at start) and the open offer.
    assert_eq!(engine.replica().len(), 3);
    // Without its summary row (a database from before summaries) it is loaded once, for the
    // start to write the row; with it, not.
    let state = store.load_state().await.unwrap();
    assert_eq!(state.records.len(), records.len());
    store
        .put_summaries(vec![summary_row(item(1))])
        .await
        .unwrap();
    store.close().await.unwrap();

    let store = Store::open(dir.path()).await.unwrap();
    let state = store.load_state().await.unwrap();
    let mut loaded = bodies(state.records.clone());
    loaded.sort_by_key(|r| (r.author.clone(), r.seq));
    assert_eq!(loaded, vec![records[0].clone(), open_offer(6)]);
    let mut h = state.horizons.clone();
    h.sort();
    assert_eq!(h, vec![(node(1), 6), (node(2), 3)]);
    let mut tops = state.top_seqs.clone();
    tops.sort();
    assert_eq!(tops, vec![(node(1), 6), (node(2), 3)]);
    let engine = Engine::restore(cfg, state);
    assert!(dropped(&engine));
    assert_eq!(engine.replica().horizon(&node(1)), 6);
    assert_eq!(engine.replica().horizon(&node(2)), 3);
    // A peer that lacks everything still gets every record, from the store.
    let answer = store
        .sync_page(
            engine.sync_horizons(
                &dmc_protocol::wire::AuthorRange::all(),
                &dmc_protocol::Summary::default(),
            ),
            dmc_protocol::Summary::default(),
        )
        .await
        .unwrap();
    let dmc_protocol::wire::Response::Records { records: sent, .. } = answer else {
        panic!("not a page of records: {answer:?}");
    };
    assert_eq!(sent.len(), records.len());
    store.close().await.unwrap();
}

/// A compaction that frees most of the file (the first start after an upgrade compacts a
/// year at once) gives the disk back: the file, with its WAL, ends far smaller. One that frees
/// little leaves the file as it is, its free pages for new records.
#[tokio::test]
async fn a_compaction_that_frees_most_of_the_file_shrinks_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let file_bytes = || {
        ["", "-wal"]
            .iter()
            .map(|s| {
                let p = dir.path().join(format!("{DB_FILE_NAME}{s}"));
                std::fs::metadata(p).map_or(0, |m| m.len())
            })
            .sum::<u64>()
    };
    // 400 items with a 100 KB file name each: about 40 MiB of records.
    let items: Vec<dmc_protocol::ItemId> = (0..400u16)
        .map(|n| {
            let mut b = [0x5A; 16];
            b[..2].copy_from_slice(&n.to_be_bytes());
            dmc_protocol::ItemId::from_random(b)
        })
        .collect();
    let records = items
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut file = file_info();
            file.file_name = "x".repeat(100_000);
            rec(
                1,
                i as u64 + 1,
                RecordBody::Offer(Offer {
                    item_id: *id,
                    nonce: [1; 16],
                    file,
                    media_type: MediaType::Video,
                    profile: "mkv-x264".into(),
                    duration_ms: None,
                    priority: 0,
                    sha512_follows: false,
                    part_of: None,
                }),
            )
        })
        .collect();
    store.put_records(received(records)).await.unwrap();
    let compact = |ids: &[dmc_protocol::ItemId]| Compaction {
        items: ids.iter().map(|id| (*id, 5)).collect(),
        ..Compaction::default()
    };
    // A tenth: not worth rewriting the file.
    store
        .compact(compact(&items[..40]), NodeId::new("me"))
        .await
        .unwrap();
    let big = file_bytes();
    assert!(big > 40 << 20, "{big} bytes");
    // The rest.
    store
        .compact(compact(&items[40..]), NodeId::new("me"))
        .await
        .unwrap();
    let small = file_bytes();
    assert!(small < 4 << 20, "{big} bytes before, {small} after");
    store.close().await.unwrap();
    // What was kept is still there.
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.load_state().await.unwrap().tombstones.len(), 400);
    store.close().await.unwrap();
}

/// Issue 12, point 4: an author of whom this node holds nothing any more (its item
/// compacted, no node description) retires, and stays retired across a restart: out of the
/// summary, its horizon kept (in the `horizons` table, the restart applies the same rule),
/// its old records ignored before any check.
#[tokio::test]
async fn a_retired_author_stays_retired_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &sample());
    let store = Store::open(dir.path()).await.unwrap();
    let mut cfg = EngineConfig::new(dmc_protocol::Signer::from_seed([3; 32]), "n", None);
    cfg.drop_ended = true;
    let now = 1_800_000_000_000;
    let mut engine = Engine::restore(cfg.clone(), store.load_state().await.unwrap());
    feed(&store, &mut engine, Event::Start, now).await;
    let listed = |e: &Engine, n: u8| e.replica().summary().0.iter().any(|(a, _)| *a == node(n));
    assert!(
        listed(&engine, 2),
        "not retired before its item is compacted"
    );
    feed(&store, &mut engine, Event::Tick, now + 1000).await;
    assert_eq!(engine.replica().retired_horizon(&node(2)), Some(3));
    assert!(!listed(&engine, 2));
    store.close().await.unwrap();

    let store = Store::open(dir.path()).await.unwrap();
    let mut engine = Engine::restore(cfg, store.load_state().await.unwrap());
    assert!(!listed(&engine, 2), "retired again at start");
    assert!(listed(&engine, 1), "a node with a description stays");
    assert_eq!(engine.replica().retired_horizon(&node(2)), Some(3));
    assert_eq!(engine.replica().retired_len(), 1);
    // Its old record, sent again by a node that was away: ignored before any check (this one
    // is unsigned: a check would refuse it), not stored.
    let old = sample().into_iter().find(|r| r.author == node(2)).unwrap();
    let fx = engine.handle(
        Event::Records {
            from: node(1),
            records: vec![old],
            sync_more: None,
            complete: vec![],
        },
        now + 2000,
    );
    assert!(fx.is_empty(), "{fx:?}");
    assert!(!listed(&engine, 2));
    store.close().await.unwrap();
}
