//! Scale benchmark, the measuring half that runs on the data dir after the real node started
//! (and compacted) and stopped: records and tombstones kept, the bytes a compacted item costs
//! in SQLite, an idle reconcile between two nodes holding that state, and the catch-up of a
//! node that was away for 60 days while 1,000 items were offered and finished. Reconcile and
//! catch-up run the real engines and codec (`reconcile_bench/exchange.rs`), not the network
//! or the store.

use std::path::Path;

use dmc_node::store::Store;
use dmc_protocol::engine::{Engine, EngineConfig, Event, Restored};
use dmc_protocol::{ConverterAd, MediaType, Millis, NodeId, Signer};

use crate::exchange::{exchange, Traffic};
use crate::history::{authors, item_records, Author, Rng, LAPTOP};

/// How long the returning node was away, and the items offered and finished meanwhile.
const AWAY_MS: Millis = 60 * 24 * 3600 * 1000;
const AWAY_ITEMS: usize = 1_000;
/// The converter that is the other node of the pair ("nas").
const OTHER: usize = 2;

/// Prints the figures for the data dir `dir` that holds `items` generated items.
pub async fn run(dir: &Path, items: usize, now: Millis) {
    let db = dir.join(dmc_node::store::DB_FILE_NAME);
    assert!(db.exists(), "no database at {} to measure", db.display());
    let store = Store::open(dir).await.expect("store opens");
    let stored = store.load_state().await.expect("state loads");
    store.close().await.expect("store closes");
    // Records in memory after a start (those of items not ended), and in the database.
    println!("records_after_start={}", stored.records.len());
    println!("records_stored={}", stored_records(dir));
    println!("tombstones={}", stored.tombstones.len());
    println!("ended_not_compacted={}", stored.ended.len());
    tombstone_bytes(dir, stored.tombstones.len());

    let (keypair, _) = dmc_node::identity::load_or_create(dir).expect("identity key");
    let mut rng = Rng::new(0x5ca1e);
    let mut authors = authors(Signer::new(keypair), &mut rng);
    let mut pair = [
        engine(&authors[LAPTOP], "laptop", None, stored.clone()),
        engine(&authors[OTHER], "nas", Some(ad()), stored),
    ];
    for e in pair.iter_mut() {
        e.handle(Event::Tick, now);
    }
    let idle = exchange(&mut pair, now);
    print("idle", &idle, in_sync(&pair));
    disconnect(&mut pair, now);

    let then = now + AWAY_MS;
    let made = offer_while_away(&mut pair[0], &mut authors, items, now);
    println!("away_records_made={made}");
    for e in pair.iter_mut() {
        e.handle(Event::Tick, then);
    }
    let catchup = exchange(&mut pair, then);
    print("catchup", &catchup, in_sync(&pair));
}

fn ad() -> ConverterAd {
    ConverterAd {
        media_types: vec![MediaType::Video, MediaType::Audio, MediaType::Image],
        profiles: vec!["mkv-x264".into(), "mkv-x265".into(), "webp".into()],
        workers: 2,
        segments: false,
    }
}

fn engine(a: &Author, name: &str, ad: Option<ConverterAd>, stored: Restored) -> Engine {
    Engine::restore(EngineConfig::new(a.signer.clone(), name, ad), stored)
}

fn in_sync(pair: &[Engine; 2]) -> bool {
    let (a, b) = (pair[0].replica(), pair[1].replica());
    a.len() == b.len() && a.summary() == b.summary()
}

fn disconnect(pair: &mut [Engine; 2], now: Millis) {
    let ids = [pair[0].me().clone(), pair[1].me().clone()];
    for (k, e) in pair.iter_mut().enumerate() {
        e.handle(Event::PeerDisconnected(ids[1 - k].clone()), now);
    }
}

fn print(case: &str, t: &Traffic, synced: bool) {
    println!("{case}_bytes={}", t.total());
    println!("{case}_round_trips={}", t.round_trips);
    println!("{case}_requests={}", t.requests);
    println!("{case}_records_moved={}", t.records[0] + t.records[1]);
    println!("{case}_refused={}", t.refused);
    println!("{case}_ms={:.1}", t.elapsed.as_secs_f64() * 1e3);
    println!("{case}_in_sync={synced}");
}

/// While the other node is away, `AWAY_ITEMS` items are offered over 60 days and finished;
/// the staying node receives each item's records as they are made, from a third node it is
/// connected to. Returns the records made.
fn offer_while_away(
    staying: &mut Engine,
    authors: &mut [Author],
    items: usize,
    now: Millis,
) -> usize {
    for a in authors.iter_mut() {
        let id = a.id();
        let r = staying.replica();
        a.resume_after(r.max_seq(&id).max(r.known_up_to(&id)));
    }
    let third: NodeId = authors[3].id();
    let mut rng = Rng::new(0xa11a7);
    let mut made = 0;
    staying.handle(Event::PeerConnected(third.clone()), now);
    for k in 0..AWAY_ITEMS {
        let at = now + (AWAY_MS / AWAY_ITEMS as Millis) * k as Millis;
        let records = item_records(&mut rng, authors, items + k, at);
        made += records.len();
        let fx = staying.handle(
            Event::Records {
                from: third.clone(),
                records,
                sync_more: None,
                complete: vec![],
            },
            at + 12 * 3600 * 1000,
        );
        let refused = fx
            .iter()
            .filter(|e| matches!(e, dmc_protocol::engine::Effect::Refused { .. }))
            .count();
        assert_eq!(refused, 0, "the staying node refused records of item {k}");
    }
    staying.handle(Event::PeerDisconnected(third), now + AWAY_MS);
    made
}

/// How many records the database holds, loaded at start or not.
fn stored_records(dir: &Path) -> i64 {
    let db = rusqlite::Connection::open(dir.join(dmc_node::store::DB_FILE_NAME)).expect("db opens");
    db.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .expect("records count")
}

/// Bytes of the tombstones table (its B-tree: rows and keys; a WITHOUT ROWID table is its own
/// index), per tombstone: what a compacted item costs a node that is not its origin (its
/// records and summary row are gone; the origin also keeps the summary row).
fn tombstone_bytes(dir: &Path, tombstones: usize) {
    let db = rusqlite::Connection::open(dir.join(dmc_node::store::DB_FILE_NAME)).expect("db opens");
    let sizes = db.query_row(
        "SELECT SUM(pgsize), SUM(payload) FROM dbstat WHERE name = 'tombstones'",
        [],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    );
    let live = db.query_row(
        "SELECT (SELECT page_count FROM pragma_page_count()) \
         - (SELECT freelist_count FROM pragma_freelist_count()), \
         (SELECT page_size FROM pragma_page_size())",
        [],
        |r| Ok(r.get::<_, i64>(0)? * r.get::<_, i64>(1)?),
    );
    // Compaction frees pages for reuse; the file keeps its size until a VACUUM.
    if let Ok(live) = live {
        println!("db_live_mib={:.1}", live as f64 / (1 << 20) as f64);
    }
    match sizes {
        Ok((pages, payload)) => {
            let per = |b: i64| b as f64 / tombstones.max(1) as f64;
            println!("tombstone_table_bytes={pages}");
            println!("bytes_per_compacted_item={:.1}", per(pages));
            println!("payload_bytes_per_compacted_item={:.1}", per(payload));
        }
        Err(e) => println!("bytes_per_compacted_item=failed: {e}"),
    }
}
