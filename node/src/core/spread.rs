//! The coordinator's side of a long video encoded by the farm: its job cuts the source
//! (`ffmpeg::convert_in_segments`) and asks here ([`Internal::Spread`]) that the cuts without
//! a kept result be encoded. Each becomes a *sub-item*: an offer of which this node is the
//! origin, with [`PartOf`] naming the segment, leased to converters (this one included) by
//! the rules of every item. Each result is delivered into the segment store (`deliver.rs`),
//! and the job is answered once every segment is there, or once one failed for good.
//! Sub-items of a job that is no longer this node's are withdrawn (`cancel_orphans`); a
//! converter gives back the segments it holds of an item that went on without them
//! (`release_orphaned_segments`).

use std::path::PathBuf;

use dmc_protocol::engine::Event;
use dmc_protocol::record::CHUNK_SIZE;
use dmc_protocol::schedule::occupies_converter;
use dmc_protocol::wire::FileRole;
use dmc_protocol::{
    Epoch, ItemId, ItemState, MediaType, NodeId, Offer, PartOf, Phase, RecordBody, Stage,
};
use tokio::sync::{oneshot, watch};
use tracing::info;

use super::msg::Internal;
use super::task::Core;
use crate::ffmpeg::{SpreadAsk, SpreadCut, SpreadDone};
use crate::store::LocalFile;
use crate::transfer;

/// A job waiting for its segments.
pub(crate) struct Spread {
    /// The segments asked for: each one's sub-item, frames and target.
    subs: Vec<Sub>,
    progress: watch::Sender<SpreadDone>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

struct Sub {
    item_id: ItemId,
    frames: u64,
    target: PathBuf,
}

/// Where a delivered segment goes, and the frames it must hold.
pub(crate) struct SegmentTarget {
    pub(crate) path: PathBuf,
    pub(crate) frames: u64,
}

impl Core {
    /// A job asks for its cuts to be encoded: offers the sub-items not offered before (the
    /// ids are the segment's, so a restarted job finds those of its run before).
    pub(super) fn on_spread(&mut self, item_id: ItemId, epoch: Epoch, ask: SpreadAsk) {
        let me = self.engine.me().clone();
        let Some(parent) = self.engine.item(&item_id) else {
            return;
        };
        // Segments wait in converters' queues with their item's priority.
        let (profile, priority) = (parent.offer.profile.clone(), parent.priority);
        let mut subs = Vec::with_capacity(ask.cuts.len());
        let mut new = Vec::new();
        let mut gone = None;
        for cut in ask.cuts {
            let part = PartOf {
                item_id,
                epoch,
                index: cut.index,
                count: ask.count,
                frames: cut.frames,
            };
            let nonce = part.nonce(&me);
            let sub_id = ItemId::for_origin(&me, &nonce);
            subs.push(Sub {
                item_id: sub_id,
                frames: cut.frames,
                target: cut.target.clone(),
            });
            if self.engine.replica().is_ended(&sub_id) {
                // It ended in a run before, yet its segment is not kept: this attempt
                // cannot have it again (an item ends once).
                gone.get_or_insert(cut.index);
            } else if self.engine.item(&sub_id).is_none() {
                new.push((part, nonce, cut));
            }
        }
        if let Some(index) = gone {
            let why = format!(
                "segment {index} of attempt {epoch} ended without a kept result; the item is \
                 converted again"
            );
            let _ = ask.done.send(Err(why));
            return;
        }
        info!(
            item = %item_id,
            segments = subs.len(),
            new = new.len(),
            "giving segments to the farm"
        );
        self.spreads.insert(
            (item_id, epoch),
            Spread {
                subs,
                progress: ask.progress,
                done: Some(ask.done),
            },
        );
        if !new.is_empty() {
            let internal = self.internal.clone();
            tokio::spawn(async move {
                let offers = hash_cuts(&me, new, &profile, priority).await;
                let _ = internal
                    .send(Internal::SpreadHashed {
                        item_id,
                        epoch,
                        offers,
                    })
                    .await;
            });
        }
    }

    /// The cuts are hashed: offers them, unless the job stopped waiting meanwhile.
    pub(super) async fn on_spread_hashed(
        &mut self,
        item_id: ItemId,
        epoch: Epoch,
        offers: Result<Vec<(Offer, LocalFile)>, String>,
    ) {
        if !self.spreads.contains_key(&(item_id, epoch)) {
            return;
        }
        let offers = match offers {
            Ok(o) => o,
            Err(e) => return self.answer_spread((item_id, epoch), Err(e)),
        };
        for (offer, local) in offers {
            if self.engine.item(&offer.item_id).is_some() {
                continue;
            }
            if let Err(e) = self.store.put_local_file(local.clone()).await {
                let why = format!("cannot store a segment's offer: {e}");
                return self.answer_spread((item_id, epoch), Err(why));
            }
            self.add_local_file(local);
            self.feed(Event::Local(RecordBody::Offer(offer))).await;
        }
    }

    /// Answers each waiting job whose segments are all delivered (or one failed for good),
    /// and tells the others how far their segments are.
    pub(super) fn check_spreads(&mut self) {
        let keys: Vec<(ItemId, Epoch)> = self.spreads.keys().copied().collect();
        for key in keys {
            let Some(spread) = self.spreads.get(&key) else {
                continue;
            };
            match self.spread_state(spread) {
                SpreadState::Done => self.answer_spread(key, Ok(())),
                SpreadState::Failed(why) => self.answer_spread(key, Err(why)),
                SpreadState::Running(done) => {
                    spread.progress.send_if_modified(|d| {
                        let changed = *d != done;
                        *d = done;
                        changed
                    });
                }
            }
        }
    }

    fn spread_state(&self, spread: &Spread) -> SpreadState {
        let mut done = SpreadDone::default();
        let mut all = true;
        for sub in &spread.subs {
            let Some(item) = self.engine.item(&sub.item_id) else {
                if self.engine.replica().is_ended(&sub.item_id) {
                    // Ended and out of memory: delivered, as far as this side can tell; the
                    // job checks each segment's file and frames before it joins them.
                    done.frames += sub.frames;
                    done.segments += 1;
                } else {
                    all = false;
                }
                continue;
            };
            match item.phase {
                Phase::Delivered => {
                    done.frames += sub.frames;
                    done.segments += 1;
                }
                Phase::Failed | Phase::Cancelled => {
                    return SpreadState::Failed(sub_failure(item));
                }
                _ => {
                    all = false;
                    // Its converter's newest report, while it encodes.
                    let f = self
                        .engine
                        .report(&sub.item_id)
                        .filter(|r| r.progress.stage == Stage::Converting)
                        .map_or(0.0, |r| r.progress.fraction)
                        .clamp(0.0, 1.0);
                    done.frames += (sub.frames as f64 * f64::from(f)) as u64;
                }
            }
        }
        match all {
            true => SpreadState::Done,
            false => SpreadState::Running(done),
        }
    }

    fn answer_spread(&mut self, key: (ItemId, Epoch), answer: Result<(), String>) {
        if let Some(mut spread) = self.spreads.remove(&key) {
            if let Some(done) = spread.done.take() {
                let _ = done.send(answer);
            }
        }
    }

    /// Jobs waiting for their segments: they hold no worker while they wait.
    pub(super) fn jobs_waiting_for_segments(&self) -> usize {
        self.spreads.len()
    }

    /// Where the result of sub-item `item` goes, while its job waits for it.
    pub(super) fn segment_target(&self, item: &ItemState) -> Option<SegmentTarget> {
        let part = item.offer.part_of.as_ref()?;
        let spread = self.spreads.get(&(part.item_id, part.epoch))?;
        let sub = spread.subs.iter().find(|s| s.item_id == item.item_id())?;
        Some(SegmentTarget {
            path: sub.target.clone(),
            frames: sub.frames,
        })
    }

    /// Withdraws this node's open sub-items whose job is no longer this node's to run (its
    /// item ended, or went to another attempt): no converter works on them for nothing.
    pub(super) async fn cancel_orphans(&mut self) {
        let me = self.engine.me().clone();
        let orphans: Vec<ItemId> = self
            .engine
            .replica()
            .open_items()
            .filter(|i| i.origin == me)
            .filter(|i| {
                i.offer.part_of.as_ref().is_some_and(|p| {
                    !self.engine.job_wanted(&p.item_id, p.epoch)
                        && !self.jobs.contains_key(&(p.item_id, p.epoch))
                })
            })
            .map(|i| i.item_id())
            .collect();
        for item_id in orphans {
            info!(item = %item_id, "withdrawing a segment whose item is no longer converted here");
            self.feed(Event::Local(RecordBody::Cancel { item_id }))
                .await;
        }
    }

    /// Gives back the segments this converter holds for another coordinator whose item went
    /// on without them (`Engine::segment_orphaned`: it ended, or went to a later attempt after
    /// its coordinator vanished for a lease): their jobs stop, and the worker is free for other
    /// work, such as that item's new attempt. Their origin withdraws them once back.
    pub(super) async fn release_orphaned_segments(&mut self) {
        let me = self.engine.me().clone();
        let orphaned: Vec<(ItemId, Epoch)> = self
            .engine
            .replica()
            .open_items()
            .filter(|i| i.origin != me && i.converter() == Some(&me) && occupies_converter(i))
            .filter(|i| self.engine.segment_orphaned(i))
            .filter_map(|i| Some((i.item_id(), i.epoch()?)))
            .collect();
        for (item_id, epoch) in orphaned {
            info!(item = %item_id, "giving back a segment whose item went on without it");
            self.feed(Event::Local(RecordBody::Release {
                item_id,
                epoch,
                reason: ORPHANED_SEGMENT.into(),
            }))
            .await;
        }
    }
}

/// The reason in the `release` of a segment whose item went on without it.
const ORPHANED_SEGMENT: &str =
    "the item this segment belongs to ended or went to another converter";

enum SpreadState {
    Done,
    Failed(String),
    Running(SpreadDone),
}

/// Why a sub-item ended without its result, for the coordinator's failure.
fn sub_failure(item: &ItemState) -> String {
    let index = item.offer.part_of.as_ref().map_or(0, |p| p.index);
    if item.phase == Phase::Cancelled {
        return format!("segment {index} was withdrawn");
    }
    let why = item
        .origin_error
        .clone()
        .or_else(|| item.failures.last().map(|f| f.error.clone()))
        .unwrap_or_else(|| "no reason given".into());
    format!("segment {index} failed: {why}")
}

/// Hashes each new cut and makes its offer (item id bound to this node by its nonce) and the
/// source file this node serves.
async fn hash_cuts(
    me: &NodeId,
    new: Vec<(PartOf, [u8; 16], SpreadCut)>,
    profile: &str,
    priority: i32,
) -> Result<Vec<(Offer, LocalFile)>, String> {
    let mut out = Vec::with_capacity(new.len());
    for (part, nonce, cut) in new {
        let path = cut.path.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            transfer::hash::hash_file(&path, CHUNK_SIZE, |_| {})
        })
        .await
        .map_err(|e| format!("hashing task failed: {e}"))?
        .map_err(|e| format!("cannot hash segment {}: {e}", cut.path.display()))?;
        let name = cut
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("segment-{}", part.index));
        let offer = Offer {
            item_id: ItemId::for_origin(me, &nonce),
            nonce,
            file: hashed.file_info(name),
            media_type: MediaType::Video,
            profile: profile.to_string(),
            duration_ms: cut.duration_ms,
            priority,
            sha512_follows: false,
            part_of: Some(part),
        };
        let local = LocalFile::of_hashed(offer.item_id, FileRole::Source, 0, cut.path, hashed);
        out.push((offer, local));
    }
    Ok(out)
}
