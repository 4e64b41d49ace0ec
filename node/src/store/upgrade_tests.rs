//! Tests of the start's fill-in (`store/upgrade.rs`, `core/upgrade.rs`) on databases written
//! the old way (records only, no summary or `ended` rows): the rows it writes, what the
//! restore then loads, and a fill-in stopped mid-way that the next start finishes.

use dmc_protocol::engine::{Engine, EngineConfig};
use dmc_protocol::record::{NodeInfo, RecordBody};
use dmc_protocol::{ItemId, Millis, Record};

use super::tests::{bodies, database_at, item, node, offer_record as offer, raw, rec, sample};
use super::*;
use crate::control::api::Names;
use crate::core::upgrade::{fill_in, fold_batch, FillInRules, FilledIn};

/// This node's clock at the start in these tests (later than every record).
const NOW: Millis = 1_800_000_000_000;
/// `keep_finished` of 30 days: every item of these tests ended longer ago than that.
const MONTH: Millis = 30 * 24 * 3600 * 1000;

/// The fill-in's rules for node `me` with `keep_finished` of `keep`.
fn rules(me: u8, keep: Millis) -> FillInRules {
    FillInRules {
        now: NOW,
        me: node(me),
        keep_finished: keep,
    }
}

/// Rules under which nothing is compacted yet (a `keep_finished` longer than any age).
fn keep_all() -> FillInRules {
    rules(1, Millis::MAX)
}

fn nth_item(n: u16) -> ItemId {
    let mut bytes = [0xA5; 16];
    bytes[..2].copy_from_slice(&n.to_be_bytes());
    ItemId::from_random(bytes)
}

/// The sample (node 1's node record and item 1, converted by node 2 and cancelled), node 2's
/// node record, item 7 open, and `cancelled` more items offered and cancelled by node 1.
fn old_records(cancelled: u16) -> Vec<Record> {
    let mut records = sample();
    records.push(rec(
        2,
        4,
        RecordBody::Node(NodeInfo {
            name: "tower".into(),
            converter: None,
        }),
    ));
    records.push(offer(6, item(7)));
    for n in 0..cancelled {
        let seq = 7 + 2 * u64::from(n);
        let id = nth_item(n);
        records.push(offer(seq, id));
        records.push(rec(1, seq + 1, RecordBody::Cancel { item_id: id }));
    }
    records
}

/// The `ended` rows, by item id as stored.
fn ended_rows(dir: &std::path::Path) -> Vec<(String, i64)> {
    let conn = raw(dir);
    let mut stmt = conn
        .prepare("SELECT item_id, ended_at FROM ended ORDER BY item_id")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

fn summary_count(dir: &std::path::Path) -> i64 {
    raw(dir)
        .query_row("SELECT count(*) FROM item_summaries", [], |r| r.get(0))
        .unwrap()
}

/// Issue 12, point 5: a database from before summaries and end times starts with every item's
/// summary row, an `ended` row for each item that ended (its newest record's time), and only
/// the open item's records (and the node record) loaded.
#[tokio::test]
async fn an_old_database_is_filled_in_and_only_open_items_are_loaded() {
    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &old_records(3));
    let store = Store::open(dir.path()).await.unwrap();

    let done = fill_in(&store, &keep_all()).await.unwrap();
    assert_eq!(
        done,
        FilledIn {
            items: 5,
            ended: 4,
            ..FilledIn::default()
        }
    );
    assert_eq!(summary_count(dir.path()), 5);
    let ended = ended_rows(dir.path());
    assert_eq!(ended.len(), 4);
    // Item 1 ended with its newest record (node 1's seq 5: created_at = base + 5).
    assert!(ended.contains(&(item(1).to_string(), 1_700_000_000_005)));
    assert!(ended.iter().all(|(id, _)| *id != item(7).to_string()));
    let view: serde_json::Value =
        serde_json::from_str(&store.summary(item(1)).await.unwrap().unwrap()).unwrap();
    assert_eq!(view["phase"], "cancelled");
    // The summary names the converter by its node record.
    assert_eq!(view["server_name"], "tower");

    let state = store.load_state().await.unwrap();
    let loaded = bodies(state.records.clone());
    assert_eq!(
        loaded.len(),
        3,
        "the node records and item 7's offer: {loaded:?}"
    );
    assert!(loaded.contains(&offer(6, item(7))));
    assert_eq!(state.ended.len(), 4);
    let cfg = EngineConfig::new(dmc_protocol::Signer::from_seed([3; 32]), "n", None);
    let engine = Engine::restore(cfg, state);
    assert!(engine.item(&item(1)).is_none() && engine.replica().is_ended(&item(1)));
    assert!(engine.item(&item(7)).is_some_and(|i| !i.phase.is_final()));
    // Our horizons still count every stored record, loaded or not.
    assert_eq!(engine.replica().horizon(&node(1)), 12);

    // A second start has nothing to do.
    assert_eq!(
        fill_in(&store, &keep_all()).await.unwrap(),
        FilledIn::default()
    );
    store.close().await.unwrap();
}

/// A fill-in stopped after one saved batch (and one whose summary rows were saved without
/// their end times) is finished by the next start, with nothing done twice or left out.
#[tokio::test]
async fn a_fill_in_stopped_mid_way_is_finished_by_the_next_start() {
    let cancelled: u16 = 1500;
    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &old_records(cancelled));
    let store = Store::open(dir.path()).await.unwrap();
    let names = Names::default();

    // One whole batch, as a start saves it, then a second batch's summary rows only (a crash
    // between its two transactions).
    let (batch, last) = store.fill_in_batch(String::new()).await.unwrap();
    let first = batch.len();
    assert!(first > 0 && (first as u64) < u64::from(cancelled));
    let filled = fold_batch(batch, &names, &keep_all());
    let first_ended = filled.ended.len();
    store.save_fill_in(filled, node(1)).await.unwrap();
    let (batch, _) = store.fill_in_batch(last.unwrap()).await.unwrap();
    let second = batch.len();
    let filled = fold_batch(batch, &names, &keep_all());
    store.put_summaries(filled.rows).await.unwrap();
    store.close().await.unwrap();
    assert_eq!(ended_rows(dir.path()).len(), first_ended);

    let store = Store::open(dir.path()).await.unwrap();
    let all = u64::from(cancelled) + 2;
    assert_eq!(store.fill_in_count().await.unwrap(), all - first as u64);
    let done = fill_in(&store, &keep_all()).await.unwrap();
    // The second batch's items are read again (their end times were missing).
    assert_eq!(done.items, all - first as u64);
    assert_eq!(done.ended, all - 1 - first_ended as u64);
    assert!(second > 0);
    assert_eq!(summary_count(dir.path()), all as i64);
    assert_eq!(ended_rows(dir.path()).len() as u64, all - 1);
    let state = store.load_state().await.unwrap();
    assert_eq!(state.records.len(), 3);
    assert_eq!(
        fill_in(&store, &keep_all()).await.unwrap(),
        FilledIn::default()
    );
    store.close().await.unwrap();
}

/// A count from the database at `dir`.
fn count_of(dir: &std::path::Path, sql: &str) -> i64 {
    raw(dir).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// The items whose records are still stored, other than `but`.
fn items_with_records_but(dir: &std::path::Path, but: ItemId) -> i64 {
    raw(dir)
        .query_row(
            "SELECT count(DISTINCT item_id) FROM records WHERE item_id IS NOT NULL AND item_id != ?1",
            [but.to_string()],
            |r| r.get(0),
        )
        .unwrap()
}

/// Issue 12 (upgrade, nothing written to be deleted): on a node that is not their origin,
/// items that ended `keep_finished` ago or more are compacted by the fill-in itself (records
/// gone, a tombstone, no summary or `ended` row); the open item gets its row; the horizons
/// still count the compacted records, so the restored engine asks no peer for them again.
#[tokio::test]
async fn long_ended_items_of_other_nodes_become_tombstones_without_rows() {
    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &old_records(3));
    let store = Store::open(dir.path()).await.unwrap();

    let done = fill_in(&store, &rules(3, MONTH)).await.unwrap();
    assert_eq!(
        done,
        FilledIn {
            items: 5,
            ended: 0,
            compacted: 4,
            offerless: 0
        }
    );
    assert_eq!(
        summary_count(dir.path()),
        1,
        "only the open item 7 has a row"
    );
    assert!(store.summary(item(7)).await.unwrap().is_some());
    assert_eq!(count_of(dir.path(), "SELECT count(*) FROM tombstones"), 4);
    assert_eq!(items_with_records_but(dir.path(), item(7)), 0);
    assert!(ended_rows(dir.path()).is_empty());

    let state = store.load_state().await.unwrap();
    assert_eq!(state.tombstones.len(), 4);
    let cfg = EngineConfig::new(dmc_protocol::Signer::from_seed([3; 32]), "n", None);
    let engine = Engine::restore(cfg, state);
    assert!(engine.replica().tombstone(&item(1)).is_some());
    assert!(engine.item(&item(7)).is_some_and(|i| !i.phase.is_final()));
    // Node 1 authored seqs 1..=12, node 2 seqs 1..=4: the holes the compaction left are
    // under the stored horizons.
    assert_eq!(engine.replica().horizon(&node(1)), 12);
    assert_eq!(engine.replica().horizon(&node(2)), 4);

    assert_eq!(
        fill_in(&store, &rules(3, MONTH)).await.unwrap(),
        FilledIn::default()
    );
    store.close().await.unwrap();
}

/// This node's own items that ended long ago are compacted by the fill-in too, and keep their
/// summary row (the origin keeps it for `status` and `list`), as the engine's compaction
/// leaves them.
#[tokio::test]
async fn long_ended_items_of_this_node_keep_their_rows_beside_their_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &old_records(3));
    let store = Store::open(dir.path()).await.unwrap();

    let done = fill_in(&store, &rules(1, MONTH)).await.unwrap();
    assert_eq!((done.items, done.compacted, done.ended), (5, 4, 0));
    assert_eq!(summary_count(dir.path()), 5);
    assert_eq!(count_of(dir.path(), "SELECT count(*) FROM tombstones"), 4);
    assert_eq!(items_with_records_but(dir.path(), item(7)), 0);
    assert!(ended_rows(dir.path()).is_empty());
    let view: serde_json::Value =
        serde_json::from_str(&store.summary(item(1)).await.unwrap().unwrap()).unwrap();
    assert_eq!(view["phase"], "cancelled");
    assert_eq!(
        fill_in(&store, &rules(1, MONTH)).await.unwrap(),
        FilledIn::default()
    );
    store.close().await.unwrap();
}

/// Records about an item whose offer never arrived give no summary row; the fill-in marks the
/// item so the next start does not read it again, and its records still load at start (what
/// the node shows of it does not change).
#[tokio::test]
async fn an_item_without_its_offer_is_not_read_again_at_the_next_start() {
    let accept = rec(
        2,
        5,
        RecordBody::Accept {
            item_id: item(9),
            epoch: 1,
        },
    );
    let mut records = old_records(0);
    records.push(accept.clone());
    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &records);
    let store = Store::open(dir.path()).await.unwrap();

    let done = fill_in(&store, &keep_all()).await.unwrap();
    assert_eq!((done.items, done.ended, done.offerless), (3, 1, 1));
    assert_eq!(summary_count(dir.path()), 2, "items 1 and 7, not 9");
    assert!(store.summary(item(9)).await.unwrap().is_none());

    store.close().await.unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.fill_in_count().await.unwrap(), 0);
    assert_eq!(
        fill_in(&store, &keep_all()).await.unwrap(),
        FilledIn::default()
    );
    let loaded = bodies(store.load_state().await.unwrap().records);
    assert!(loaded.contains(&accept), "{loaded:?}");
    store.close().await.unwrap();
}

/// Issue 12 (answer first): commands that reach the node while its fill-in runs are answered
/// from what the store holds, saying how far the upgrade got (`core/upgrading.rs`); those that
/// would act on items are refused with that line; the fill-in goes on and finishes. The
/// commands are queued before the fill-in starts, and once it has found work queued commands
/// are answered before it is polled again, so they are answered while it runs.
#[tokio::test]
async fn commands_during_the_fill_in_are_answered_and_say_it_is_upgrading() {
    use crate::control::api::{ListQuery, NodeView, UpgradingView};
    use crate::core::handle::{Command, CoreError};
    use crate::core::upgrading::fill_in_answering;
    use tokio::sync::oneshot;

    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &old_records(600));
    let store = Store::open(dir.path()).await.unwrap();
    let (handle, mut commands) = crate::core::command_channel();
    let (info_tx, info) = oneshot::channel();
    let (list_tx, list) = oneshot::channel();
    let (status_tx, status) = oneshot::channel();
    let (cancel_tx, cancel) = oneshot::channel();
    let all = ListQuery {
        all: true,
        ..Default::default()
    };
    for cmd in [
        Command::Info { reply: info_tx },
        Command::List {
            query: all.check().unwrap(),
            reply: list_tx,
        },
        Command::Status {
            item: item(7),
            reply: status_tx,
        },
        Command::Cancel {
            item: item(7),
            reply: cancel_tx,
        },
    ] {
        handle.tx.try_send(cmd).ok().unwrap();
    }
    let node_view = NodeView {
        node_id: node(1),
        name: "laptop".into(),
        version: "0".into(),
        data_dir: "/data".into(),
        listen_addrs: vec![],
        converter: false,
        output_dir: "/out".into(),
        upgrading: None,
    };
    let done = fill_in_answering(&store, &keep_all(), &mut commands, node_view.clone())
        .await
        .unwrap();
    assert_eq!(done.items, 602);

    // Answered once the fill-in had counted its items, before its first batch was saved.
    let started = Some(UpgradingView {
        done: 0,
        total: 602,
    });
    let info = info.await.unwrap().unwrap();
    assert_eq!((info.name.as_str(), info.upgrading), ("laptop", started));
    let page = list.await.unwrap().unwrap();
    assert_eq!((page.total, page.upgrading), (0, started));
    match status.await.unwrap() {
        Err(CoreError::Upgrading(m)) => assert!(
            m.contains("is known yet (upgrading the database: 0 of 602 items)"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match cancel.await.unwrap() {
        Err(CoreError::Upgrading(m)) => assert!(m.contains("takes no cancels"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(summary_count(dir.path()), 602);

    // A start with nothing to fill in answers nothing itself: the command waits for the core
    // (no "upgrading" during an ordinary restart).
    let (info_tx, _info) = oneshot::channel();
    handle
        .tx
        .try_send(Command::Info { reply: info_tx })
        .ok()
        .unwrap();
    let done = fill_in_answering(&store, &keep_all(), &mut commands, node_view)
        .await
        .unwrap();
    assert_eq!(done, FilledIn::default());
    assert!(matches!(commands.0.try_recv(), Ok(Command::Info { .. })));
    store.close().await.unwrap();
}

/// Issue 12 (answer first): the fill-in's answers read through a second, read-only connection
/// (`store/reader.rs`), so a question does not wait for the store thread: while that thread is
/// held inside a write transaction (as a fill-in step holds it), the reader answers with what
/// was committed before it; once the transaction commits, the reader sees it. The thread is
/// released only after the reader has answered, so the test cannot pass by waiting. A write
/// through the reader's connection is refused.
#[tokio::test]
async fn the_reader_answers_while_the_store_thread_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    database_at(dir.path(), 4, &old_records(3));
    let store = Store::open(dir.path()).await.unwrap();
    fill_in(&store, &keep_all()).await.unwrap();
    let reader = store.open_reader().await.unwrap();
    let all = || PageQuery {
        client_id: None,
        id_prefix: None,
        server_id: None,
        profile: None,
        phases: None,
        limit: 50,
        offset: 0,
    };

    let (held_tx, held) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let writer = store.clone();
    let busy = tokio::spawn(async move {
        writer
            .call(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .ctx("holding the store")?;
                tx.execute("DELETE FROM item_summaries", [])
                    .ctx("deleting the rows")?;
                let _ = held_tx.send(());
                let _ = released.recv();
                tx.commit().ctx("committing")
            })
            .await
    });
    held.await.unwrap();
    let page = reader.summary_page(all()).await.unwrap();
    assert_eq!((page.total, page.rows.len()), (5, 5));
    assert!(reader.summary(item(7)).await.unwrap().is_some());
    release.send(()).unwrap();
    busy.await.unwrap().unwrap();

    assert_eq!(reader.summary_page(all()).await.unwrap().total, 0);
    assert!(reader.summary(item(7)).await.unwrap().is_none());
    let write = call_on(&reader.tx, |c| {
        c.execute("DELETE FROM records", [])
            .ctx("writing through the reader")
    })
    .await;
    assert!(write.is_err(), "{write:?}");
    assert!(
        raw(dir.path())
            .query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))
            .unwrap()
            > 0
    );
    store.close().await.unwrap();
}
