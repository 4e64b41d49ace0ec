//! A converter's queue order: items wait for a free worker by priority (higher first), then
//! by offer time (older first), then by id; and an item's place in that queue, which every
//! node can work out from the records and progress reports (`queue_position`).

use std::cmp::Reverse;
use std::collections::HashMap;

use dmc_protocol::engine::Effect;
use dmc_protocol::{ItemId, Millis, NodeId};

/// Where an item stands in a converter's queue: the smaller starts first. The one rule of
/// queue order, used to start jobs and to number the items waiting.
pub(crate) type QueueKey = (Reverse<i32>, Millis, ItemId);

/// The queue key of an item of `priority` offered at `offered_at`.
pub(crate) fn queue_key(priority: i32, offered_at: Millis, id: ItemId) -> QueueKey {
    (Reverse(priority), offered_at, id)
}

/// The places of items waiting for a worker, given as (their converter, their key): 1 for
/// the next to start on each converter, then 2, …
pub(crate) fn queue_positions<'a>(
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

/// Puts the `RunJob` effects of `effects` in queue order, in the places the `RunJob`s had
/// (other effects keep their place). `item` gives an item's (priority, offer time); unknown
/// items go last. When fewer workers are free than items wait, the first in the queue start.
pub(crate) fn order_run_jobs(
    mut effects: Vec<Effect>,
    item: impl Fn(&ItemId) -> Option<(i32, Millis)>,
) -> Vec<Effect> {
    let slots: Vec<usize> = effects
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, Effect::RunJob { .. }))
        .map(|(i, _)| i)
        .collect();
    if slots.len() < 2 {
        return effects;
    }
    let mut runs: Vec<(_, Effect)> = slots
        .iter()
        .map(|i| {
            let e = effects[*i].clone();
            let (id, found) = match &e {
                Effect::RunJob { item_id, .. } => (Some(*item_id), item(item_id)),
                _ => (None, None),
            };
            // Unknown items last.
            let key = (
                found.is_none(),
                id.map(|id| {
                    queue_key(
                        found.map_or(0, |f| f.0),
                        found.map_or(Millis::MAX, |f| f.1),
                        id,
                    )
                }),
            );
            (key, e)
        })
        .collect();
    runs.sort_by_key(|r| r.0);
    for (slot, (_, run)) in slots.into_iter().zip(runs) {
        effects[slot] = run;
    }
    effects
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmc_protocol::NodeId;

    fn id(n: u8) -> ItemId {
        ItemId::from_random([n; 16])
    }

    fn run(n: u8) -> Effect {
        Effect::RunJob {
            item_id: id(n),
            epoch: 1,
            origin: NodeId::new("origin"),
        }
    }

    #[test]
    fn priority_first_then_offer_time() {
        let other = Effect::Refused {
            from: NodeId::new("x"),
            reason: "r".into(),
        };
        // Effects arrive in item-id order; 3 has the highest priority, 1 and 2 tie on
        // priority and 2 was offered first; 4 is unknown.
        let effects = vec![run(1), other.clone(), run(2), run(3), run(4)];
        let meta = |i: &ItemId| match i {
            i if *i == id(1) => Some((0, 200)),
            i if *i == id(2) => Some((0, 100)),
            i if *i == id(3) => Some((5, 300)),
            _ => None,
        };
        let ordered = order_run_jobs(effects, meta);
        assert_eq!(ordered, vec![run(3), other, run(2), run(1), run(4)]);
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

    #[test]
    fn negative_priority_waits() {
        let meta = |i: &ItemId| Some((if *i == id(1) { -1 } else { 0 }, 0));
        assert_eq!(
            order_run_jobs(vec![run(1), run(2)], meta),
            vec![run(2), run(1)]
        );
    }
}
