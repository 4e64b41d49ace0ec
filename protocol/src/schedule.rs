//! Scheduling decisions: which converter gets an item, and whether a converter can take one.

use crate::ids::{Millis, NodeId};
use crate::item::{ItemState, Phase};
use crate::record::ConverterAd;

/// After refusing an item, a converter is asked again only once this much time has passed.
pub const REJECT_COOLDOWN_MS: Millis = 10 * 60 * 1000;
/// After giving an item back (shutting down), a converter is not given it again for this long,
/// so the item goes to another converter while this one stops.
pub const RELEASE_COOLDOWN_MS: Millis = 60 * 1000;

/// A converter the origin could assign to.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub id: &'a NodeId,
    pub ad: &'a ConverterAd,
    /// Items currently assigned to it and not finished.
    pub load: usize,
}

/// Picks the converter for `item`: one that supports its media type and profile, has not
/// refused it within the cool-down, and has the most free capacity; ties go to the smaller id.
pub fn pick_converter<'a>(
    item: &ItemState,
    candidates: &[Candidate<'a>],
    now: Millis,
) -> Option<&'a NodeId> {
    candidates
        .iter()
        .filter(|c| {
            c.ad.unsupported(item.offer.media_type, &item.offer.profile)
                .is_none()
        })
        .filter(|c| {
            !item
                .rejections
                .iter()
                .any(|r| &r.server_id == c.id && now < r.at.saturating_add(REJECT_COOLDOWN_MS))
        })
        .filter(|c| {
            !item.released.as_ref().is_some_and(|(by, _, at)| {
                by == c.id && now < at.saturating_add(RELEASE_COOLDOWN_MS)
            })
        })
        .min_by(|a, b| {
            // Compare load/workers as a fraction without floats: a.load * b.workers vs …
            let wa = a.ad.workers.max(1) as u64;
            let wb = b.ad.workers.max(1) as u64;
            ((a.load as u64) * wb, a.id).cmp(&((b.load as u64) * wa, b.id))
        })
        .map(|c| c.id)
}

/// Whether an item occupies its converter (counts towards its load).
pub fn occupies_converter(item: &ItemState) -> bool {
    matches!(
        item.phase,
        Phase::Assigned | Phase::Accepted | Phase::Transferring | Phase::Converting
    )
}

/// Why a converter refuses for lack of disk, if it must: it needs `need` bytes and has `have`.
pub fn disk_refusal(need: u64, have: u64) -> Option<String> {
    (need > have).then(|| {
        format!(
            "insufficient disk: need {}, have {}",
            human_bytes(need),
            human_bytes(have)
        )
    })
}

/// `1.5 GiB`-style sizes for messages.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
