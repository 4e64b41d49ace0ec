//! What the origin does once one of its items ends: runs `[notify]` and, for a delivered item
//! offered from a watched folder, its `after_delivery`. Triggered by the records this node
//! authors (delivered, or failed for good), which are new exactly once: an item that ended
//! before a restart is not announced again.

use dmc_protocol::{ItemId, Phase, Record, RecordBody};

use super::task::Core;

impl Core {
    /// The items the given records (about to be stored) end here for good.
    pub(crate) fn ended_by(&self, records: &[Record]) -> Vec<ItemId> {
        let me = self.engine.me();
        records
            .iter()
            .filter(|r| &r.author == me)
            .filter_map(|r| match &r.body {
                RecordBody::Delivered { item_id, .. } => Some(*item_id),
                RecordBody::Failed {
                    item_id,
                    epoch: None,
                    ..
                } => Some(*item_id),
                _ => None,
            })
            .collect()
    }

    /// Announces an ended item and starts its watch folder's `after_delivery`, both off the
    /// core task.
    pub(crate) fn item_ended(&self, item_id: ItemId) {
        let Some(item) = self.engine.item(&item_id) else {
            return;
        };
        if !matches!(item.phase, Phase::Delivered | Phase::Failed)
            || &item.origin != self.engine.me()
        {
            return;
        }
        let view = self.view(item);
        tracing::info!(item = %item_id, phase = view.phase.as_str(), "item ended");
        if item.phase == Phase::Delivered {
            let store = self.store.clone();
            tokio::spawn(async move { crate::watch::after_delivered(&store, item_id).await });
        }
        crate::announce::item_ended(&self.config.notify, view);
    }
}
