//! Pacing of chunk requests: a token bucket over bytes requested, holding at most one chunk's
//! worth of burst, so a pull with `max_rate` asks for no more than that many bytes per second.

use std::time::Duration;

use tokio::time::Instant;

/// Says when the next request of a given size may go out.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// Bytes per second; `None` never waits.
    rate: Option<u64>,
    /// The earliest moment the bucket holds enough for the next request ("virtual time").
    next: Instant,
}

impl Pacer {
    pub(crate) fn new(rate: Option<u64>) -> Self {
        Pacer {
            rate: rate.filter(|r| *r > 0),
            next: Instant::now(),
        }
    }

    /// `None` if a request may go now (and is counted), else the moment to try again.
    pub(crate) fn admit(&mut self, bytes: u64) -> Option<Instant> {
        let rate = self.rate?;
        let now = Instant::now();
        if self.next > now {
            return Some(self.next);
        }
        // An idle bucket holds at most one request's worth: no catching up on past idleness.
        let cost = Duration::from_secs_f64(bytes as f64 / rate as f64);
        self.next = now.max(self.next) + cost;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unlimited_never_waits_and_limited_spaces_requests_by_their_size() {
        let mut free = Pacer::new(None);
        for _ in 0..1000 {
            assert!(free.admit(1 << 20).is_none());
        }
        let mut p = Pacer::new(Some(1 << 20));
        assert!(p.admit(512 << 10).is_none());
        let at = p.admit(512 << 10).expect("must wait");
        let wait = at.saturating_duration_since(Instant::now());
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        tokio::time::sleep_until(at).await;
        assert!(p.admit(512 << 10).is_none());
    }
}
