//! When the queue should be done (`queue` of a page of items, the `queue:` line under
//! `dmc list`): the items still to do over the speeds converters report now and the speeds
//! measured on this LAN before.

use dmc_protocol::{MediaType, Phase};
use serde::{Deserialize, Serialize};

use super::ItemView;

/// Speeds assumed when no converter on this LAN has reported one.
pub const ASSUMED_SPEEDS: (f32, f32) = (0.25, 2.0);
/// Wall time assumed for an image, or a source without a known duration, in seconds.
const ASSUMED_ITEM_SECS: f64 = 2.0;

/// Where the speeds of an estimate come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeedSource {
    /// Reported by conversions running now, or measured by this node from the converters
    /// online (a moving average of what each reported, kept across restarts).
    Measured,
    /// Nothing measured yet: [`ASSUMED_SPEEDS`].
    Assumed,
}

/// When the queue should be done, as a range of seconds from now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueEstimate {
    /// Items not finished (delivered, failed or cancelled).
    pub to_do: u64,
    /// Converters online (this node included when it is one).
    pub converters_online: u32,
    /// Soonest and latest, in seconds from now; `None` when there is nothing to base it on
    /// or no converter is online.
    pub done_in_secs: Option<(u64, u64)>,
    /// The slowest and fastest speed (realtime factor) the estimate used.
    pub speeds: (f32, f32),
    pub speed_source: SpeedSource,
}

/// Estimates the queue of `open` items (those not finished are counted): each one's
/// remaining media time (its duration × (1 − conversion progress)) over the range of speeds
/// items report now and `measured` (the converters online), else [`ASSUMED_SPEEDS`], shared
/// by `converters` converters online; never sooner than the longest single item.
pub fn estimate(open: &[ItemView], measured: &[f32], converters: u32) -> QueueEstimate {
    let pending: Vec<&ItemView> = open.iter().filter(|i| !i.phase.is_final()).collect();
    let speeds = speed_range(&pending, measured);
    let (slow, fast) = speeds
        .map(|(s, f)| (f64::from(s), f64::from(f)))
        .unwrap_or((f64::from(ASSUMED_SPEEDS.0), f64::from(ASSUMED_SPEEDS.1)));
    let work = Work::of(&pending);
    let done_in_secs = (work.basis && converters > 0).then(|| {
        let n = f64::from(converters);
        let soon = ((work.media / fast + work.fixed) / n).max(work.longest / fast);
        let late = ((work.media / slow + work.fixed) / n).max(work.longest / slow);
        (soon.ceil() as u64, late.ceil() as u64)
    });
    QueueEstimate {
        to_do: pending.len() as u64,
        converters_online: converters,
        done_in_secs,
        speeds: speeds.unwrap_or(ASSUMED_SPEEDS),
        speed_source: match speeds {
            Some(_) => SpeedSource::Measured,
            None => SpeedSource::Assumed,
        },
    }
}

/// The slowest and fastest of the speeds converting items report and of `measured`.
fn speed_range(pending: &[&ItemView], measured: &[f32]) -> Option<(f32, f32)> {
    pending
        .iter()
        .filter(|i| i.phase == Phase::Converting)
        .filter_map(|i| i.speed)
        .chain(measured.iter().copied())
        .filter(|s| s.is_finite() && *s > 0.0)
        .fold(None, |range, s| match range {
            None => Some((s, s)),
            Some((lo, hi)) => Some((f32::min(lo, s), f32::max(hi, s))),
        })
}

/// What is left to convert.
struct Work {
    /// Seconds of media.
    media: f64,
    /// Wall seconds of items without a duration (images, unknown).
    fixed: f64,
    /// Media seconds left of the longest item.
    longest: f64,
    /// Whether any item gives something to base an estimate on.
    basis: bool,
}

impl Work {
    fn of(pending: &[&ItemView]) -> Work {
        let mut w = Work {
            media: 0.0,
            fixed: 0.0,
            longest: 0.0,
            basis: false,
        };
        for i in pending {
            let done = match i.phase {
                Phase::Converting => i.progress.clamp(0.0, 1.0),
                Phase::Converted | Phase::Delivering => 1.0,
                _ => 0.0,
            };
            match i.duration_ms {
                Some(ms) if i.media_type != MediaType::Image => {
                    let left = ms as f64 / 1000.0 * (1.0 - done);
                    w.media += left;
                    w.longest = w.longest.max(left);
                    w.basis = true;
                }
                _ => {
                    w.fixed += ASSUMED_ITEM_SECS * (1.0 - done);
                    w.basis |= i.media_type == MediaType::Image;
                }
            }
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use dmc_protocol::ItemId;

    use super::*;

    fn queued(
        phase: Phase,
        progress: f64,
        duration_ms: Option<u64>,
        speed: Option<f32>,
    ) -> ItemView {
        ItemView {
            progress,
            duration_ms,
            speed,
            ..ItemView::sample(ItemId::from_random([1; 16]), phase)
        }
    }

    #[test]
    fn the_estimate_uses_remaining_duration_reported_speeds_and_converters() {
        // 60 s half done at 2x and 0.5x, plus a 120 s item waiting; two converters.
        let items = [
            queued(Phase::Converting, 0.5, Some(60_000), Some(2.0)),
            queued(Phase::Converting, 0.5, Some(60_000), Some(0.5)),
            queued(Phase::Offered, 0.0, Some(120_000), None),
            queued(Phase::Delivered, 1.0, Some(600_000), None),
        ];
        let e = estimate(&items, &[], 2);
        assert_eq!(e.to_do, 3);
        assert_eq!(e.speed_source, SpeedSource::Measured);
        assert_eq!(e.speeds, (0.5, 2.0));
        // 180 s of media: soonest (180/2)/2 = 45 s but never under 120/2 = 60 s; latest
        // (180/0.5)/2 = 180 s, never under 120/0.5 = 240 s.
        assert_eq!(e.done_in_secs, Some((60, 240)));
        assert_eq!(estimate(&items, &[], 0).done_in_secs, None);
    }

    #[test]
    fn speeds_measured_on_this_lan_replace_the_assumed_ones() {
        let waiting = [queued(Phase::Offered, 0.0, Some(600_000), None)];
        let assumed = estimate(&waiting, &[], 1);
        assert_eq!(assumed.speed_source, SpeedSource::Assumed);
        assert_eq!(assumed.done_in_secs, Some((300, 2400)));
        // Two converters measured at 4x and 1.5x before: 600 s of media over them.
        let measured = estimate(&waiting, &[4.0, 1.5], 2);
        assert_eq!(measured.speed_source, SpeedSource::Measured);
        assert_eq!(measured.speeds, (1.5, 4.0));
        assert_eq!(measured.done_in_secs, Some((150, 400)));
        // Nonsense measurements are left out.
        let odd = estimate(&waiting, &[f32::NAN, 0.0, -1.0], 1);
        assert_eq!(odd.speed_source, SpeedSource::Assumed);
    }

    #[test]
    fn a_video_without_a_known_duration_gives_nothing_to_base_it_on() {
        let unknown = [queued(Phase::Offered, 0.0, None, None)];
        let e = estimate(&unknown, &[2.0], 1);
        assert_eq!(e.to_do, 1);
        assert_eq!(e.done_in_secs, None);
    }
}
