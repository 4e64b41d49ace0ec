//! Cutting a source's first video stream into segments at keyframes, without re-encoding:
//! ffmpeg's segment muxer (`-f segment -c copy -segment_time`) starts each segment at the
//! first keyframe at or after the wanted length, so every segment decodes on its own and the
//! segments hold every packet of the source exactly once. (`-ss/-to` cuts would need the
//! keyframes listed first and seek per segment, and `-ss` with `-c copy` may repeat or drop
//! packets around a cut.) The cuts keep the source's timestamps (no `-reset_timestamps`), so
//! each cut's start is its place in the source: the join places each segment there, and a
//! variable frame rate keeps its frame times across the joints (a cut's own duration only
//! guesses its last frame's). The cuts are kept in `cuts/` of the segment store, made in
//! `cuts.part/` and renamed when complete, so after a restart the same segments are encoded.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files::sync_and_rename;
use super::run::{remove_output, run_step, Step};
use super::MAX_SEGMENTS;
use crate::ffmpeg::cancel::CancelToken;
use crate::ffmpeg::error::FfmpegError;
use crate::ffmpeg::tool::{file_arg, input_guard};

/// The folder of complete cuts in a segment store (an earlier version's `cut/`, with reset
/// timestamps, is not used).
const CUT: &str = "cuts";
/// The folder cuts are written to first.
const CUT_PART: &str = "cuts.part";
/// The extension (and, as `matroska`, the muxer) of a cut: it holds any video codec.
const CUT_EXTENSION: &str = "mkv";

/// What cutting needs besides the source.
pub(crate) struct CutOptions<'a> {
    pub segment: Duration,
    pub nice: u8,
    pub limit: Duration,
    pub cancel: &'a CancelToken,
}

/// `-segment_time` as seconds with milliseconds.
fn seconds_arg(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// The ffmpeg arguments that cut `input`'s first video stream into `dir/NNNNN.mkv`.
fn cut_args(input: &Path, dir: &Path, segment: Duration) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-hide_banner", "-nostdin", "-y", "-v", "error"]
        .map(OsString::from)
        .to_vec();
    args.extend(input_guard().map(OsString::from));
    args.push("-i".into());
    args.push(file_arg(input));
    args.extend(
        [
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "segment",
            "-segment_format",
            "matroska",
            "-segment_time",
        ]
        .map(OsString::from),
    );
    args.push(seconds_arg(segment).into());
    args.push(file_arg(&dir.join(format!("%05d.{CUT_EXTENSION}"))));
    args
}

/// The cuts in `dir`, in order; fails on a folder that holds anything else or too many.
fn list_cuts(dir: &Path) -> Result<Vec<PathBuf>, FfmpegError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| FfmpegError::io(format!("list {}", dir.display()), e))?;
    let mut cuts = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| FfmpegError::io(format!("list {}", dir.display()), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let numbered = name
            .strip_suffix(&format!(".{CUT_EXTENSION}"))
            .is_some_and(|n| n.len() == 5 && n.bytes().all(|b| b.is_ascii_digit()));
        if !numbered {
            return Err(FfmpegError::OutputCheck(format!(
                "unexpected file {name} among the cut segments in {}",
                dir.display()
            )));
        }
        cuts.push(entry.path());
        if cuts.len() > MAX_SEGMENTS {
            return Err(FfmpegError::OutputCheck(format!(
                "more than {MAX_SEGMENTS} segments in {}",
                dir.display()
            )));
        }
    }
    cuts.sort();
    if cuts.is_empty() {
        return Err(FfmpegError::OutputCheck(format!(
            "cutting the source made no segment in {}",
            dir.display()
        )));
    }
    Ok(cuts)
}

/// The source's cuts in `store`: the kept ones if a run before finished cutting, else cut now.
/// `on_start` gets ffmpeg's pid.
pub(crate) async fn cut_once(
    input: &Path,
    store: &Path,
    opts: CutOptions<'_>,
    on_start: &mut impl FnMut(u32),
) -> Result<Vec<PathBuf>, FfmpegError> {
    let done = store.join(CUT);
    if tokio::fs::metadata(&done).await.is_ok_and(|m| m.is_dir()) {
        return list_cuts(&done);
    }
    let part = store.join(CUT_PART);
    remove_output(&part).await;
    tokio::fs::create_dir_all(&part)
        .await
        .map_err(|e| FfmpegError::io(format!("create {}", part.display()), e))?;
    let step = Step {
        args: cut_args(input, &part, opts.segment),
        input,
        output: &part,
        nice: opts.nice,
        limit: opts.limit,
        cancel: opts.cancel,
    };
    run_step(step, on_start).await?;
    let cuts = match list_cuts(&part) {
        Ok(c) => c,
        Err(e) => {
            remove_output(&part).await;
            return Err(e);
        }
    };
    sync_and_rename(cuts, part, done.clone()).await?;
    list_cuts(&done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_arguments_copy_the_first_video_stream_only() {
        let args: Vec<String> = cut_args(
            Path::new("/w/src"),
            Path::new("/w/s/cuts.part"),
            Duration::from_millis(4500),
        )
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
        let at = |a: &str| args.iter().position(|x| x == a).unwrap();
        assert_eq!(args[at("-map") + 1], "0:v:0");
        assert_eq!(args[at("-c") + 1], "copy");
        assert_eq!(args[at("-segment_time") + 1], "4.500");
        assert!(!args.iter().any(|a| a == "-reset_timestamps"));
        assert!(at("-protocol_whitelist") < at("-i"));
        assert_eq!(args.last().unwrap(), "file:/w/s/cuts.part/%05d.mkv");
    }
}
