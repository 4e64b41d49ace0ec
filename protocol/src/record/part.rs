//! A segment of a long video as an item of its own: the converter coordinating the video
//! (the one its origin assigned it to) offers each cut segment as a *sub-item*, of which it is
//! the origin, and leases it to converters (itself included) by the rules of every item.

use serde::{Deserialize, Serialize};

use super::{InvalidRecord, MAX_SEGMENTS};
use crate::ids::{Epoch, ItemId, NodeId};

/// Most frames one segment may hold (a segment of 10 hours at 240 fps is fewer).
pub const MAX_SEGMENT_FRAMES: u64 = 1 << 24;

/// What makes an offer a segment of another item: encode the video of this file with the
/// profile, keeping every frame's time, and check it holds exactly `frames` frames. The
/// result goes into the coordinator's segment store, never into an output folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartOf {
    /// The item the segment belongs to (its origin is another node).
    pub item_id: ItemId,
    /// The attempt of that item the coordinator runs.
    pub epoch: Epoch,
    /// Which segment, from 0.
    pub index: u32,
    /// How many segments the item was cut into.
    pub count: u32,
    /// The video frames of the segment.
    pub frames: u64,
}

impl PartOf {
    /// Checks the bounds: `index < count <= MAX_SEGMENTS`, 1 to [`MAX_SEGMENT_FRAMES`] frames.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        if !(1..=MAX_SEGMENTS).contains(&self.count) || self.index >= self.count {
            return Err(InvalidRecord::Field {
                field: "part_of",
                why: format!(
                    "segment {} of {}: the index must be below the count, the count 1 to \
                     {MAX_SEGMENTS}",
                    self.index, self.count
                ),
            });
        }
        if !(1..=MAX_SEGMENT_FRAMES).contains(&self.frames) {
            return Err(InvalidRecord::Field {
                field: "part_of",
                why: format!("{} frames: must be 1 to {MAX_SEGMENT_FRAMES}", self.frames),
            });
        }
        Ok(())
    }

    /// The nonce of this segment's sub-item when `coordinator` offers it: the same segment of
    /// the same attempt always gets the same item id, so a restarted coordinator finds the
    /// sub-items it offered before instead of offering them again.
    pub fn nonce(&self, coordinator: &NodeId) -> [u8; 16] {
        let mut h = blake3::Hasher::new();
        h.update(b"dmc segment sub-item\0");
        h.update(coordinator.0.as_bytes());
        h.update(&[0]);
        h.update(self.item_id.0.as_bytes());
        h.update(&self.epoch.to_be_bytes());
        h.update(&self.index.to_be_bytes());
        h.update(&self.count.to_be_bytes());
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&h.finalize().as_bytes()[..16]);
        nonce
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(index: u32, count: u32, frames: u64) -> PartOf {
        PartOf {
            item_id: ItemId::for_origin(&NodeId("a".into()), &[1; 16]),
            epoch: 1,
            index,
            count,
            frames,
        }
    }

    #[test]
    fn bounds_are_checked() {
        assert!(part(0, 1, 1).validate().is_ok());
        assert!(part(9, 10, 250).validate().is_ok());
        assert!(part(1, 1, 1).validate().is_err());
        assert!(part(0, 0, 1).validate().is_err());
        assert!(part(0, MAX_SEGMENTS + 1, 1).validate().is_err());
        assert!(part(0, 2, 0).validate().is_err());
        assert!(part(0, 2, MAX_SEGMENT_FRAMES + 1).validate().is_err());
    }

    #[test]
    fn the_nonce_names_the_segment_of_the_attempt() {
        let me = NodeId("c".into());
        assert_eq!(part(0, 2, 5).nonce(&me), part(0, 2, 9).nonce(&me));
        assert_ne!(part(0, 2, 5).nonce(&me), part(1, 2, 5).nonce(&me));
        assert_ne!(
            part(0, 2, 5).nonce(&me),
            part(0, 2, 5).nonce(&NodeId("d".into()))
        );
        let mut later = part(0, 2, 5);
        later.epoch = 2;
        assert_ne!(part(0, 2, 5).nonce(&me), later.nonce(&me));
    }
}
