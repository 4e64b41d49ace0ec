//! Starting and ending the node's work: evaluating assigned items, starting jobs and
//! deliveries, and what each tick tidies up (reservations, kept results, job folders).

use dmc_protocol::schedule::occupies_converter;
use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, ItemId, ItemState, MediaType, NodeId};
use tracing::{debug, info, warn};

use super::deliver::Delivery;
use super::evaluate;
use super::job::Job;
use super::layout::job_dir;
use super::msg::{Internal, JobOutcome, Refusal};
use super::now_ms;
use super::reserve;
use super::task::Core;

impl Core {
    /// Ends the reservations of items this converter no longer evaluates, runs or wants to run.
    pub(super) fn release_unneeded_reservations(&mut self) {
        let stale: Vec<(ItemId, Epoch)> = self
            .reservations
            .keys()
            .filter(|k| {
                !self.jobs.contains_key(k)
                    && !self.evaluating.contains(k)
                    && !self.engine.job_wanted(&k.0, k.1)
            })
            .copied()
            .collect();
        for key in stale {
            if let Some(bytes) = self.reservations.release(&key) {
                debug!(item = %key.0, "released {bytes} reserved bytes");
            }
        }
    }

    /// Removes job folders in the work dir that no job, and no kept result, needs (see
    /// [`super::cleanup::job_dir_needed`]), and the segment stores of items that ended.
    pub(super) fn sweep_work_dir(&self) {
        super::cleanup::sweep_work_dir(&self.config.converter.work_dir, |item, epoch| {
            let held = self.jobs.contains_key(&(*item, epoch))
                || self.files.contains_key(&(*item, FileRole::Result, epoch));
            super::cleanup::job_dir_needed(&self.engine, item, epoch, held)
        });
        super::cleanup::sweep_segment_stores(&self.config.converter.work_dir, |item| {
            self.engine.item(item).is_some_and(|i| !i.phase.is_final())
        });
    }

    /// Deletes results this converter kept once the origin has them (or nobody wants them).
    pub(super) async fn drop_unneeded_results(&mut self) {
        let done: Vec<(ItemId, FileRole, Epoch)> = self
            .files
            .keys()
            .filter(|(item, role, epoch)| {
                *role == FileRole::Result
                    && self.engine.result_unneeded(item, *epoch)
                    && !self.jobs.contains_key(&(*item, *epoch))
            })
            .copied()
            .collect();
        for key in done {
            if let Some(f) = self.files.remove(&key) {
                info!(item = %key.0, "no one will fetch the result (any more): removing {}", f.path.display());
                let _ = std::fs::remove_file(&f.path);
                if let Some(dir) = f.path.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
                if let Err(e) = self.store.delete_local_file(key.0, key.1, key.2).await {
                    warn!("cannot forget result file: {e}");
                }
            }
        }
    }

    pub(super) fn retry_due(&self, key: &(ItemId, Epoch)) -> bool {
        self.retry_at.get(key).is_none_or(|t| now_ms() >= *t)
    }

    /// Bytes the job of `item` needs in the work dir (see [`reserve::need`]), with its
    /// segment store when the offer says it is a video long enough to be split.
    fn disk_need(&self, item: &ItemState) -> u64 {
        let segmented = item.offer.media_type == MediaType::Video
            && item.offer.part_of.is_none()
            && self
                .config
                .converter
                .split
                .segment_for(item.offer.duration_ms)
                .is_some();
        reserve::need(
            item.offer.file.file_size,
            item.origin == *self.engine.me(),
            segmented,
        )
    }

    /// How many items other than `item_id` occupy this converter (assigned, queued or
    /// running), counted as origins count a converter's load.
    fn occupied_by_others(&self, item_id: &ItemId) -> u32 {
        let me = self.engine.me();
        let n = self
            .engine
            .replica()
            .open_items()
            .filter(|i| i.item_id() != *item_id && i.converter() == Some(me))
            .filter(|i| occupies_converter(i))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Decides off the core task whether to take an assigned item; the answer arrives as
    /// `Evaluated`.
    pub(super) fn evaluate(&mut self, item_id: ItemId, epoch: Epoch) {
        if self.stopping || !self.evaluating.insert((item_id, epoch)) {
            return;
        }
        let Some(item) = self.engine.item(&item_id) else {
            return;
        };
        let key = (item_id, epoch);
        let need = self.disk_need(item);
        let unsupported = evaluate::unsupported(
            self.engine.config().converter.as_ref(),
            &self.runnable_profiles,
            &self.config.converter,
            item,
        );
        let work_dir = self.config.converter.work_dir.clone();
        let margin = self.config.converter.reserve_bytes;
        // Whether it fits beside the running jobs: queued jobs hold no room, so items
        // evaluated at the same time may all be accepted, and start as room allows.
        let room = evaluate::disk_refusal(work_dir, &self.reservations, &key, need, margin);
        let occupied = self.occupied_by_others(&item_id);
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let refusal = match unsupported {
                Some(reason) => Some(Refusal {
                    reason,
                    until_fewer: None,
                }),
                None => room.await.map(|reason| Refusal {
                    reason,
                    // Room may come back when one of the items here ends.
                    until_fewer: (occupied > 0).then_some(occupied),
                }),
            };
            let _ = internal
                .send(Internal::Evaluated {
                    item_id,
                    epoch,
                    refusal,
                })
                .await;
        });
    }

    /// Starts the job of an accepted item, when a worker is free and no retry is pending.
    pub(super) fn start_job(&mut self, item_id: ItemId, epoch: Epoch, origin: NodeId) {
        let key = (item_id, epoch);
        if self.stopping || self.jobs.contains_key(&key) || !self.retry_due(&key) {
            return;
        }
        // A job waiting for the segments it gave to the farm holds no worker.
        let busy = self.jobs.len() - self.jobs_waiting_for_segments().min(self.jobs.len());
        if busy >= self.config.converter.workers as usize {
            return;
        }
        let Some(item) = self.engine.item(&item_id).cloned() else {
            return;
        };
        if !self.reserve_room(key, &item) {
            return;
        }
        let cancel = crate::ffmpeg::CancelToken::new();
        let job = Job {
            env: self.job_env.clone(),
            dir: job_dir(&self.config.converter.work_dir, item_id, epoch),
            local_source: self.files.get(&(item_id, FileRole::Source, 0)).cloned(),
            profile: self.config.converter.profile(&item.offer.profile),
            item,
            epoch,
            origin,
            cancel: cancel.clone(),
        };
        self.jobs.insert(key, cancel);
        self.awake.update(self.jobs.len());
        info!(item = %item_id, epoch, "starting job");
        tokio::spawn(job.run());
    }

    /// Reserves the room of a job about to start (fetch its source); whether it may start.
    /// When the room is not there it waits for a running job to end, or, with none running
    /// (nothing here will free room), fails the attempt so another converter can take it.
    fn reserve_room(&mut self, key: (ItemId, Epoch), item: &ItemState) -> bool {
        let need = self.disk_need(item);
        let (work_dir, margin) = (
            &self.config.converter.work_dir,
            self.config.converter.reserve_bytes,
        );
        let Some(reason) = evaluate::room_now(work_dir, &self.reservations, &key, need, margin)
        else {
            self.reservations.reserve(key, need);
            return true;
        };
        if !self.jobs.is_empty() {
            debug!(item = %key.0, "waiting for room to start: {reason}");
            return false;
        }
        warn!(item = %key.0, "cannot start: {reason}");
        // Held as a job until its failure is recorded, so it is not failed twice.
        self.jobs.insert(key, crate::ffmpeg::CancelToken::new());
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let outcome = JobOutcome::Failed(reason);
            let (item_id, epoch) = key;
            let done = Internal::JobDone {
                item_id,
                epoch,
                outcome,
            };
            let _ = internal.send(done).await;
        });
        false
    }

    /// Starts fetching a converted item's result into the output dir.
    pub(super) fn start_delivery(&mut self, item_id: ItemId, epoch: Epoch, converter: NodeId) {
        let key = (item_id, epoch);
        if self.stopping || self.delivering.contains_key(&item_id) || !self.retry_due(&key) {
            return;
        }
        let Some(item) = self.engine.item(&item_id) else {
            return;
        };
        let Some(result) = item.result.clone() else {
            return;
        };
        // A segment is delivered into its job's segment store, while the job waits for it.
        let segment = match item.offer.part_of {
            Some(_) => match self.segment_target(item) {
                Some(t) => Some(t),
                None => return,
            },
            None => None,
        };
        let offer = &item.offer;
        let (profile, profile_name) = (
            self.config.converter.profile(&offer.profile),
            offer.profile.clone(),
        );
        let source_duration_ms = offer.duration_ms;
        let source_size = offer.file.file_size;
        let delivery = Delivery {
            env: self.deliver_env.clone(),
            item_id,
            epoch,
            converter,
            result,
            local_result: self
                .files
                .get(&(item_id, FileRole::Result, epoch))
                .map(|f| f.path.clone()),
            profile,
            profile_name,
            source_duration_ms,
            source_size,
            segment,
        };
        self.delivering.insert(item_id, 0.0);
        tokio::spawn(delivery.run());
    }
}
