//! Tests of the start's fill-in (`store/upgrade.rs`, `core/upgrade.rs`) on databases written
//! the old way (records only, no summary or `ended` rows): the rows it writes, what the
//! restore then loads, and a fill-in stopped mid-way that the next start finishes.

use dmc_protocol::engine::{Engine, EngineConfig};
use dmc_protocol::record::{NodeInfo, RecordBody};
use dmc_protocol::{ItemId, Millis, Record};

use super::tests::{bodies, database_at, item, node, offer_record as offer, raw, rec, sample};
use super::*;
use crate::control::api::Names;
use crate::core::upgrade::{fill_in, fold_batch, FilledIn};

/// This node's clock at the start in these tests (later than every record).
const NOW: Millis = 1_800_000_000_000;

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

    let done = fill_in(&store, NOW).await.unwrap();
    assert_eq!(done, FilledIn { items: 5, ended: 4 });
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
    assert_eq!(fill_in(&store, NOW).await.unwrap(), FilledIn::default());
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
    let (rows, ended) = fold_batch(batch, &names, NOW);
    let first_ended = ended.len();
    store.save_fill_in(rows, ended).await.unwrap();
    let (batch, _) = store.fill_in_batch(last.unwrap()).await.unwrap();
    let second = batch.len();
    let (rows, _) = fold_batch(batch, &names, NOW);
    store.put_summaries(rows).await.unwrap();
    store.close().await.unwrap();
    assert_eq!(ended_rows(dir.path()).len(), first_ended);

    let store = Store::open(dir.path()).await.unwrap();
    let all = u64::from(cancelled) + 2;
    assert_eq!(store.fill_in_count().await.unwrap(), all - first as u64);
    let done = fill_in(&store, NOW).await.unwrap();
    // The second batch's items are read again (their end times were missing).
    assert_eq!(done.items, all - first as u64);
    assert_eq!(done.ended, all - 1 - first_ended as u64);
    assert!(second > 0);
    assert_eq!(summary_count(dir.path()), all as i64);
    assert_eq!(ended_rows(dir.path()).len() as u64, all - 1);
    let state = store.load_state().await.unwrap();
    assert_eq!(state.records.len(), 3);
    assert_eq!(fill_in(&store, NOW).await.unwrap(), FilledIn::default());
    store.close().await.unwrap();
}
