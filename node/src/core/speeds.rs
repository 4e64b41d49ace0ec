//! Converters' measured speeds, saved to the store when they changed (every minute and at
//! shutdown) so that after a restart the queue estimate still uses the speeds measured on
//! this LAN.

use std::collections::BTreeMap;

use dmc_protocol::NodeId;
use tracing::warn;

use super::task::Core;

/// Every this many ticks the measured speeds are saved, when they changed.
pub(super) const SAVE_SPEEDS_EVERY_TICKS: u64 = 60;

/// The speeds as last saved.
pub(super) struct SavedSpeeds(BTreeMap<NodeId, f32>);

impl SavedSpeeds {
    /// What was saved (or restored) last.
    pub(super) fn new(speeds: &BTreeMap<NodeId, f32>) -> SavedSpeeds {
        SavedSpeeds(speeds.clone())
    }
}

impl Core {
    /// Saves the engine's measured speeds if they changed since they were last saved.
    pub(super) async fn save_speeds(&mut self) {
        let now = self.engine.measured_speeds();
        if *now == self.saved_speeds.0 {
            return;
        }
        let rows = now.iter().map(|(id, s)| (id.clone(), *s)).collect();
        match self.store.put_speeds(rows).await {
            Ok(()) => self.saved_speeds = SavedSpeeds::new(now),
            Err(e) => warn!("could not save the converters' measured speeds: {e}"),
        }
    }
}
