//! Handing cut segments to the farm: instead of encoding them one after another itself, the
//! coordinator asks its node to offer them as sub-items (`core/spread.rs`), which converters,
//! this one included, encode; each result lands, checked, under its final name in the
//! segment store. This side waits for them, reports the frames encoded, and checks each.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use super::encode::{is_kept, Cut};
use super::run::remove_output;
use crate::ffmpeg::cancel::CancelToken;
use crate::ffmpeg::error::FfmpegError;

/// One segment to be encoded elsewhere.
#[derive(Clone, Debug)]
pub struct SpreadCut {
    /// Which segment, from 0.
    pub index: u32,
    /// The cut (video only, source timestamps) in the segment store.
    pub path: PathBuf,
    pub frames: u64,
    pub duration_ms: Option<u64>,
    /// Where its encoded result goes (the store's `enc/NNNNN.<ext>`).
    pub target: PathBuf,
}

/// What has been encoded so far of the segments asked for: frames and whole segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpreadDone {
    pub frames: u64,
    pub segments: usize,
}

/// The coordinator's request: encode `cuts` (segments of `count`) and answer once each is at
/// its target (`Ok`), or why they cannot all be (`Err`: a segment failed for good).
pub struct SpreadAsk {
    pub cuts: Vec<SpreadCut>,
    pub count: u32,
    pub progress: watch::Sender<SpreadDone>,
    pub done: oneshot::Sender<Result<(), String>>,
}

/// Sends a [`SpreadAsk`] to whoever spreads the segments (the node); false when it is gone.
pub type Spreader = Arc<dyn Fn(SpreadAsk) -> bool + Send + Sync>;

/// Has `spreader` encode the cuts of `todo` (indexes into `cuts`, whose encoded paths are
/// `paths`), waiting for all of them; `progress` gets the frames and segments done among
/// them. Each result is checked (its frame count) once it is there.
pub(crate) async fn encode_spread(
    spreader: &Spreader,
    cuts: &[Cut],
    paths: &[PathBuf],
    todo: &[usize],
    cancel: &CancelToken,
    limit_min: std::time::Duration,
    progress: &mut impl FnMut(SpreadDone),
) -> Result<(), FfmpegError> {
    let mut asked = Vec::with_capacity(todo.len());
    for &i in todo {
        // A file here failed its check (`is_kept`): it is this store's, not a user's.
        remove_output(&paths[i]).await;
        asked.push(SpreadCut {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            path: cuts[i].path.clone(),
            frames: cuts[i].frames,
            duration_ms: cuts[i].duration_ms,
            target: paths[i].clone(),
        });
    }
    let (ptx, mut prx) = watch::channel(SpreadDone::default());
    let (dtx, mut drx) = oneshot::channel();
    let ask = SpreadAsk {
        cuts: asked,
        count: u32::try_from(cuts.len()).unwrap_or(u32::MAX),
        progress: ptx,
        done: dtx,
    };
    if !spreader(ask) {
        return Err(FfmpegError::Segments(
            "the node did not take them (stopping, or too busy): tried again later".into(),
        ));
    }
    let answer = loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(FfmpegError::Cancelled),
            r = &mut drx => break r.unwrap_or(Err("the node stopped waiting for the segments".into())),
            Ok(()) = prx.changed() => progress(*prx.borrow_and_update()),
        }
    };
    answer.map_err(FfmpegError::Segments)?;
    check_arrived(cuts, paths, todo, limit_min).await
}

/// Checks that each segment asked for is at its path with its cut's frame count.
async fn check_arrived(
    cuts: &[Cut],
    paths: &[PathBuf],
    todo: &[usize],
    limit_min: std::time::Duration,
) -> Result<(), FfmpegError> {
    for &i in todo {
        if !is_kept(&paths[i], cuts[i].frames, limit_min).await {
            return Err(FfmpegError::OutputCheck(format!(
                "encoded segment {} is missing or does not hold the {} frames of its cut",
                paths[i].display(),
                cuts[i].frames
            )));
        }
    }
    Ok(())
}
