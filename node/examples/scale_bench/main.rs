//! Scale benchmark, the state half: writes a busy household's year (see `history.rs`) into a
//! node's data dir through the node's real store, so that `bench/scale` can start a real node
//! on it and measure its database size, start time, memory and first page of `dmc list --all`.
//!
//! Usage: `scale_bench generate DATA_DIR ITEMS` (the data dir gets its identity key here if it
//! has none; the records of "laptop" are signed with it). Prints `records=N` and `items=N`.
//! `scale_bench measure DATA_DIR ITEMS`, after a node started on it and stopped, prints what
//! `measure.rs` measures (records kept, bytes per compacted item, idle reconcile, catch-up).

#[path = "../reconcile_bench/exchange.rs"]
mod exchange;
mod history;
mod measure;
#[path = "../reconcile_bench/rng.rs"]
mod rng;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dmc_node::store::Store;
use dmc_protocol::{Millis, Signer};
use history::{authors, item_records, node_records, Rng, YEAR_MS};

/// Records written to the store in one transaction.
const BATCH: usize = 20_000;

fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// Records as the laptop received them: when they were made (one household, one clock).
fn as_received(records: Vec<dmc_protocol::Record>) -> Vec<(dmc_protocol::Record, Millis)> {
    records
        .into_iter()
        .map(|r| {
            let at = r.created_at;
            (r, at)
        })
        .collect()
}

fn usage() -> ! {
    eprintln!("usage: scale_bench generate|measure DATA_DIR ITEMS");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(cmd), Some(dir), Some(items)) =
        (args.first().map(String::as_str), args.get(1), args.get(2))
    else {
        usage()
    };
    let dir = PathBuf::from(dir);
    let items: usize = items.parse().unwrap_or_else(|_| usage());
    match cmd {
        "generate" => generate(&dir, items).await,
        "measure" => measure::run(&dir, items, now_ms()).await,
        _ => usage(),
    }
}

/// Writes the year of `items` items into the store of `dir`.
async fn generate(dir: &Path, items: usize) {
    let (keypair, _) = dmc_node::identity::load_or_create(dir).expect("identity key");
    let store = Store::open(dir).await.expect("store opens");

    let start = Instant::now();
    let mut rng = Rng::new(0x5ca1e);
    let mut authors = authors(Signer::new(keypair), &mut rng);
    // Offers spread evenly over the year that ended an hour ago.
    let end = now_ms() - 3_600_000;
    let first = end - YEAR_MS;
    let mut pending = node_records(&mut authors, first);
    let mut written = 0usize;
    for i in 0..items {
        let at = first + (YEAR_MS / items.max(1) as u64) * i as u64;
        pending.extend(item_records(&mut rng, &mut authors, i, at));
        if pending.len() >= BATCH {
            written += store
                .put_records(as_received(std::mem::take(&mut pending)))
                .await
                .expect("stored");
        }
    }
    written += store
        .put_records(as_received(pending))
        .await
        .expect("stored");
    store.close().await.expect("store closes");
    println!("items={items}");
    println!("records={written}");
    println!("generate_s={:.1}", start.elapsed().as_secs_f64());
}
