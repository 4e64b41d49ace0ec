//! A converter's job for one item: get the source, convert it into a `.part`, check the output,
//! and keep the result for the origin. What every job shares comes in a [`JobEnv`] built once
//! when the core starts; a [`Job`] holds what only its item needs.

mod source;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ffmpeg::profiles::Profile;
use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, ItemId, ItemState, MediaType, NodeId, ProgressInfo, Stage};

use tokio::sync::mpsc;

use super::layout::{result_paths, segment_store};
use super::msg::{Internal, JobOutcome};
use crate::ffmpeg;
use crate::net::NetClient;
use crate::store::LocalFile;
use crate::transfer::{self, ServedFile};

/// The failure recorded when the disk filled up during a job (`stage`: "transferring" or
/// "converting").
pub(crate) fn disk_full_error(work_dir: &Path, stage: &str) -> String {
    format!(
        "no space left on device in {} while {stage}; freed the partial file",
        work_dir.display()
    )
}

/// What every job of this converter needs from the node: built once at start.
pub(crate) struct JobEnv {
    pub(crate) net: NetClient,
    /// The converter's work dir (job folders are made in it; named in messages).
    pub(crate) work_dir: PathBuf,
    pub(crate) pull_options: transfer::PullOptions,
    /// Where jobs report progress, their ffmpeg's pid and how they ended.
    pub(crate) internal: mpsc::Sender<Internal>,
    pub(crate) threads: u32,
    pub(crate) nice: u8,
    pub(crate) time_limit: ffmpeg::TimeLimit,
    /// Which videos are converted in segments (`[converter] split_min`, `segment`).
    pub(crate) split: ffmpeg::SplitPolicy,
    pub(crate) verify: ffmpeg::VerifyMode,
    pub(crate) allow_larger: bool,
}

/// One job: an item's attempt (`epoch`) on this converter.
pub(crate) struct Job {
    pub(crate) env: Arc<JobEnv>,
    pub(crate) item: ItemState,
    pub(crate) epoch: Epoch,
    pub(crate) origin: NodeId,
    /// The job's folder in the work dir.
    pub(crate) dir: PathBuf,
    /// The source on this node, when the origin is this node (read in place).
    pub(crate) local_source: Option<Arc<ServedFile>>,
    /// The offer's profile as this converter defines it (built in or custom).
    pub(crate) profile: Option<&'static Profile>,
    pub(crate) cancel: ffmpeg::CancelToken,
}

impl Job {
    /// Runs the job and reports how it ended.
    pub(crate) async fn run(self) {
        let (item_id, epoch) = (self.item.item_id(), self.epoch);
        let internal = self.env.internal.clone();
        let outcome = match self.work().await {
            Ok(converted) => converted,
            Err(ended) => ended,
        };
        let _ = internal
            .send(Internal::JobDone {
                item_id,
                epoch,
                outcome,
            })
            .await;
    }

    fn item_id(&self) -> ItemId {
        self.item.item_id()
    }

    async fn progress(
        &self,
        stage: Stage,
        fraction: f32,
        fps: Option<f32>,
        speed: Option<f32>,
        eta_secs: Option<u32>,
    ) {
        self.report(ProgressInfo {
            stage,
            fraction,
            fps,
            speed,
            eta_secs,
            segments: None,
        })
        .await;
    }

    /// Sends `progress` (its fraction clamped to 0..1) to the core, for the origin.
    async fn report(&self, mut progress: ProgressInfo) {
        progress.fraction = progress.fraction.clamp(0.0, 1.0);
        let _ = self
            .env
            .internal
            .send(Internal::JobProgress {
                item_id: self.item_id(),
                epoch: self.epoch,
                progress,
            })
            .await;
    }

    /// The job's steps; `Err` ends it early with that outcome.
    async fn work(&self) -> Result<JobOutcome, JobOutcome> {
        let Some(profile) = self.profile else {
            return Err(JobOutcome::Failed(format!(
                "unsupported conversion: unknown profile `{}`",
                self.item.offer.profile
            )));
        };
        tokio::fs::create_dir_all(&self.dir).await.map_err(|e| {
            JobOutcome::Retry(format!(
                "cannot create work dir {}: {e}",
                self.dir.display()
            ))
        })?;
        // 1. The source.
        let input = match &self.local_source {
            Some(f) => {
                self.check_local_source().await?;
                f.path.clone()
            }
            None => self.fetch_source().await?,
        };
        if self.cancel.is_cancelled() {
            return Err(JobOutcome::Cancelled);
        }
        // The time limit, progress and output check go by the duration found here, not by
        // the origin's claim.
        let probed = match ffmpeg::probe(&input).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(input = %input.display(), "cannot probe the source: {e}");
                None
            }
        };
        let duration_ms = probed.as_ref().and_then(|p| p.duration_ms);
        let (part, final_path) = result_paths(&self.dir, profile.extension);
        if let Some(frames) = self.item.offer.part_of.as_ref().map(|p| p.frames) {
            // A segment of another converter's item: encoded and checked by its frames.
            self.encode_segment(input, frames, profile, duration_ms, &final_path)
                .await?;
            return self.hash_result(final_path, profile).await;
        }
        // 2. Convert into a .part file; 3. check the output before it counts.
        self.convert(input, probed.as_ref(), &part, profile, duration_ms)
            .await?;
        self.check_output(&part, profile, duration_ms).await?;
        self.keep_output(&part, &final_path).await?;
        // 4. Hash it for the origin, and drop the fetched source.
        self.hash_result(final_path, profile).await
    }

    /// Runs ffmpeg from `input` (of `duration_ms`, as probed here) into `part`, reporting its
    /// progress.
    async fn convert(
        &self,
        input: PathBuf,
        probed: Option<&ffmpeg::Probe>,
        part: &Path,
        profile: &'static Profile,
        duration_ms: Option<u64>,
    ) -> Result<(), JobOutcome> {
        let _ = tokio::fs::remove_file(part).await;
        self.progress(Stage::Converting, 0.0, None, None, None)
            .await;
        let (ptx, mut prx) = mpsc::channel::<ffmpeg::ConvertProgress>(8);
        let job = self.convert_job(input.clone(), part, profile, duration_ms);
        let item_id = self.item_id();
        let on_start = self.on_start();
        let spreader = self.spreader();
        let on_progress = move |p: ffmpeg::ConvertProgress| {
            let _ = ptx.try_send(p);
        };
        let split = self.split_for(probed, profile, duration_ms);
        let conv = async move {
            match split {
                Some((store, segment)) => {
                    let spread = Some(spreader);
                    let done = ffmpeg::convert_in_segments(
                        job,
                        &store,
                        segment,
                        spread,
                        on_start,
                        on_progress,
                    )
                    .await?;
                    tracing::info!(
                        item = %item_id,
                        segments = done.segments,
                        kept_segments = done.kept,
                        encoded_segments = done.segments - done.kept,
                        "converted in segments"
                    );
                    Ok(())
                }
                None => ffmpeg::convert(job, on_start, on_progress)
                    .await
                    .map(|_| ()),
            }
        };
        tokio::pin!(conv);
        let result = loop {
            tokio::select! {
                r = &mut conv => break r,
                Some(p) = prx.recv() => {
                    self.report(ProgressInfo {
                        stage: Stage::Converting,
                        fraction: p.fraction,
                        fps: p.fps,
                        speed: p.speed,
                        eta_secs: p.eta_secs,
                        segments: p.segments,
                    }).await;
                }
            }
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = tokio::fs::remove_file(part).await;
                Err(self.conversion_failed(e, &input, probed).await)
            }
        }
    }

    /// Encodes this sub-item's cut `input` into `target`, checked to hold `frames` frames.
    async fn encode_segment(
        &self,
        input: PathBuf,
        frames: u64,
        profile: &'static Profile,
        duration_ms: Option<u64>,
        target: &Path,
    ) -> Result<(), JobOutcome> {
        self.progress(Stage::Converting, 0.0, None, None, None)
            .await;
        let job = self.convert_job(input.clone(), target, profile, duration_ms);
        let (ptx, mut prx) = mpsc::channel::<f32>(8);
        let conv = ffmpeg::encode_segment(&job, frames, target, self.on_start(), move |f| {
            let _ = ptx.try_send(f);
        });
        tokio::pin!(conv);
        let result = loop {
            tokio::select! {
                r = &mut conv => break r,
                Some(f) = prx.recv() => {
                    self.progress(Stage::Converting, f, None, None, None).await;
                }
            }
        };
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(self.conversion_failed(e, &input, None).await),
        }
    }

    /// The ffmpeg job of this item from `input` into `output_part`.
    fn convert_job(
        &self,
        input: PathBuf,
        output_part: &Path,
        profile: &'static Profile,
        duration_ms: Option<u64>,
    ) -> ffmpeg::ConvertJob {
        ffmpeg::ConvertJob {
            input,
            output_part: output_part.to_path_buf(),
            work_dir: self.env.work_dir.clone(),
            profile: profile.clone(),
            duration_ms,
            cancel: self.cancel.clone(),
            threads: self.env.threads,
            nice: self.env.nice,
            time_limit: self.env.time_limit,
            keep_frame_times: false,
        }
    }

    /// What gets each ffmpeg's pid: the core, to stop it with the node.
    fn on_start(&self) -> impl FnMut(u32) + Send + 'static {
        let internal = self.env.internal.clone();
        let (item_id, epoch) = (self.item_id(), self.epoch);
        move |pid: u32| {
            let _ = internal.try_send(Internal::JobPid {
                item_id,
                epoch,
                pid,
            });
        }
    }

    /// What hands this job's segments to the farm: the core, which offers them as sub-items.
    fn spreader(&self) -> ffmpeg::Spreader {
        let internal = self.env.internal.clone();
        let (item_id, epoch) = (self.item_id(), self.epoch);
        Arc::new(move |ask| {
            internal
                .try_send(Internal::Spread {
                    item_id,
                    epoch,
                    ask,
                })
                .is_ok()
        })
    }

    /// The segment store and segment length when this item is converted in segments: a video,
    /// a video profile, and at least `[converter] split_min` long.
    fn split_for(
        &self,
        probed: Option<&ffmpeg::Probe>,
        profile: &Profile,
        duration_ms: Option<u64>,
    ) -> Option<(PathBuf, std::time::Duration)> {
        let video = probed.and_then(|p| p.media_type()) == Some(MediaType::Video)
            && profile.media_types.contains(&MediaType::Video);
        let segment = self.env.split.segment_for(duration_ms).filter(|_| video)?;
        let blake3 = &self.item.offer.file.blake3;
        Some((
            segment_store(&self.env.work_dir, self.item_id(), blake3),
            segment,
        ))
    }

    /// How a job whose conversion of `input` failed with `e` ends.
    async fn conversion_failed(
        &self,
        e: ffmpeg::FfmpegError,
        input: &Path,
        probed: Option<&ffmpeg::Probe>,
    ) -> JobOutcome {
        if matches!(e, ffmpeg::FfmpegError::Cancelled) {
            return JobOutcome::Cancelled;
        }
        if e.is_disk_full() {
            tracing::warn!(item = %self.item_id(), "disk full while converting: {e}");
            return JobOutcome::Failed(disk_full_error(&self.env.work_dir, "converting"));
        }
        if matches!(e, ffmpeg::FfmpegError::Failed { .. })
            && source_fails_anywhere(input, probed).await
        {
            return JobOutcome::Certain(format!(
                "{e}\nthe source does not decode (ffmpeg stops at a decoding error in its first \
                 30 s, with a decoder for each of its streams): it would fail on any converter"
            ));
        }
        JobOutcome::Failed(e.to_string())
    }

    /// Checks the output in `part` against the profile and the source (of `duration_ms`, as
    /// probed here; read in place, it must not have changed while ffmpeg read it). Removes
    /// `part` when it does not pass.
    async fn check_output(
        &self,
        part: &Path,
        profile: &'static Profile,
        duration_ms: Option<u64>,
    ) -> Result<(), JobOutcome> {
        if let Err(o) = self.check_local_source().await {
            let _ = tokio::fs::remove_file(part).await;
            return Err(o);
        }
        let offer = &self.item.offer;
        let checks = ffmpeg::VerifyOptions {
            mode: self.env.verify,
            source_size: Some(offer.file.file_size),
            allow_larger: self.env.allow_larger,
            cancel: self.cancel.clone(),
        };
        if let Err(e) = ffmpeg::verify_output(part, profile, duration_ms, &checks).await {
            let _ = tokio::fs::remove_file(part).await;
            if matches!(e, ffmpeg::FfmpegError::Cancelled) {
                return Err(JobOutcome::Cancelled);
            }
            if e.is_certain() {
                return Err(JobOutcome::Certain(e.to_string()));
            }
            return Err(JobOutcome::Failed(e.to_string()));
        }
        Ok(())
    }

    /// Gives the checked (and fsynced) output its final name, and fsyncs the job folder so
    /// the name survives a crash: a `converted` record is made only for a result that is
    /// durably there.
    async fn keep_output(&self, part: &Path, final_path: &Path) -> Result<(), JobOutcome> {
        match tokio::fs::rename(part, final_path).await {
            Ok(()) => {
                let dir = self.dir.clone();
                match tokio::task::spawn_blocking(move || super::names::sync_dir(&dir)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(JobOutcome::Retry(format!("cannot sync the result: {e}"))),
                    Err(e) => Err(JobOutcome::Retry(format!("syncing task failed: {e}"))),
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                let _ = tokio::fs::remove_file(part).await;
                Err(JobOutcome::Failed(disk_full_error(
                    &self.env.work_dir,
                    "converting",
                )))
            }
            Err(e) => Err(JobOutcome::Retry(format!("cannot keep the result: {e}"))),
        }
    }

    /// Hashes the result for the origin to fetch, and removes the fetched source.
    async fn hash_result(
        &self,
        final_path: PathBuf,
        profile: &'static Profile,
    ) -> Result<JobOutcome, JobOutcome> {
        let hashed = {
            let p = final_path.clone();
            tokio::task::spawn_blocking(move || {
                transfer::hash::hash_file(&p, dmc_protocol::record::CHUNK_SIZE, |_| {})
            })
            .await
        };
        let hashed = match hashed {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return Err(JobOutcome::Retry(format!("cannot hash the result: {e}"))),
            Err(e) => return Err(JobOutcome::Retry(format!("hashing task failed: {e}"))),
        };
        if self.local_source.is_none() {
            let _ = tokio::fs::remove_file(super::layout::source_path(&self.dir)).await;
        }
        let stem = Path::new(&self.item.offer.file.file_name)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("output");
        let info = hashed.file_info(format!("{stem}.{}", profile.extension));
        let local = LocalFile::of_hashed(
            self.item_id(),
            FileRole::Result,
            self.epoch,
            final_path,
            hashed,
        );
        Ok(JobOutcome::Converted(info, Box::new(local)))
    }
}

/// Whether a failed conversion's source is itself at fault, so that every converter would
/// fail it: this ffmpeg has a decoder for each of its streams and still stops at a decoding
/// error (its exit status, never its words). Unknown (no probe, the check could not run) is
/// not at fault: the item is tried again elsewhere.
async fn source_fails_anywhere(input: &Path, probed: Option<&ffmpeg::Probe>) -> bool {
    let Some(probe) = probed else {
        return false;
    };
    matches!(ffmpeg::decoders_for(probe).await, Ok(true))
        && matches!(ffmpeg::source_decodes(input).await, Ok(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_recognised_by_its_type() {
        let enospc = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(ffmpeg::FfmpegError::io("write the output", enospc()).is_disk_full());
        let failed = |line: &str| ffmpeg::FfmpegError::Failed {
            input: "x".into(),
            status: "exit status: 1".into(),
            stderr: vec![line.into()],
        };
        assert!(failed("av_interleaved_write_frame(): No space left on device").is_disk_full());
        assert!(!failed("Invalid data found when processing input").is_disk_full());
        assert!(!ffmpeg::FfmpegError::Cancelled.is_disk_full());
        let pull = transfer::PullError::DiskFull("/w/a.1/source.part".into());
        assert_eq!(
            pull.to_string(),
            "the disk holding /w/a.1/source.part is full: free some space; the transfer resumes \
             where it stopped"
        );
    }

    #[test]
    fn disk_full_is_told_clearly() {
        assert_eq!(
            disk_full_error(Path::new("/srv/work"), "converting"),
            "no space left on device in /srv/work while converting; freed the partial file"
        );
    }
}
