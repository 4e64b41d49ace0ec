//! A converter's queue order: items wait for a free worker by priority (higher first), then
//! by offer time (older first), then by id; and an item's place in that queue, which every
//! node can work out from the records and progress reports.

use std::cmp::Reverse;
use std::collections::HashMap;

use crate::ids::{ItemId, Millis, NodeId};
use crate::item::ItemState;

/// Where an item stands in a converter's queue: the smaller starts first. The one rule of
/// queue order, used to start jobs and to number the items waiting.
pub type QueueKey = (Reverse<i32>, Millis, ItemId);

/// The queue key of an item of `priority` offered at `offered_at`.
pub fn queue_key(priority: i32, offered_at: Millis, id: ItemId) -> QueueKey {
    (Reverse(priority), offered_at, id)
}

impl ItemState {
    /// This item's place in its converter's queue (see [`queue_key`]).
    pub fn queue_key(&self) -> QueueKey {
        queue_key(self.priority, self.created_at, self.item_id())
    }
}

/// The places of items waiting for a worker, given as (their converter, their key): 1 for
/// the next to start on each converter, then 2, …
pub fn queue_positions<'a>(
    waiting: impl Iterator<Item = (&'a NodeId, QueueKey)>,
) -> HashMap<ItemId, u32> {
    let mut by_converter: HashMap<&NodeId, Vec<QueueKey>> = HashMap::new();
    for (converter, key) in waiting {
        by_converter.entry(converter).or_default().push(key);
    }
    let mut places = HashMap::new();
    for keys in by_converter.values_mut() {
        keys.sort();
        for (n, key) in keys.iter().enumerate() {
            places.insert(key.2, n as u32 + 1);
        }
    }
    places
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ItemId {
        ItemId::from_random([n; 16])
    }

    #[test]
    fn priority_first_then_offer_time_then_id() {
        let mut keys = [
            queue_key(0, 200, id(1)),
            queue_key(0, 100, id(2)),
            queue_key(5, 300, id(3)),
            queue_key(-1, 0, id(4)),
            queue_key(0, 100, id(0)),
        ];
        keys.sort();
        let order: Vec<ItemId> = keys.iter().map(|k| k.2).collect();
        assert_eq!(order, vec![id(3), id(0), id(2), id(1), id(4)]);
    }

    #[test]
    fn positions_count_per_converter_in_queue_order() {
        let (a, b) = (NodeId::new("a"), NodeId::new("b"));
        let waiting = [
            (&a, queue_key(0, 200, id(1))),
            (&a, queue_key(0, 100, id(2))),
            (&b, queue_key(-5, 50, id(3))),
            (&a, queue_key(7, 300, id(4))),
            (&b, queue_key(0, 60, id(5))),
        ];
        let places = queue_positions(waiting.into_iter());
        let place = |n| places.get(&id(n)).copied();
        assert_eq!(
            [place(4), place(2), place(1), place(5), place(3), place(6)],
            [Some(1), Some(2), Some(3), Some(1), Some(2), None]
        );
    }
}
