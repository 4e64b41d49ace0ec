//! Scheduling decisions: which converter gets an item, whether a converter can take one, and
//! in which order a converter's items wait for its workers (`queue`).

use crate::ids::{Millis, NodeId};
use crate::item::{ItemState, Phase, Rejection};
use crate::record::ConverterAd;

mod queue;
pub use queue::{queue_key, queue_positions, QueueKey};

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
    /// Its measured speed (moving average of ffmpeg's realtime factor), if it has converted.
    pub speed: Option<f32>,
}

impl Candidate<'_> {
    /// Workers not busy with an item.
    pub fn free_slots(&self) -> usize {
        (self.ad.workers as usize).saturating_sub(self.load)
    }

    /// Items waiting for a worker.
    pub fn queued(&self) -> usize {
        self.load.saturating_sub(self.ad.workers as usize)
    }

    /// The speed used for ranking: a converter never measured counts as realtime (1.0).
    fn rank_speed(&self) -> f32 {
        self.speed
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(1.0)
    }
}

/// Picks the converter for `item` among those that support its media type and profile and
/// have not refused it (or given it back) within the cool-down; a converter that refused for
/// lack of room is asked again as soon as fewer items occupy it than when it refused.
/// Preference, in order: one that has not failed this item (nor lost its result), more free
/// slots, a shorter queue, a higher measured speed, the smaller id. A converter that failed the
/// item is still picked when no other can take it.
pub fn pick_converter<'a>(
    item: &ItemState,
    candidates: &[Candidate<'a>],
    now: Millis,
) -> Option<&'a NodeId> {
    candidates
        .iter()
        .filter(|c| c.ad.takes(&item.offer))
        .filter(|c| !item.rejections.iter().any(|r| refusal_holds(r, c, now)))
        .filter(|c| {
            !item.released.as_ref().is_some_and(|(by, _, at)| {
                by == c.id && now < at.saturating_add(RELEASE_COOLDOWN_MS)
            })
        })
        .min_by(|a, b| {
            rank(item, a).cmp(&rank(item, b)).then_with(|| {
                b.rank_speed()
                    .total_cmp(&a.rank_speed())
                    .then_with(|| a.id.cmp(b.id))
            })
        })
        .map(|c| c.id)
}

/// Whether `r` still keeps the item from candidate `c`: it is `c`'s, within the cool-down, and
/// not a refusal for room that `c` may have again (fewer items occupy it than then).
fn refusal_holds(r: &Rejection, c: &Candidate<'_>, now: Millis) -> bool {
    let room_again = r
        .until_fewer
        .is_some_and(|n| c.load < usize::try_from(n).unwrap_or(usize::MAX));
    &r.server_id == c.id && now < r.at.saturating_add(REJECT_COOLDOWN_MS) && !room_again
}

/// The integer part of a candidate's rank (smaller is better): failed this item (or lost its
/// result) before, then fewer free slots, then a longer queue.
fn rank(item: &ItemState, c: &Candidate<'_>) -> (bool, std::cmp::Reverse<usize>, usize) {
    let failed_here = item
        .failures
        .iter()
        .chain(&item.lost_results)
        .any(|f| &f.converter == c.id);
    (failed_here, std::cmp::Reverse(c.free_slots()), c.queued())
}

/// Whether an item occupies its converter (counts towards its load).
pub fn occupies_converter(item: &ItemState) -> bool {
    matches!(
        item.phase,
        Phase::Assigned | Phase::Accepted | Phase::Transferring | Phase::Converting
    )
}

/// Why a converter refuses for lack of disk, if it must: it needs `need` bytes and has `have`.
/// The text is the reason in its `Reject` record.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ItemId;
    use crate::item::FailedAttempt;
    use crate::media::MediaType;
    use crate::record::{FileInfo, Offer, Record, RecordBody};

    fn item() -> ItemState {
        let offer = Offer {
            item_id: ItemId::from_random([9; 16]),
            nonce: [0; 16],
            file: FileInfo {
                file_name: "a.mp4".into(),
                file_size: 1,
                sha512: format!("{:0128x}", 1),
                blake3: format!("{:064x}", 1),
                chunk_size: 1 << 20,
                manifest_hash: format!("{:064x}", 2),
            },
            media_type: MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: None,
            priority: 0,
            sha512_follows: false,
            part_of: None,
        };
        let r = Record {
            author: NodeId::new("Origin"),
            seq: 1,
            created_at: 1,
            body: RecordBody::Offer(offer),
            sig: Default::default(),
        };
        ItemState::fold([&r]).expect("an item")
    }

    fn ad(workers: u32) -> ConverterAd {
        ConverterAd {
            media_types: vec![MediaType::Video],
            profiles: vec!["mkv-x264".into()],
            workers,
            segments: false,
        }
    }

    fn pick(item: &ItemState, cands: &[(&NodeId, &ConverterAd, usize, Option<f32>)]) -> String {
        let cs: Vec<Candidate> = cands
            .iter()
            .map(|(id, ad, load, speed)| Candidate {
                id,
                ad,
                load: *load,
                speed: *speed,
            })
            .collect();
        pick_converter(item, &cs, 10).expect("a pick").to_string()
    }

    #[test]
    fn a_segment_goes_only_to_converters_that_encode_segments() {
        let (a, b) = (NodeId::new("A"), NodeId::new("B"));
        let old = ad(4);
        let new = ConverterAd {
            segments: true,
            ..ad(1)
        };
        let mut i = item();
        // A whole item: the idle older converter with more free slots wins.
        assert_eq!(pick(&i, &[(&a, &old, 0, None), (&b, &new, 1, None)]), "A");
        i.offer.part_of = Some(crate::record::PartOf {
            item_id: ItemId::from_random([8; 16]),
            epoch: 1,
            index: 0,
            count: 2,
            frames: 50,
        });
        assert_eq!(pick(&i, &[(&a, &old, 0, None), (&b, &new, 1, None)]), "B");
        let cs = [Candidate {
            id: &a,
            ad: &old,
            load: 0,
            speed: None,
        }];
        assert_eq!(
            pick_converter(&i, &cs, 10),
            None,
            "no converter of segments"
        );
    }

    #[test]
    fn more_free_slots_win_over_a_lower_load() {
        let (a, b) = (NodeId::new("A"), NodeId::new("B"));
        let (one, four) = (ad(1), ad(4));
        // A: idle, 1 slot free. B: 2 busy of 4, 2 free.
        let i = item();
        assert_eq!(pick(&i, &[(&a, &one, 0, None), (&b, &four, 2, None)]), "B");
    }

    #[test]
    fn with_no_free_slot_the_shorter_queue_wins() {
        let (a, b) = (NodeId::new("A"), NodeId::new("B"));
        let (one, two) = (ad(1), ad(2));
        // A: 3 queued behind 1 worker. B: 1 queued behind 2.
        let i = item();
        assert_eq!(pick(&i, &[(&a, &one, 4, None), (&b, &two, 3, None)]), "B");
    }

    #[test]
    fn measured_speed_breaks_ties_and_unknown_counts_as_realtime() {
        let (a, b, c) = (NodeId::new("A"), NodeId::new("B"), NodeId::new("C"));
        let w = ad(1);
        let i = item();
        assert_eq!(
            pick(&i, &[(&a, &w, 0, Some(1.2)), (&b, &w, 0, Some(3.5))]),
            "B"
        );
        assert_eq!(pick(&i, &[(&a, &w, 0, Some(0.5)), (&c, &w, 0, None)]), "C");
        assert_eq!(pick(&i, &[(&a, &w, 0, None), (&b, &w, 0, None)]), "A");
        // Speed never beats a free slot.
        assert_eq!(
            pick(&i, &[(&a, &w, 1, Some(9.0)), (&b, &w, 0, Some(0.1))]),
            "B"
        );
    }

    #[test]
    fn a_converter_that_failed_the_item_comes_last_but_is_still_used() {
        let (a, b) = (NodeId::new("A"), NodeId::new("B"));
        let w = ad(4);
        let mut i = item();
        i.failures.push(FailedAttempt {
            epoch: 1,
            converter: a.clone(),
            error: "boom".into(),
            certain: false,
            at: 5,
        });
        assert_eq!(pick(&i, &[(&a, &w, 0, Some(5.0)), (&b, &w, 3, None)]), "B");
        assert_eq!(pick(&i, &[(&a, &w, 0, None)]), "A");
    }
}
