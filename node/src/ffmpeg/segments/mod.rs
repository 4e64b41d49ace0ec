//! Segment encoding with checkpoints: a long video is cut at keyframes (no re-encode), each
//! segment encoded with the profile and kept once checked, the source's audio converted once,
//! and the segments joined and checked against the source. Everything lives in a *segment
//! store*, a folder per item and source that outlives the job: after a crash or restart only
//! segments without a checked result are encoded again. Given a [`Spreader`], the segments are
//! encoded by the farm (the node offers them as sub-items, `spread.rs`); without one, here.

mod check;
mod cut;
mod encode;
mod facts;
mod files;
mod join;
mod run;
mod spread;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{Duration, Instant};

use dmc_protocol::SegmentProgress;

use super::convert::{ConvertJob, ConvertOutcome, ConvertProgress};
use super::error::FfmpegError;
use super::limits::check_output_place;
use check::check_joined;
use cut::{cut_once, CutOptions};
pub use encode::encode_segment;
use encode::{encode_all, Cut};
use facts::media_facts;
use join::{join, keeps_other_streams, other_streams_once, placed_segments};
pub use spread::{SpreadAsk, SpreadCut, SpreadDone, Spreader};

/// Most segments one item is cut into; longer videos get longer segments (the protocol's
/// bound on the segment counts a progress report carries).
pub const MAX_SEGMENTS: usize = dmc_protocol::MAX_SEGMENTS as usize;

/// When videos are split and how long their segments are (`[converter] split_min`,
/// `segment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitPolicy {
    /// Videos at least this long are split.
    pub split_min: Duration,
    /// The length wanted of each segment (cuts fall on the next keyframe).
    pub segment: Duration,
}

impl SplitPolicy {
    /// The segment length for a video of `duration_ms`, or `None` when it is converted whole
    /// (shorter than `split_min`, or of unknown duration).
    pub fn segment_for(&self, duration_ms: Option<u64>) -> Option<Duration> {
        let media = Duration::from_millis(duration_ms?);
        if media < self.split_min || self.segment.is_zero() {
            return None;
        }
        let spread = media / u32::try_from(MAX_SEGMENTS).unwrap_or(u32::MAX);
        Some(self.segment.max(spread))
    }
}

/// How long ffprobe may take to count a delivered segment's frames.
const SEGMENT_PROBE_LIMIT: Duration = Duration::from_secs(120);

/// Whether `path` is an encoded segment holding `frames` video frames.
pub async fn segment_holds(path: &Path, frames: u64) -> bool {
    encode::is_kept(path, frames, SEGMENT_PROBE_LIMIT).await
}

/// A segmented conversion that succeeded, and what its checkpoints saved.
#[derive(Clone, Debug)]
pub struct SegmentedOutcome {
    pub outcome: ConvertOutcome,
    /// Segments the video was cut into.
    pub segments: usize,
    /// Segments kept from an earlier run, not encoded again.
    pub kept: usize,
}

/// Converts `job` in segments of about `segment` through the segment store `store` (made if
/// missing; inside `job.work_dir`), into `job.output_part`, checked against the source (frame
/// count, duration and audio/video start within one frame). The segments are encoded here,
/// or, given a `spreader`, by the farm as sub-items. `on_start` gets each ffmpeg's pid;
/// `progress` gets the fraction of frames encoded over all segments, never decreasing.
pub async fn convert_in_segments(
    job: ConvertJob,
    store: &Path,
    segment: Duration,
    spreader: Option<Spreader>,
    mut on_start: impl FnMut(u32),
    mut progress: impl FnMut(ConvertProgress),
) -> Result<SegmentedOutcome, FfmpegError> {
    let started = Instant::now();
    tokio::fs::create_dir_all(store)
        .await
        .map_err(|e| FfmpegError::io(format!("create {}", store.display()), e))?;
    check_output_place(&store.join("x"), &job.work_dir)?;
    check_output_place(&job.output_part, &job.work_dir)?;
    let limit = job.time_limit.for_media(job.duration_ms);
    let source = media_facts(&job.input, limit).await?;
    let opts = CutOptions {
        segment,
        nice: job.nice,
        limit,
        cancel: &job.cancel,
    };
    let cuts = cut_and_count(&job.input, store, opts, &source, &mut on_start).await?;
    let encoded = {
        let mut frames_done = progress_of_frames(source.frames, cuts.len(), started, &mut progress);
        let spreader = spreader.as_ref();
        encode_all(
            &job,
            store,
            &cuts,
            spreader,
            &mut on_start,
            &mut frames_done,
        )
        .await?
    };
    let others = match keeps_other_streams(&job.profile, &source) {
        true => Some(other_streams_once(&job, store, &mut on_start).await?),
        false => None,
    };
    let segments = placed_segments(&cuts, encoded.paths);
    join(
        &job,
        store,
        &segments,
        others.as_deref(),
        &source,
        &mut on_start,
    )
    .await?;
    let out = finish(&job, &source, limit).await?;
    progress(ConvertProgress {
        segments: Some(segment_counts(cuts.len(), cuts.len(), encoded.kept)),
        ..ConvertProgress::done(job.duration_ms)
    });
    Ok(SegmentedOutcome {
        outcome: ConvertOutcome {
            output: job.output_part.clone(),
            size_bytes: out,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            stderr_tail: Vec::new(),
        },
        segments: cuts.len(),
        kept: encoded.kept,
    })
}

/// Cuts `input` into the store (once: a restart reuses the cuts) and counts each cut's
/// frames; the cuts must hold every frame of `source`.
async fn cut_and_count(
    input: &Path,
    store: &Path,
    opts: CutOptions<'_>,
    source: &facts::MediaFacts,
    on_start: &mut impl FnMut(u32),
) -> Result<Vec<Cut>, FfmpegError> {
    let limit = opts.limit;
    let cut_paths = cut_once(input, store, opts, on_start).await?;
    let mut cuts = Vec::with_capacity(cut_paths.len());
    for path in cut_paths {
        let f = media_facts(&path, limit).await?;
        cuts.push(Cut {
            path,
            start_us: f.video_start_us,
            frames: f.frames,
            duration_ms: f.duration_us.map(|us| us / 1000),
        });
    }
    let cut_frames: u64 = cuts.iter().map(|c| c.frames).sum();
    if cut_frames != source.frames {
        return Err(FfmpegError::OutputCheck(format!(
            "the {} cut segments hold {cut_frames} frames, the source {}",
            cuts.len(),
            source.frames
        )));
    }
    Ok(cuts)
}

/// Segment counts for a progress report (at most [`MAX_SEGMENTS`], so they fit).
fn segment_counts(done: usize, total: usize, kept: usize) -> SegmentProgress {
    let count = |n: usize| u32::try_from(n.min(MAX_SEGMENTS)).unwrap_or(u32::MAX);
    SegmentProgress {
        done: count(done),
        total: count(total),
        kept: count(kept),
    }
}

/// The item's progress from the frames encoded over all segments (`done` of `total`) and the
/// segments done of `segments`: never decreasing, below 1 until the join is checked, with the
/// rate and ETA of the frames this run encoded (frames and segments kept from an earlier run,
/// known at the first call, excluded).
fn progress_of_frames(
    total: u64,
    segments: usize,
    started: Instant,
    progress: &mut impl FnMut(ConvertProgress),
) -> impl FnMut(u64, usize) + '_ {
    let total = total.max(1);
    let mut best = (0.0f32, 0usize);
    let mut kept: Option<(u64, usize)> = None;
    move |done: u64, segments_done: usize| {
        let (kept, kept_segments) = *kept.get_or_insert((done, segments_done));
        // Joining is left: 1 only once the output is checked.
        let fraction = ((done as f64 / total as f64) as f32).min(0.99);
        if fraction > best.0 || segments_done > best.1 {
            best = (fraction.max(best.0), segments_done.max(best.1));
            let secs = started.elapsed().as_secs_f64();
            let fps = (secs > 0.0).then(|| done.saturating_sub(kept) as f64 / secs);
            let eta_secs = fps
                .filter(|f| *f > 0.0)
                .map(|f| (total.saturating_sub(done) as f64 / f).min(f64::from(u32::MAX)) as u32);
            progress(ConvertProgress {
                fraction: best.0,
                fps: fps.map(|f| f as f32),
                speed: None,
                eta_secs,
                out_time_ms: None,
                segments: Some(segment_counts(best.1, segments, kept_segments)),
            });
        }
    }
}

/// Checks the joined output against `source` and fsyncs it; returns its size. A failed check
/// removes it.
async fn finish(
    job: &ConvertJob,
    source: &facts::MediaFacts,
    limit: Duration,
) -> Result<u64, FfmpegError> {
    let checked = match media_facts(&job.output_part, limit).await {
        Ok(out) => check_joined(source, &out).map_err(|m| {
            FfmpegError::OutputCheck(format!("the joined segments do not match the source: {m}"))
        }),
        Err(e) => Err(e),
    };
    let synced = match checked {
        Ok(()) => sync(&job.output_part).await,
        Err(e) => Err(e),
    };
    if synced.is_err() {
        run::remove_output(&job.output_part).await;
    }
    synced
}

/// fsyncs `path`; returns its size.
async fn sync(path: &Path) -> Result<u64, FfmpegError> {
    let p = path.to_path_buf();
    let what = format!("sync the output {}", path.display());
    let done = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let f = std::fs::File::open(&p)?;
        f.sync_all()?;
        Ok(f.metadata()?.len())
    })
    .await
    .map_err(|e| FfmpegError::io(what.clone(), std::io::Error::other(e.to_string())))?;
    done.map_err(|e| FfmpegError::io(what, e))
}
