//! The `item_summaries` table against real SQLite files: upserts, newest-first pages and their
//! totals, id prefixes, versions for the start-up check, and compaction's forget.

use std::time::Instant;

use dmc_protocol::{ItemId, NodeId};

use super::super::{ItemSummary, PageQuery, Store};

fn me() -> NodeId {
    NodeId::new("12D3KooWMe")
}

fn peer() -> NodeId {
    NodeId::new("12D3KooWPeer")
}

fn id(n: u64) -> ItemId {
    let mut b = [0xab; 16];
    b[8..].copy_from_slice(&n.to_be_bytes());
    ItemId::from_random(b)
}

fn row(n: u64, origin: NodeId, created_at: u64) -> ItemSummary {
    ItemSummary {
        item_id: id(n),
        client_id: origin,
        server_id: None,
        file_name: format!("clip{n}.mp4"),
        profile: "mkv-x265".into(),
        file_size: 1000 + n,
        sha512_checksum: "a".repeat(128),
        status: "to_do".into(),
        phase: "offered".into(),
        errors: String::new(),
        output_path: None,
        created_at,
        updated_at: created_at,
        ended_at: None,
        version: 1,
        view: format!("{{\"n\":{n}}}"),
    }
}

fn views(page: &super::SummaryPage) -> Vec<&str> {
    page.rows.iter().map(|(_, v)| v.as_str()).collect()
}

fn q(client_id: Option<NodeId>, limit: u32, offset: u64) -> PageQuery {
    PageQuery {
        client_id,
        limit,
        offset,
        ..Default::default()
    }
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn pages_are_newest_first_with_totals_and_an_origin_filter() {
    let (_dir, store) = store().await;
    // Created out of order; items 3 and 4 share a time (ordered by id then).
    let rows = vec![
        row(1, me(), 100),
        row(2, peer(), 300),
        row(3, me(), 200),
        row(4, me(), 200),
        row(5, me(), 50),
    ];
    store.put_summaries(rows).await.unwrap();
    let all = store.summary_page(q(None, 2, 0)).await.unwrap();
    assert_eq!(all.total, 5);
    assert_eq!(views(&all), [r#"{"n":2}"#, r#"{"n":4}"#]);
    let next = store.summary_page(q(None, 2, 2)).await.unwrap();
    assert_eq!(views(&next), [r#"{"n":3}"#, r#"{"n":1}"#]);
    let last = store.summary_page(q(None, 2, 4)).await.unwrap();
    assert_eq!((views(&last), last.total), (vec![r#"{"n":5}"#], 5));
    let beyond = store.summary_page(q(None, 2, 10)).await.unwrap();
    assert_eq!((beyond.rows.len(), beyond.total), (0, 5));
    let mine = store.summary_page(q(Some(me()), 10, 0)).await.unwrap();
    assert_eq!(mine.total, 4);
    assert_eq!(mine.rows[0].0, id(4).to_string());
}

#[tokio::test]
async fn filters_by_state_converter_and_profile_count_only_their_rows() {
    let (_dir, store) = store().await;
    let mut delivered = row(1, me(), 100);
    (delivered.phase, delivered.server_id) = ("delivered".into(), Some(peer()));
    let mut failed = row(2, peer(), 200);
    (failed.phase, failed.profile) = ("failed".into(), "opus".into());
    let mut converting = row(3, me(), 300);
    (converting.phase, converting.server_id) = ("converting".into(), Some(peer()));
    store
        .put_summaries(vec![delivered, failed, converting, row(4, me(), 400)])
        .await
        .unwrap();
    let page = |query: PageQuery| {
        let store = store.clone();
        async move { store.summary_page(query).await.unwrap() }
    };
    let ended = page(PageQuery {
        phases: Some(vec!["delivered", "failed", "cancelled"]),
        ..q(None, 1, 0)
    })
    .await;
    assert_eq!((ended.total, views(&ended)), (2, vec![r#"{"n":2}"#]));
    let on_peer = page(PageQuery {
        server_id: Some(peer()),
        ..q(None, 50, 0)
    })
    .await;
    assert_eq!(views(&on_peer), [r#"{"n":3}"#, r#"{"n":1}"#]);
    let opus = page(PageQuery {
        profile: Some("opus".into()),
        ..q(None, 50, 0)
    })
    .await;
    assert_eq!((opus.total, views(&opus)), (1, vec![r#"{"n":2}"#]));
    let mine_open = page(PageQuery {
        phases: Some(vec!["offered", "converting"]),
        ..q(Some(me()), 50, 0)
    })
    .await;
    assert_eq!(views(&mine_open), [r#"{"n":4}"#, r#"{"n":3}"#]);
    let none = page(PageQuery {
        phases: Some(vec![]),
        ..q(None, 50, 0)
    })
    .await;
    assert_eq!(none.total, 0);
}

#[tokio::test]
async fn an_upsert_replaces_the_row_and_stale_ones_are_found_by_version() {
    let (_dir, store) = store().await;
    store.put_summaries(vec![row(1, me(), 100)]).await.unwrap();
    let mut newer = row(1, me(), 100);
    newer.version = 5;
    newer.status = "finished_successful".into();
    newer.ended_at = Some(900);
    newer.view = "{\"v\":5}".into();
    store.put_summaries(vec![newer]).await.unwrap();
    assert_eq!(
        store.summary(id(1)).await.unwrap().as_deref(),
        Some("{\"v\":5}")
    );
    assert_eq!(store.summary(id(2)).await.unwrap(), None);
    let stale = store
        .stale_summaries(vec![(id(1), 5), (id(1), 4), (id(2), 1)])
        .await
        .unwrap();
    assert_eq!(stale, [id(1), id(2)]);
    // Many more rows than items asked about: looked up one by one, same answer.
    let rows: Vec<ItemSummary> = (10..30).map(|n| row(n, me(), n)).collect();
    store.put_summaries(rows).await.unwrap();
    let stale = store
        .stale_summaries(vec![(id(1), 5), (id(2), 1)])
        .await
        .unwrap();
    assert_eq!(stale, [id(2)]);
    assert_eq!(store.summary_page(q(None, 50, 0)).await.unwrap().total, 21);
}

#[tokio::test]
async fn an_id_prefix_finds_its_items_with_or_without_dashes() {
    let (_dir, store) = store().await;
    store
        .put_summaries(vec![row(1, me(), 1), row(2, peer(), 2)])
        .await
        .unwrap();
    let hex = id(2).0.simple().to_string();
    let page = store
        .summary_page(PageQuery {
            id_prefix: Some(hex[..].to_string()),
            ..q(None, 50, 0)
        })
        .await
        .unwrap();
    assert_eq!((page.total, page.rows[0].0.clone()), (1, id(2).to_string()));
    // Both ids start with abababab (their counters are at the end).
    let page = store
        .summary_page(PageQuery {
            id_prefix: Some("abababab".into()),
            ..q(None, 1, 0)
        })
        .await
        .unwrap();
    assert_eq!((page.total, page.rows.len()), (2, 1));
    for (hex, dashed) in [
        ("7f1c2a90", "7f1c2a90"),
        ("7f1c2a901", "7f1c2a90-1"),
        (
            "7F1C2A9011112222333344445555666",
            "7f1c2a90-1111-2222-3333-44445555666",
        ),
    ] {
        assert_eq!(super::dashed(hex), dashed);
    }
}

#[tokio::test]
async fn compaction_forgets_other_nodes_items_and_keeps_this_nodes_own() {
    let (_dir, store) = store().await;
    store
        .put_summaries(vec![row(1, me(), 1), row(2, peer(), 2)])
        .await
        .unwrap();
    // Compaction of all three (the third has no row) goes through the one hook.
    let c = dmc_protocol::engine::Compaction {
        items: vec![(id(1), 1), (id(2), 2), (id(3), 3)],
        ..Default::default()
    };
    store.compact(c, me()).await.unwrap();
    assert!(store.summary(id(1)).await.unwrap().is_some());
    assert_eq!(store.summary(id(2)).await.unwrap(), None);
    assert_eq!(store.summary_page(q(None, 50, 0)).await.unwrap().total, 1);
}

/// Not a timing assertion: prints how long the first page of `list --all` takes with 10,000
/// rows (the figure in `docs/performance.md`), and checks the page.
#[tokio::test]
async fn the_first_page_of_ten_thousand_rows_is_the_newest() {
    let (_dir, store) = store().await;
    let rows: Vec<ItemSummary> = (0..10_000)
        .map(|n| {
            let mut r = row(n, if n % 2 == 0 { me() } else { peer() }, 1_000_000 + n);
            r.view = format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(1500));
            r
        })
        .collect();
    store.put_summaries(rows).await.unwrap();
    let best_of_5 = |query: PageQuery| {
        let store = store.clone();
        async move {
            let mut best = u128::MAX;
            let mut page = None;
            for _ in 0..5 {
                let t = Instant::now();
                page = Some(store.summary_page(query.clone()).await.unwrap());
                best = best.min(t.elapsed().as_micros());
            }
            (page.unwrap(), best)
        }
    };
    let (all, all_us) = best_of_5(q(None, 50, 0)).await;
    assert_eq!((all.total, all.rows.len()), (10_000, 50));
    assert_eq!(all.rows[0].0, id(9_999).to_string());
    let (mine, mine_us) = best_of_5(q(Some(me()), 50, 0)).await;
    assert_eq!(
        (mine.total, mine.rows[0].0.clone()),
        (5_000, id(9_998).to_string())
    );
    let (deep, deep_us) = best_of_5(q(None, 50, 9_950)).await;
    assert_eq!(deep.rows.last().unwrap().0, id(0).to_string());
    let hex = id(1234).0.simple().to_string();
    let (one, prefix_us) = best_of_5(PageQuery {
        id_prefix: Some(hex),
        ..q(None, 6, 0)
    })
    .await;
    assert_eq!(one.total, 1);
    let t = Instant::now();
    let current: Vec<(ItemId, u64)> = (0..10_000).map(|n| (id(n), 1)).collect();
    assert!(store.stale_summaries(current).await.unwrap().is_empty());
    let versions_us = t.elapsed().as_micros();
    let t = Instant::now();
    let open: Vec<(ItemId, u64)> = (0..100).map(|n| (id(n), 1)).collect();
    assert!(store.stale_summaries(open).await.unwrap().is_empty());
    let open_us = t.elapsed().as_micros();
    println!(
        "10,000 summaries, best of 5: first page of all {all_us} µs, of this node's {mine_us} µs, \
         last page {deep_us} µs, id prefix {prefix_us} µs; start-up check of 10,000 items in memory {versions_us} µs, of 100 {open_us} µs"
    );
}

/// A record about an ended item that arrives after the item left memory is stored, and the
/// item's row (and the view `status` shows) counts it, as a node that folded it counts it.
#[tokio::test]
async fn a_late_record_of_an_ended_item_raises_its_version() {
    use super::super::tests::{item, rec, sample};
    let (_dir, store) = store().await;
    let records: Vec<_> = sample().into_iter().map(|r| (r, 1)).collect();
    let it = item(1);
    let held = records
        .iter()
        .filter(|(r, _)| r.body.item_id() == Some(it))
        .count() as u64;
    let mut ended = row(1, me(), 100);
    ended.item_id = it;
    ended.version = held;
    ended.view = format!("{{\"item_id\":\"{it}\",\"version\":{held}}}");
    store
        .put_records_and_summaries(records, vec![ended], vec![])
        .await
        .unwrap();

    let late = rec(3, 1, sample()[2].body.clone());
    assert_eq!(late.body.item_id(), Some(it));
    for _ in 0..2 {
        // The second time the record is a duplicate: nothing more is counted.
        store
            .put_records_and_summaries(vec![(late.clone(), 2)], vec![], vec![it])
            .await
            .unwrap();
        let view: serde_json::Value =
            serde_json::from_str(&store.summary(it).await.unwrap().unwrap()).unwrap();
        assert_eq!(view["version"], held + 1, "{view}");
        let stale = store.stale_summaries(vec![(it, held + 1)]).await.unwrap();
        assert!(stale.is_empty(), "the row's version column is {stale:?}");
    }
}
