//! Origin: why one of our items waits, as far as this engine knows beyond the records (the
//! retry backoff, its converter's silence), for `status`.

use crate::ids::Millis;
use crate::item::{ItemState, NextAttempt, Phase, Waiting};
use crate::schedule::occupies_converter;

use super::{Engine, HEARTBEAT_MS};

impl Engine {
    /// Origin: why one of our items in someone else's hands is not moving, if we can tell:
    /// its converter is offline or silent.
    pub fn lease_note(&self, item: &ItemState, now: Millis) -> Option<Waiting> {
        let (_, converter) = item.assignment.as_ref()?;
        if item.origin != *self.cfg.me() || *converter == *self.cfg.me() || item.phase.is_final() {
            return None;
        }
        let converter = converter.clone();
        if item.phase == Phase::Converted {
            return (!self.connected.contains(&converter))
                .then_some(Waiting::ResultHeldOffline { converter });
        }
        if !occupies_converter(item) {
            return None;
        }
        if self.connected.is_empty() {
            return Some(Waiting::Offline { converter });
        }
        let since = self
            .heard
            .get(&item.item_id())
            .copied()
            .unwrap_or(0)
            .max(self.lease_base);
        let silent_ms = now.saturating_sub(since);
        (silent_ms >= 3 * HEARTBEAT_MS).then_some(Waiting::Silent {
            converter,
            silent_ms,
            lease_ms: self.cfg.lease,
        })
    }

    /// Origin: why one of our items waits to be retried, with the time left.
    pub fn retry_note(&self, item: &ItemState, now: Millis) -> Option<Waiting> {
        if item.origin != *self.cfg.me() || item.phase != Phase::Retrying {
            return None;
        }
        let failed = item.failures.len();
        if failed >= self.cfg.max_attempts as usize {
            return item.after_last_failure(NextAttempt::GivingUp);
        }
        let due = match self.retry_since.get(&item.item_id()) {
            Some((n, since)) if *n == failed => {
                since.saturating_add(self.cfg.backoff_after(failed))
            }
            _ => now.saturating_add(self.cfg.backoff_after(failed)),
        };
        item.after_last_failure(if now < due {
            NextAttempt::Retry { in_ms: due - now }
        } else {
            NextAttempt::WaitingForConverter
        })
    }
}
