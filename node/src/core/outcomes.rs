//! What the core does with the reports of the tasks it spawned (see [`super::msg`]): sync
//! pages, offers prepared, evaluations, job progress and outcomes, deliveries, sources that
//! changed. Each becomes engine events, store writes or a retry later.

use dmc_protocol::engine::Event;
use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, ItemId, Millis, NodeId, Record, RecordBody, Seq, Summary};
use tracing::{info, warn};

use super::msg::{Internal, JobOutcome, Refusal};
use super::now_ms;
use super::task::Core;

/// After a delivery or a job failed for a passing reason, wait this long before trying again.
const RETRY_AFTER_MS: Millis = 5_000;

impl Core {
    /// A peer's summary page answering our digest, without the authors `allowed_peers`
    /// leaves out.
    async fn peer_summary(&mut self, from: NodeId, summary: Summary, next: Option<NodeId>) {
        let summary = self.peer_book.authors.filter_summary(summary, now_ms());
        self.feed(Event::PeerSummary {
            from,
            summary,
            next,
        })
        .await
    }

    pub(crate) async fn internal(&mut self, msg: Internal) {
        match msg {
            Internal::SyncPage {
                from,
                records,
                more,
                complete,
            } => self.on_sync_page(from, records, more, complete).await,
            Internal::EndedAnswer { from, items } => {
                self.feed(Event::EndedAnswer { from, items }).await
            }
            Internal::PeerSummary {
                from,
                summary,
                next,
            } => self.peer_summary(from, summary, next).await,
            Internal::OfferPrepared {
                prepared,
                again,
                reply,
            } => {
                let result = self.finish_offer(*prepared, again).await;
                let _ = reply.send(result);
            }
            Internal::Evaluated {
                item_id,
                epoch,
                refusal,
            } => self.on_evaluated(item_id, epoch, refusal).await,
            Internal::JobProgress {
                item_id,
                epoch,
                progress,
            } => {
                // Becomes an ephemeral report sent to connected peers, never a record.
                self.feed(Event::Local(RecordBody::Progress {
                    item_id,
                    epoch,
                    progress,
                }))
                .await
            }
            Internal::JobPid {
                item_id,
                epoch,
                pid,
            } => self.on_job_pid(item_id, epoch, pid).await,
            Internal::JobDone {
                item_id,
                epoch,
                outcome,
            } => self.on_job_done(item_id, epoch, outcome).await,
            Internal::DeliverProgress { item_id, fraction } => {
                self.delivering.insert(item_id, fraction);
                self.announce(super::changes::Change::Item(item_id));
            }
            Internal::DeliverDone {
                item_id,
                epoch,
                outcome,
            } => self.on_delivery_done(item_id, epoch, outcome).await,
            Internal::ChecksumRead { item_id, read } => self.on_checksum_read(item_id, read).await,
            Internal::Spread {
                item_id,
                epoch,
                ask,
            } => self.on_spread(item_id, epoch, ask),
            Internal::SpreadHashed {
                item_id,
                epoch,
                offers,
            } => self.on_spread_hashed(item_id, epoch, offers).await,
            Internal::SourceChanged { item_id, error } => {
                warn!(item = %item_id, "source changed: {error}");
                self.feed(Event::Local(RecordBody::Failed {
                    item_id,
                    epoch: None,
                    error,
                    certain: false,
                }))
                .await;
            }
        }
    }

    /// A page of records answering our `Sync`, with its `complete` marks.
    async fn on_sync_page(
        &mut self,
        from: NodeId,
        records: Vec<Record>,
        more: bool,
        complete: Vec<(NodeId, Seq)>,
    ) {
        let records = self.peer_book.authors.admit(&from, records, now_ms());
        self.feed(Event::Records {
            from,
            records,
            sync_more: Some(more),
            complete,
        })
        .await
    }

    async fn on_evaluated(&mut self, item_id: ItemId, epoch: Epoch, refusal: Option<Refusal>) {
        self.evaluating.remove(&(item_id, epoch));
        let local = match refusal {
            None => {
                info!(
                    item = %item_id,
                    "accepting item ({} of disk reserved for running jobs)",
                    dmc_protocol::schedule::human_bytes(self.reservations.total())
                );
                RecordBody::Accept { item_id, epoch }
            }
            Some(Refusal {
                reason,
                until_fewer,
            }) => {
                info!(item = %item_id, "rejecting item: {reason}");
                RecordBody::Reject {
                    item_id,
                    epoch,
                    reason,
                    until_fewer,
                }
            }
        };
        self.feed(Event::Local(local)).await;
    }

    /// Records a job's ffmpeg, so a restart can stop it if it outlives this run.
    async fn on_job_pid(&mut self, item_id: ItemId, epoch: Epoch, pid: u32) {
        let row = crate::store::JobRow {
            item_id,
            epoch,
            pid,
            proc_start: super::cleanup::proc_start_time(pid),
            started_at: now_ms(),
        };
        if let Err(e) = self.store.job_spawned(row).await {
            warn!("cannot record job: {e}");
        }
    }

    pub(super) async fn on_job_done(&mut self, item_id: ItemId, epoch: Epoch, outcome: JobOutcome) {
        self.jobs.remove(&(item_id, epoch));
        // A job that stopped waiting for its segments (cancelled, stopping) holds none.
        self.spreads.remove(&(item_id, epoch));
        let _ = self.store.job_ended(item_id, epoch).await;
        if !matches!(outcome, JobOutcome::Retry(_)) {
            self.reservations.release(&(item_id, epoch));
        }
        self.awake.update(self.jobs.len());
        match outcome {
            JobOutcome::Converted(output, local) => {
                let local = *local;
                if let Err(e) = self.store.put_local_file(local.clone()).await {
                    self.fatal = Some(super::handle::CoreFatal::ResultFile(e));
                    return;
                }
                self.add_local_file(local);
                info!(item = %item_id, "converted: {} ({} bytes)", output.file_name, output.file_size);
                self.feed(Event::Local(RecordBody::Converted {
                    item_id,
                    epoch,
                    output,
                }))
                .await;
            }
            JobOutcome::Failed(error) => self.on_job_failed(item_id, epoch, error, false).await,
            JobOutcome::Certain(error) => self.on_job_failed(item_id, epoch, error, true).await,
            JobOutcome::Retry(why) => {
                info!(item = %item_id, "job interrupted, will retry: {why}");
                self.retry_at
                    .insert((item_id, epoch), now_ms() + RETRY_AFTER_MS);
            }
            JobOutcome::Cancelled => self.sweep_work_dir(),
        }
    }

    /// Records a failed job; `certain`: the failure would repeat on any converter.
    async fn on_job_failed(&mut self, item_id: ItemId, epoch: Epoch, error: String, certain: bool) {
        warn!(item = %item_id, "conversion failed: {error}");
        self.sweep_work_dir();
        // Our own source changed: no converter can do better, fail for good instead of
        // retrying.
        let me = self.engine.me().clone();
        let own_source_changed = self.engine.item(&item_id).is_some_and(|i| i.origin == me)
            && self
                .files
                .get(&(item_id, FileRole::Source, 0))
                .is_some_and(|f| f.check_unchanged().is_err());
        if own_source_changed {
            self.feed(Event::Local(RecordBody::Failed {
                item_id,
                epoch: None,
                error,
                certain: false,
            }))
            .await;
            return;
        }
        self.feed(Event::Local(RecordBody::Failed {
            item_id,
            epoch: Some(epoch),
            error,
            certain,
        }))
        .await;
    }

    async fn on_delivery_done(
        &mut self,
        item_id: ItemId,
        epoch: Epoch,
        outcome: Result<(String, String), super::deliver::DeliverFailure>,
    ) {
        self.delivering.remove(&item_id);
        match outcome {
            Ok((output_path, sha512)) => {
                info!(item = %item_id, "delivered to {output_path}");
                let delivered = RecordBody::Delivered {
                    item_id,
                    epoch,
                    output_path,
                    sha512,
                };
                if !self.delivery_awaits_checksum(item_id, &delivered) {
                    self.feed(Event::Local(delivered)).await;
                }
            }
            Err(super::deliver::DeliverFailure::Refused(reason)) => {
                // A failed attempt of that epoch: the item is retried elsewhere.
                warn!(item = %item_id, epoch, "result refused, retrying elsewhere: {reason}");
                self.refuse_result(item_id, epoch, reason, false).await;
            }
            Err(super::deliver::DeliverFailure::Uncheckable(error)) => {
                warn!(item = %item_id, epoch, "{error}");
                self.feed(Event::Local(RecordBody::Failed {
                    item_id,
                    epoch: None,
                    error,
                    certain: false,
                }))
                .await;
            }
            Err(super::deliver::DeliverFailure::Lost(reason)) => {
                // Converted again, without counting an attempt.
                warn!(item = %item_id, epoch, "result lost: {reason}");
                self.refuse_result(item_id, epoch, reason, true).await;
            }
            Err(super::deliver::DeliverFailure::Retry(why)) => {
                info!(item = %item_id, "delivery interrupted, will retry: {why}");
                self.retry_at
                    .insert((item_id, epoch), now_ms() + RETRY_AFTER_MS);
            }
        }
    }

    /// Records that this origin will not deliver the result of `epoch` (see
    /// `RecordBody::ResultRefused`).
    async fn refuse_result(&mut self, item_id: ItemId, epoch: Epoch, reason: String, lost: bool) {
        // Peers refuse a record whose text is over the limit.
        let mut reason = reason;
        reason.truncate(reason.floor_char_boundary(dmc_protocol::record::MAX_TEXT));
        self.feed(Event::Local(RecordBody::ResultRefused {
            item_id,
            epoch,
            reason,
            lost,
        }))
        .await;
    }
}
