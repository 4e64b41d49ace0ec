//! The queue estimate of a page of items: every item of the query still to do, over the
//! speeds of the converters online (reported now, or measured on this LAN before).

use dmc_protocol::NodeId;

use super::task::Core;
use crate::control::api::{queue_estimate, ItemView, Names, QueueEstimate};

impl Core {
    /// When this node's items (with `all`, every item it knows) should be done.
    pub(super) fn queue_estimate(&self, all: bool, names: &Names) -> QueueEstimate {
        let me = self.engine.me();
        let open: Vec<ItemView> = self
            .engine
            .replica()
            .open_items()
            .filter(|i| !i.phase.is_final() && (all || i.origin == *me))
            .filter(|i| super::summaries::is_listed(i))
            .map(|i| self.view_named(i, names))
            .collect();
        let online = self.converters_online();
        let measured: Vec<f32> = online
            .iter()
            .filter_map(|id| self.engine.measured_speed(id))
            .collect();
        queue_estimate(&open, &measured, online.len() as u32)
    }

    /// Converters connected now, and this node when it is one.
    fn converters_online(&self) -> Vec<NodeId> {
        let me = self.engine.me();
        self.engine
            .replica()
            .nodes()
            .filter(|(_, _, info)| info.converter.is_some())
            .filter(|(id, _, _)| *id == me || self.engine.connected().contains(*id))
            .map(|(id, _, _)| id.clone())
            .collect()
    }
}
