//! Cheap reconciliation: two engines sharing many items reconnect and their exchange, counted
//! in frames of the node's real codec, stays within the targets (idle: at most 1 KiB; 10 items
//! changed: at most 16 KiB in at most 3 round trips) and does not grow with the item count.

#[path = "../examples/reconcile_bench/scenario.rs"]
mod scenario;

use scenario::{Traffic, World};

const IDLE_MAX_BYTES: usize = 1024;
const CHANGED_MAX_BYTES: usize = 16 * 1024;
const MAX_ROUND_TRIPS: usize = 3;

/// Idle reconnect, then reconnect after 10 items changed on one side.
fn run(items: usize) -> (Traffic, Traffic) {
    let mut world = World::build(items);
    assert!(world.in_sync());
    let idle = world.reconnect();
    assert!(world.in_sync(), "idle reconnect with {items} items");
    world.disconnect();
    let made = world.change_while_apart();
    assert!(!world.in_sync());
    let changed = world.reconnect();
    assert!(world.in_sync(), "reconnect after changes, {items} items");
    assert_eq!(
        changed.records,
        [made, 0],
        "exactly the new records move, once"
    );
    assert_eq!(idle.refused + changed.refused, 0);
    (idle, changed)
}

#[test]
fn reconnect_cost_is_within_targets_and_independent_of_item_count() {
    let (idle_small, changed_small) = run(1_000);
    let (idle_large, changed_large) = run(15_000);

    for idle in [&idle_small, &idle_large] {
        assert!(
            idle.total() <= IDLE_MAX_BYTES,
            "idle reconnect moved {} bytes",
            idle.total()
        );
        assert_eq!(idle.records, [0, 0]);
        assert_eq!(idle.round_trips, 1);
    }
    for changed in [&changed_small, &changed_large] {
        assert!(
            changed.total() <= CHANGED_MAX_BYTES,
            "reconnect with 10 items changed moved {} bytes",
            changed.total()
        );
        assert!(changed.round_trips <= MAX_ROUND_TRIPS);
    }
    // Fifteen times the items, the same bytes and round trips. (Only the width of CBOR
    // integers grows with the history: a sequence number above 65,535 takes 2 more bytes.)
    assert_eq!(idle_small.bytes_and_trips(), idle_large.bytes_and_trips());
    assert_eq!(
        changed_small.bytes_and_trips(),
        changed_large.bytes_and_trips()
    );
}
