//! A job's source: checked in place when this node is the origin, else pulled from the origin
//! into the job folder, every chunk verified against the offer's manifest before it is
//! written.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dmc_protocol::wire::FileRole;
use dmc_protocol::Stage;
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::{disk_full_error, Job};
use crate::core::layout::{source_part_path, source_path};
use crate::core::msg::JobOutcome;
use crate::transfer::{self, PullError, PullStats};

/// How often the transfer's progress is reported.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

impl Job {
    /// For a source on this node (read in place, not fetched): fails the job if the file is no
    /// longer the one offered, as a fetch would.
    pub(super) async fn check_local_source(&self) -> Result<(), JobOutcome> {
        let Some(f) = self.local_source.clone() else {
            return Ok(());
        };
        match tokio::task::spawn_blocking(move || f.check_unchanged()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(m)) => Err(JobOutcome::Failed(format!(
                "source changed at its origin: {m}"
            ))),
            Err(e) => Err(JobOutcome::Retry(format!("checking the source: {e}"))),
        }
    }

    /// Pulls the source from the origin into the job folder, verified; returns its path.
    pub(super) async fn fetch_source(&self) -> Result<PathBuf, JobOutcome> {
        let offer = &self.item.offer;
        let done = source_path(&self.dir);
        let part = source_part_path(&self.dir);
        if tokio::fs::metadata(&done)
            .await
            .is_ok_and(|m| m.len() == offer.file.file_size)
        {
            return Ok(done);
        }
        let Ok(peer) = self.origin.as_str().parse::<PeerId>() else {
            return Err(JobOutcome::Failed(format!(
                "origin id `{}` is not a peer id",
                self.origin
            )));
        };
        match self.pull_source(peer, &part).await? {
            Ok(stats) => tracing::info!(
                item = %offer.item_id,
                "source fetched: {} of {} chunks transferred, {} kept from an earlier attempt",
                stats.chunks_fetched,
                stats.chunks_total,
                stats.chunks_reused
            ),
            Err(e) => return Err(self.pull_failed(e, &part).await),
        }
        // Every chunk was checked with BLAKE3 against the manifest whose hash the origin signed
        // in its offer: the file is the one offered, and reading it again for its SHA-512
        // would only delay the conversion (docs/security.md).
        if let Err(e) = tokio::fs::rename(&part, &done).await {
            return Err(JobOutcome::Retry(format!("keeping the source: {e}")));
        }
        Ok(done)
    }

    /// Pulls the source into `part`, reporting progress; `Err` when the job was cancelled.
    async fn pull_source(
        &self,
        peer: PeerId,
        part: &Path,
    ) -> Result<Result<PullStats, PullError>, JobOutcome> {
        let offer = &self.item.offer;
        self.progress(Stage::Transferring, 0.0, None, None, None)
            .await;
        let (ptx, mut prx) = mpsc::channel::<(u64, u64)>(4);
        let started = Instant::now();
        let pull = transfer::pull::pull_file_with(
            &self.env.net,
            transfer::RemoteFile {
                peer,
                item_id: offer.item_id,
                role: FileRole::Source,
                epoch: self.epoch,
            },
            &offer.file,
            part,
            &self.env.pull_options,
            move |done, total| {
                let _ = ptx.try_send((done, total));
            },
        );
        tokio::pin!(pull);
        let mut last = Instant::now() - 2 * PROGRESS_EVERY;
        let cancel = self.cancel.clone();
        loop {
            tokio::select! {
                r = &mut pull => return Ok(r),
                Some((d, t)) = prx.recv() => {
                    if last.elapsed() >= PROGRESS_EVERY && t > 0 {
                        last = Instant::now();
                        let f = d as f32 / t as f32;
                        let rate = d as f64 / started.elapsed().as_secs_f64().max(0.001);
                        let eta = ((t - d.min(t)) as f64 / rate.max(1.0)) as u32;
                        self.progress(Stage::Transferring, f, None, None, Some(eta)).await;
                    }
                }
                _ = cancel.cancelled() => return Err(JobOutcome::Cancelled),
            }
        }
    }

    /// How a job whose source pull failed with `e` ends; removes the `.part` unless the pull
    /// may resume from it.
    async fn pull_failed(&self, e: PullError, part: &Path) -> JobOutcome {
        let outcome = match e {
            PullError::SourceChanged(m) => {
                JobOutcome::Failed(format!("source changed at its origin: {m}"))
            }
            e @ (PullError::Corrupt { .. }
            | PullError::ManifestMismatch(_)
            | PullError::BadOffer(_)) => {
                JobOutcome::Failed(format!("source does not match its offer: {e}"))
            }
            e @ (PullError::DiskFull(_) | PullError::NoRoom { .. }) => {
                tracing::warn!(item = %self.item_id(), "disk full while transferring: {e}");
                JobOutcome::Failed(disk_full_error(&self.env.work_dir, "transferring"))
            }
            e => return JobOutcome::Retry(format!("fetching the source: {e}")),
        };
        let _ = tokio::fs::remove_file(part).await;
        outcome
    }
}
