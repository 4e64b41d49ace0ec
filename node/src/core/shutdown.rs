//! Graceful shutdown of the core (SIGTERM, SIGINT): take no new work, stop running jobs,
//! remove their partial files, give every held item back to its origin and flush the store.

use std::time::Duration;

use dmc_protocol::engine::Event;
use dmc_protocol::schedule::occupies_converter;
use dmc_protocol::{Epoch, ItemId, RecordBody};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::msg::{Internal, JobOutcome};
use super::task::Core;

/// Longest wait for running jobs to kill ffmpeg and remove their partial outputs.
const JOB_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the release records to reach connected peers.
const PUSH_TIMEOUT: Duration = Duration::from_millis(500);
/// Why a converter gives its items back when it stops.
pub(crate) const SHUTDOWN_REASON: &str = "converter shutting down";

impl Core {
    /// Stops the node's work in order; the node then exits.
    pub(crate) async fn shut_down(&mut self, internal: &mut mpsc::Receiver<Internal>) {
        self.stopping = true;
        let running = self.jobs.len();
        info!("stopping: taking no new work, cancelling {running} running job(s)");
        for job in self.jobs.values() {
            job.cancel();
        }
        let deadline = tokio::time::Instant::now() + JOB_STOP_TIMEOUT;
        while !self.jobs.is_empty() {
            match tokio::time::timeout_at(deadline, internal.recv()).await {
                Ok(Some(Internal::JobDone {
                    item_id,
                    epoch,
                    outcome,
                })) => {
                    if matches!(outcome, JobOutcome::Converted(..)) {
                        // Finished just in time: keep and report the result.
                        self.on_job_done(item_id, epoch, outcome).await;
                    } else {
                        self.jobs.remove(&(item_id, epoch));
                        let _ = self.store.job_ended(item_id, epoch).await;
                    }
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        if !self.jobs.is_empty() {
            warn!(
                "{} job(s) did not stop within {} s",
                self.jobs.len(),
                JOB_STOP_TIMEOUT.as_secs()
            );
        }

        // Every item this converter holds goes back to its origin, to be converted after our
        // restart or by another converter.
        let me = self.engine.me().clone();
        let held: Vec<(ItemId, Epoch)> = self
            .engine
            .replica()
            .open_items()
            .filter(|i| i.converter() == Some(&me) && occupies_converter(i))
            .filter_map(|i| Some((i.item_id(), i.epoch()?)))
            .collect();
        for (item_id, epoch) in &held {
            self.remove_job_dir(*item_id, *epoch);
            self.feed(Event::Local(RecordBody::Release {
                item_id: *item_id,
                epoch: *epoch,
                reason: SHUTDOWN_REASON.into(),
            }))
            .await;
            info!(item = %item_id, epoch, "gave the item back to its origin: {SHUTDOWN_REASON}");
        }
        // The segments of items given back are no one's to encode now.
        self.cancel_orphans().await;
        // Let the release records reach the peers that are connected.
        let sends = std::mem::take(&mut self.pending_sends);
        if !sends.is_empty() {
            let all = futures::future::join_all(sends);
            if tokio::time::timeout(PUSH_TIMEOUT, all).await.is_err() {
                info!(
                    "not every peer acknowledged the release in time; they learn it on reconnect"
                );
            }
        }
        self.save_speeds().await;
        if let Err(e) = self.store.close().await {
            warn!("closing the store: {e}");
        }
        info!(
            "stopped: {running} job(s) cancelled, {} item(s) given back",
            held.len()
        );
    }

    /// Removes the work folder of a job this node no longer runs (partial source or output).
    fn remove_job_dir(&self, item_id: ItemId, epoch: Epoch) {
        let dir = super::layout::job_dir(&self.config.converter.work_dir, item_id, epoch);
        if self.jobs.contains_key(&(item_id, epoch)) || !dir.exists() {
            return;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => info!(item = %item_id, "removed partial work in {}", dir.display()),
            Err(e) => warn!("cannot remove {}: {e}", dir.display()),
        }
    }
}
