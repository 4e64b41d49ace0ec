//! Reconciliation benchmark: two engines sharing N items (default 100,000) reconnect, first
//! with nothing changed, then with 10 items changed on one side while apart. Prints the bytes
//! each side sent (real codec frames), records moved, round trips and wall time of the
//! exchange (engine handling, encoding and decoding included; building the state excluded),
//! and the cost of one scheduling pass over every item.
//!
//! Usage: `cargo run --release -p dmc-node --example reconcile_bench [items] [idle-runs]`

mod scenario;

use std::time::{Duration, Instant};

use scenario::{schedule_cost, Traffic, World};

fn print(case: &str, t: &Traffic) {
    println!(
        "{case}: origin->conv {} B, conv->origin {} B, total {} B ({:.2} KiB); records {} / {}; \
         requests {}; round trips {}; refused {}; time {:.3} ms",
        t.sent[0],
        t.sent[1],
        t.total(),
        t.total() as f64 / 1024.0,
        t.records[0],
        t.records[1],
        t.requests,
        t.round_trips,
        t.refused,
        t.elapsed.as_secs_f64() * 1e3,
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);

    let start = Instant::now();
    let mut world = World::build(items);
    println!(
        "built: {items} items, {} records held by each side, in {:.1} s (not counted)",
        world.shared_records,
        start.elapsed().as_secs_f64()
    );

    // Idle reconnect, repeated: the exchange leaves the state as it was.
    let mut times = Vec::new();
    let mut first = None;
    for _ in 0..runs.max(1) {
        let t = world.reconnect();
        assert!(world.in_sync(), "idle reconnect left the pair apart");
        times.push(t.elapsed);
        first.get_or_insert(t);
        world.disconnect();
    }
    let mut idle = first.unwrap_or_default();
    idle.elapsed = median(times.clone());
    print("idle reconnect", &idle);
    println!(
        "  time over {} runs: median {:.3} ms, min {:.3} ms, max {:.3} ms",
        times.len(),
        idle.elapsed.as_secs_f64() * 1e3,
        times.iter().min().unwrap_or(&Duration::ZERO).as_secs_f64() * 1e3,
        times.iter().max().unwrap_or(&Duration::ZERO).as_secs_f64() * 1e3,
    );

    let now = world.now();
    let sched = schedule_cost(&mut world.engines[0], now, 5);
    println!(
        "  one scheduling pass over {items} items (Engine::handle(Tick), no peers): {:.3} ms",
        sched.as_secs_f64() * 1e3
    );

    let made = world.change_while_apart();
    let changed = world.reconnect();
    assert!(
        world.in_sync(),
        "reconnect after changes left the pair apart"
    );
    println!("changed while apart: 10 items, {made} records on the origin's side");
    print("reconnect with 10 items changed", &changed);
}
