//! A converter's job for one item: fetch the source, check it, convert it, check the output,
//! and keep the result for the origin.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::ffmpeg::profiles::Profile;
use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, ItemState, NodeId, ProgressInfo, Stage};
use libp2p::PeerId;
use tokio::sync::mpsc;

use super::reserve;
use super::task::{Core, Internal, JobOutcome};
use crate::ffmpeg;
use crate::net::NetClient;
use crate::store::LocalFile;
use crate::transfer::{self, pull::PullError};

/// Bytes the job of `item` needs in the work dir (see [`reserve::need`]).
pub(crate) fn disk_need(core: &Core, item: &ItemState) -> u64 {
    reserve::need(
        item.offer.file.file_size,
        item.origin == *core.engine.me(),
        core.config.converter.reserve_bytes,
    )
}

/// Why this converter must refuse an item for `epoch`, if it must: support, then disk room
/// (it needs `need` bytes of the free space less what its other accepted jobs reserved and
/// have not written yet).
pub(crate) fn refusal(
    core: &Core,
    item: &ItemState,
    epoch: Epoch,
    need: u64,
) -> impl Future<Output = Option<String>> {
    let unsupported = match core.engine.config().converter.as_ref() {
        None => Some("unsupported conversion: this node is not a converter".to_string()),
        Some(ad) => ad
            .unsupported(item.offer.media_type, &item.offer.profile)
            .or_else(|| {
                (!core.runnable_profiles.contains(&item.offer.profile)).then(|| {
                    format!(
                        "unsupported conversion: ffmpeg here cannot run profile `{}`",
                        item.offer.profile
                    )
                })
            })
            .or_else(|| {
                // A custom profile's media types are known here, not in the advert.
                let p = core.config.converter.profile(&item.offer.profile)?;
                (!p.media_types.contains(&item.offer.media_type)).then(|| {
                    format!(
                        "unsupported conversion: profile `{}` does not convert {}",
                        p.name, item.offer.media_type
                    )
                })
            }),
    };
    let work_dir = core.config.converter.work_dir.clone();
    let others: Vec<(PathBuf, u64)> = core
        .reservations
        .others(&(item.item_id(), epoch))
        .into_iter()
        .map(|((i, e), bytes)| (job_dir(&work_dir, i, e), bytes))
        .collect();
    async move {
        if unsupported.is_some() {
            return unsupported;
        }
        let measured = tokio::task::spawn_blocking(move || {
            let free = free_space(&work_dir)?;
            let used: Vec<(u64, u64)> = others
                .iter()
                .map(|(dir, bytes)| (*bytes, reserve::disk_usage(dir)))
                .collect();
            Ok::<_, std::io::Error>((free, reserve::outstanding(&used)))
        })
        .await
        .ok()?;
        match measured {
            Ok((free, outstanding)) => reserve::refusal(need, free, outstanding),
            Err(e) => Some(format!(
                "insufficient disk: cannot read free space of the work dir: {e}"
            )),
        }
    }
}

/// Whether an error says the disk is full (ENOSPC from a write, ffmpeg's "No space left on
/// device", or the transfer's "the disk holding … is full").
pub(crate) fn is_disk_full(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("no space left on device")
        || m.contains("os error 28")
        || (m.contains("the disk holding") && m.contains(" is full"))
}

/// The failure recorded when the disk filled up during a job.
pub(crate) fn disk_full_error(work_dir: &Path, stage: &str) -> String {
    format!(
        "no space left on device in {} while {stage}; freed the partial file",
        work_dir.display()
    )
}

/// The folder of one job: `<work_dir>/<item_id>.<epoch>`.
pub(crate) fn job_dir(work_dir: &Path, item_id: dmc_protocol::ItemId, epoch: Epoch) -> PathBuf {
    work_dir.join(format!("{item_id}.{epoch}"))
}

/// The (item, epoch) a work-dir entry belongs to, if it is a job folder.
pub(crate) fn parse_job_dir(name: &str) -> Option<(dmc_protocol::ItemId, Epoch)> {
    let (item, epoch) = name.rsplit_once('.')?;
    Some((dmc_protocol::ItemId::parse(item)?, epoch.parse().ok()?))
}

/// Free bytes for an unprivileged writer on the filesystem holding `dir` (created if missing).
pub(crate) fn free_space(dir: &Path) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

pub(crate) struct JobCtx {
    item: ItemState,
    epoch: Epoch,
    origin: NodeId,
    net: NetClient,
    /// The converter's work dir (for messages).
    work_dir: PathBuf,
    dir: PathBuf,
    /// The source on this node, when the origin is this node.
    local_source: Option<std::sync::Arc<crate::transfer::ServedFile>>,
    pull_options: transfer::PullOptions,
    internal: mpsc::Sender<Internal>,
    cancel: ffmpeg::CancelToken,
    /// The offer's profile as this converter defines it (built in or custom).
    profile: Option<&'static Profile>,
    threads: u32,
    nice: u8,
    time_limit: ffmpeg::TimeLimit,
    verify: ffmpeg::VerifyMode,
    allow_larger: bool,
}

impl JobCtx {
    pub(crate) fn new(
        core: &Core,
        item: ItemState,
        epoch: Epoch,
        origin: NodeId,
        cancel: ffmpeg::CancelToken,
    ) -> JobCtx {
        let dir = job_dir(&core.config.converter.work_dir, item.item_id(), epoch);
        let local_source = core
            .files
            .get(&(item.item_id(), FileRole::Source, 0))
            .cloned();
        let profile = core.config.converter.profile(&item.offer.profile);
        JobCtx {
            item,
            epoch,
            origin,
            net: core.net.clone(),
            work_dir: core.config.converter.work_dir.clone(),
            dir,
            local_source,
            pull_options: core.pull_options(),
            internal: core.internal.clone(),
            cancel,
            profile,
            threads: core.config.converter.threads,
            nice: core.config.converter.nice,
            time_limit: core.config.converter.time_limit,
            verify: core.config.converter.verify,
            allow_larger: core.config.converter.allow_larger,
        }
    }

    pub(crate) async fn run(self) {
        let (item_id, epoch) = (self.item.item_id(), self.epoch);
        let internal = self.internal.clone();
        let outcome = self.work().await;
        let _ = internal
            .send(Internal::JobDone {
                item_id,
                epoch,
                outcome,
            })
            .await;
    }

    async fn progress(
        &self,
        stage: Stage,
        fraction: f32,
        fps: Option<f32>,
        speed: Option<f32>,
        eta_secs: Option<u32>,
    ) {
        let p = ProgressInfo {
            stage,
            fraction: fraction.clamp(0.0, 1.0),
            fps,
            speed,
            eta_secs,
        };
        let _ = self
            .internal
            .send(Internal::JobProgress {
                item_id: self.item.item_id(),
                epoch: self.epoch,
                progress: p,
            })
            .await;
    }

    async fn work(&self) -> JobOutcome {
        let offer = &self.item.offer;
        let Some(profile) = self.profile else {
            return JobOutcome::Failed(format!(
                "unsupported conversion: unknown profile `{}`",
                offer.profile
            ));
        };
        if let Err(e) = tokio::fs::create_dir_all(&self.dir).await {
            return JobOutcome::Retry(format!(
                "cannot create work dir {}: {e}",
                self.dir.display()
            ));
        }
        // 1. The source.
        let input = match &self.local_source {
            Some(f) => {
                if let Err(o) = self.check_local_source().await {
                    return o;
                }
                f.path.clone()
            }
            None => match self.fetch_source().await {
                Ok(p) => p,
                Err(o) => return o,
            },
        };
        if self.cancel.is_cancelled() {
            return JobOutcome::Cancelled;
        }
        // 2. Convert into a .part file.
        let out_name = format!("result.{}", profile.extension);
        let part = self.dir.join(format!("{out_name}.part"));
        let final_path = self.dir.join(&out_name);
        let _ = tokio::fs::remove_file(&part).await;
        self.progress(Stage::Converting, 0.0, None, None, None)
            .await;
        let (ptx, mut prx) = mpsc::channel::<ffmpeg::ConvertProgress>(8);
        let job = ffmpeg::ConvertJob {
            input: input.clone(),
            output_part: part.clone(),
            work_dir: self.work_dir.clone(),
            profile: profile.clone(),
            duration_ms: offer.duration_ms,
            cancel: self.cancel.clone(),
            threads: self.threads,
            nice: self.nice,
            time_limit: self.time_limit,
        };
        let internal = self.internal.clone();
        let (item_id, epoch) = (self.item.item_id(), self.epoch);
        let conv = ffmpeg::convert(
            job,
            move |pid: u32| {
                let _ = internal.try_send(Internal::JobPid {
                    item_id,
                    epoch,
                    pid,
                });
            },
            move |p: ffmpeg::ConvertProgress| {
                let _ = ptx.try_send(p);
            },
        );
        tokio::pin!(conv);
        let result = loop {
            tokio::select! {
                r = &mut conv => break r,
                Some(p) = prx.recv() => {
                    self.progress(Stage::Converting, p.fraction, p.fps, p.speed, p.eta_secs).await;
                }
            }
        };
        match result {
            Ok(_) => {}
            Err(ffmpeg::FfmpegError::Cancelled) => {
                let _ = tokio::fs::remove_file(&part).await;
                return JobOutcome::Cancelled;
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                let m = e.to_string();
                if is_disk_full(&m) {
                    tracing::warn!(item = %offer.item_id, "disk full while converting: {m}");
                    return JobOutcome::Failed(disk_full_error(&self.work_dir, "converting"));
                }
                return JobOutcome::Failed(m);
            }
        }
        // A source read in place must not have changed while ffmpeg read it.
        if let Err(o) = self.check_local_source().await {
            let _ = tokio::fs::remove_file(&part).await;
            return o;
        }
        // 3. Check the output before it counts.
        let checks = ffmpeg::VerifyOptions {
            mode: self.verify,
            source_size: Some(offer.file.file_size),
            allow_larger: self.allow_larger,
            cancel: self.cancel.clone(),
        };
        if let Err(e) = ffmpeg::verify_output(&part, profile, offer.duration_ms, &checks).await {
            let _ = tokio::fs::remove_file(&part).await;
            if matches!(e, ffmpeg::FfmpegError::Cancelled) {
                return JobOutcome::Cancelled;
            }
            return JobOutcome::Failed(e.to_string());
        }
        if let Err(e) = tokio::fs::rename(&part, &final_path).await {
            if is_disk_full(&e.to_string()) {
                let _ = tokio::fs::remove_file(&part).await;
                return JobOutcome::Failed(disk_full_error(&self.work_dir, "converting"));
            }
            return JobOutcome::Retry(format!("cannot keep the result: {e}"));
        }
        // 4. Hash it for the origin, and drop the fetched source.
        let hashed = {
            let p = final_path.clone();
            tokio::task::spawn_blocking(move || {
                transfer::hash::hash_file(&p, dmc_protocol::record::CHUNK_SIZE, |_| {})
            })
            .await
        };
        let hashed = match hashed {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return JobOutcome::Retry(format!("cannot hash the result: {e}")),
            Err(e) => return JobOutcome::Retry(format!("hashing task failed: {e}")),
        };
        if self.local_source.is_none() {
            let _ = tokio::fs::remove_file(self.dir.join("source")).await;
        }
        let stem = Path::new(&offer.file.file_name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("output");
        let info = hashed.file_info(format!("{stem}.{}", profile.extension));
        let local = LocalFile {
            item_id: self.item.item_id(),
            role: FileRole::Result,
            epoch: self.epoch,
            path: final_path,
            file_size: hashed.size,
            mtime_ns: hashed.mtime_ns,
            chunk_size: hashed.chunk_size,
            hashes: hashed.hashes,
        };
        JobOutcome::Converted(info, local)
    }

    /// For a source on this node (read in place, not fetched): fails the job if the file is no
    /// longer the one offered, as a fetch would.
    async fn check_local_source(&self) -> Result<(), JobOutcome> {
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

    /// Pulls the source from the origin into `<dir>/source`, verified.
    async fn fetch_source(&self) -> Result<PathBuf, JobOutcome> {
        let offer = &self.item.offer;
        let done = self.dir.join("source");
        let part = self.dir.join("source.part");
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
        self.progress(Stage::Transferring, 0.0, None, None, None)
            .await;
        let (ptx, mut prx) = mpsc::channel::<(u64, u64)>(4);
        let started = Instant::now();
        let pull = transfer::pull::pull_file_with(
            &self.net,
            peer,
            offer.item_id,
            FileRole::Source,
            self.epoch,
            &offer.file,
            &part,
            &self.pull_options,
            move |done, total| {
                let _ = ptx.try_send((done, total));
            },
        );
        tokio::pin!(pull);
        let mut last = Instant::now() - Duration::from_secs(2);
        let cancel = self.cancel.clone();
        let result = loop {
            tokio::select! {
                r = &mut pull => break r,
                Some((d, t)) = prx.recv() => {
                    if last.elapsed() >= Duration::from_secs(1) && t > 0 {
                        last = Instant::now();
                        let f = d as f32 / t as f32;
                        let rate = d as f64 / started.elapsed().as_secs_f64().max(0.001);
                        let eta = ((t - d.min(t)) as f64 / rate.max(1.0)) as u32;
                        self.progress(Stage::Transferring, f, None, None, Some(eta)).await;
                    }
                }
                _ = cancel.cancelled() => return Err(JobOutcome::Cancelled),
            }
        };
        match result {
            Ok(stats) => tracing::info!(
                item = %offer.item_id,
                "source fetched: {} of {} chunks transferred, {} kept from an earlier attempt",
                stats.chunks_fetched,
                stats.chunks_total,
                stats.chunks_reused
            ),
            Err(PullError::SourceChanged(m)) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(JobOutcome::Failed(format!(
                    "source changed at its origin: {m}"
                )));
            }
            Err(
                e @ (PullError::Corrupt { .. }
                | PullError::ManifestMismatch(_)
                | PullError::BadOffer(_)),
            ) => {
                let m = e.to_string();
                let _ = tokio::fs::remove_file(&part).await;
                return Err(JobOutcome::Failed(format!(
                    "source does not match its offer: {m}"
                )));
            }
            Err(e) if is_disk_full(&e.to_string()) => {
                tracing::warn!(item = %offer.item_id, "disk full while transferring: {e}");
                let _ = tokio::fs::remove_file(&part).await;
                return Err(JobOutcome::Failed(disk_full_error(
                    &self.work_dir,
                    "transferring",
                )));
            }
            Err(e) => return Err(JobOutcome::Retry(format!("fetching the source: {e}"))),
        }
        // The whole file's SHA-512 must match the offer before it is converted.
        let p = part.clone();
        let sha = tokio::task::spawn_blocking(move || transfer::sha512_file(&p)).await;
        match sha {
            Ok(Ok(s)) if s == offer.file.sha512 => {}
            Ok(Ok(s)) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(JobOutcome::Failed(format!(
                    "source SHA-512 {}… does not match the offer's {}…",
                    &s[..16.min(s.len())],
                    &offer.file.sha512[..16.min(offer.file.sha512.len())]
                )));
            }
            Ok(Err(e)) => return Err(JobOutcome::Retry(format!("reading the source: {e}"))),
            Err(e) => return Err(JobOutcome::Retry(format!("hashing task failed: {e}"))),
        }
        if let Err(e) = tokio::fs::rename(&part, &done).await {
            return Err(JobOutcome::Retry(format!("keeping the source: {e}")));
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_recognised_and_told_clearly() {
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
        assert!(is_disk_full(&enospc));
        assert!(is_disk_full(
            "ffmpeg failed (exit status: 1) converting x; its last messages:\n\
             av_interleaved_write_frame(): No space left on device"
        ));
        assert!(is_disk_full(
            "the disk holding /w/a.1/source.part is full: free some space; the transfer resumes"
        ));
        assert!(!is_disk_full("the peer refused (Busy): queue is full"));
        assert!(!is_disk_full("ffmpeg failed: Invalid data found"));
        assert_eq!(
            disk_full_error(Path::new("/srv/work"), "converting"),
            "no space left on device in /srv/work while converting; freed the partial file"
        );
    }
}
