//! Encoding the cut segments with the profile, each into `enc/NNNNN.<ext>.part` in the segment
//! store, checked (ffprobe counts as many frames as its cut holds) and only then renamed to
//! `enc/NNNNN.<ext>`: a segment with its final name is a checkpoint. Kept segments whose frame
//! count still matches are not encoded again.

use std::path::{Path, PathBuf};

use super::facts::media_facts;
use super::files::sync_and_rename;
use super::run::remove_output;
use super::spread::{encode_spread, SpreadDone, Spreader};
use crate::ffmpeg::convert::{convert, ConvertJob, ConvertProgress};
use crate::ffmpeg::error::FfmpegError;

/// The folder of encoded segments in a segment store.
const ENC: &str = "enc";

/// One cut segment to encode.
pub(crate) struct Cut {
    pub path: PathBuf,
    /// Where it starts in the source, in microseconds.
    pub start_us: i64,
    pub frames: u64,
    pub duration_ms: Option<u64>,
}

/// The encoded segments, in order, and how many were kept from a run before.
pub(crate) struct Encoded {
    pub paths: Vec<PathBuf>,
    pub kept: usize,
}

/// The encoded segment `index` of a store, for a profile writing `extension`.
fn encoded_path(store: &Path, index: usize, extension: &str) -> PathBuf {
    store.join(ENC).join(format!("{index:05}.{extension}"))
}

/// Whether `path` is a kept segment of `frames` frames (a checkpoint of a run before);
/// ffprobe gets `limit`.
pub(crate) async fn is_kept(path: &Path, frames: u64, limit: std::time::Duration) -> bool {
    if !tokio::fs::metadata(path).await.is_ok_and(|m| m.is_file()) {
        return false;
    }
    match media_facts(path, limit).await {
        Ok(f) if f.frames == frames => true,
        Ok(f) => {
            tracing::warn!(
                "kept segment {} has {} frames, expected {frames}: encoding it again",
                path.display(),
                f.frames
            );
            false
        }
        Err(e) => {
            tracing::warn!(
                "kept segment {} unreadable ({e}): encoding it again",
                path.display()
            );
            false
        }
    }
}

/// Encodes every cut of `cuts` not already kept in `store`, with `job`'s profile and limits:
/// here, one after another, or by the farm through `spreader`. `on_start` gets each ffmpeg's
/// pid; `progress` gets the frames done over all segments and the segments done (the first
/// call: those kept).
pub(crate) async fn encode_all(
    job: &ConvertJob,
    store: &Path,
    cuts: &[Cut],
    spreader: Option<&Spreader>,
    on_start: &mut impl FnMut(u32),
    progress: &mut impl FnMut(u64, usize),
) -> Result<Encoded, FfmpegError> {
    let dir = store.join(ENC);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| FfmpegError::io(format!("create {}", dir.display()), e))?;
    remove_stale_parts(&dir).await;
    let mut paths = Vec::with_capacity(cuts.len());
    let mut todo = Vec::new();
    let mut done_frames = 0u64;
    for (i, cut) in cuts.iter().enumerate() {
        let path = encoded_path(store, i, job.profile.extension);
        if is_kept(&path, cut.frames, job.time_limit.min).await {
            done_frames += cut.frames;
        } else {
            todo.push(i);
        }
        paths.push(path);
    }
    let kept = cuts.len() - todo.len();
    tracing::info!(
        store = %store.display(),
        segments = cuts.len(),
        kept_segments = kept,
        "encoding segments; kept ones are not encoded again"
    );
    let mut done_segments = kept;
    progress(done_frames, done_segments);
    if let Some(spreader) = spreader.filter(|_| !todo.is_empty()) {
        let (cancel, limit) = (&job.cancel, job.time_limit.min);
        encode_spread(
            spreader,
            cuts,
            &paths,
            &todo,
            cancel,
            limit,
            &mut |d: SpreadDone| progress(done_frames + d.frames, done_segments + d.segments),
        )
        .await?;
        return Ok(Encoded { paths, kept });
    }
    for i in todo {
        let cut = &cuts[i];
        encode_one(job, cut, &paths[i], on_start, &mut |fraction: f32| {
            let frames = (cut.frames as f64 * f64::from(fraction)) as u64;
            progress(done_frames + frames, done_segments)
        })
        .await?;
        done_frames += cut.frames;
        done_segments += 1;
        progress(done_frames, done_segments);
    }
    Ok(Encoded { paths, kept })
}

/// Removes the `.part` files a stopped run left in `dir`.
async fn remove_stale_parts(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_string_lossy().ends_with(".part") {
            remove_output(&entry.path()).await;
        }
    }
}

/// Encodes one cut into `target` (through `target.part`), checks its frame count and keeps it.
async fn encode_one(
    job: &ConvertJob,
    cut: &Cut,
    target: &Path,
    on_start: &mut impl FnMut(u32),
    fraction: &mut impl FnMut(f32),
) -> Result<(), FfmpegError> {
    let mut part = target.as_os_str().to_owned();
    part.push(".part");
    let part = PathBuf::from(part);
    remove_output(&part).await;
    let seg_job = ConvertJob {
        input: cut.path.clone(),
        output_part: part.clone(),
        duration_ms: cut.duration_ms,
        keep_frame_times: true,
        ..job.clone()
    };
    convert(seg_job, &mut *on_start, |p: ConvertProgress| {
        fraction(p.fraction)
    })
    .await?;
    let found = media_facts(&part, job.time_limit.min).await;
    match found {
        Ok(f) if f.frames == cut.frames => {}
        other => {
            remove_output(&part).await;
            let found = match other {
                Ok(f) => format!("{} frames", f.frames),
                Err(e) => e.to_string(),
            };
            return Err(FfmpegError::OutputCheck(format!(
                "encoded segment {} should have {} frames like its cut, found {found}",
                target.display(),
                cut.frames
            )));
        }
    }
    sync_and_rename(Vec::new(), part, target.to_path_buf()).await
}

/// Encodes one segment given to this converter as a sub-item: `job.input` (a cut) into
/// `target` through `target.part`, keeping every frame's time, checked to hold `frames`
/// frames. `fraction` gets the share of it encoded.
pub async fn encode_segment(
    job: &ConvertJob,
    frames: u64,
    target: &Path,
    mut on_start: impl FnMut(u32),
    mut fraction: impl FnMut(f32),
) -> Result<(), FfmpegError> {
    let cut = Cut {
        path: job.input.clone(),
        start_us: 0,
        frames,
        duration_ms: job.duration_ms,
    };
    encode_one(job, &cut, target, &mut on_start, &mut fraction).await
}
