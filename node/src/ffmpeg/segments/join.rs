//! Joining: the source's audio is converted once with the profile (`-vn`: its video settings
//! do nothing), kept as `audio.mka` in the segment store, then ffmpeg's concat demuxer chains
//! the encoded segments (`-c copy`: packets are not touched, so no frame is lost or repeated at
//! a joint) beside that audio, with the source's metadata and chapters, into the job's output.
//! The concat demuxer over `mkvmerge`: it ships with ffmpeg, which every converter already
//! has, and works for any container a profile writes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::facts::MediaFacts;
use super::files::sync_and_rename;
use super::run::{run_step, Step};
use crate::ffmpeg::convert::ConvertJob;
use crate::ffmpeg::error::FfmpegError;
use crate::ffmpeg::tool::{file_arg, input_guard};

/// The source's converted audio in a segment store.
const AUDIO: &str = "audio.mka";
/// The concat demuxer's list in a segment store.
const LIST: &str = "segments.txt";

fn base_args() -> Vec<OsString> {
    ["-hide_banner", "-nostdin", "-y", "-v", "error"]
        .map(OsString::from)
        .to_vec()
}

fn input(args: &mut Vec<OsString>, path: &Path) {
    args.extend(input_guard().map(OsString::from));
    args.push("-i".into());
    args.push(file_arg(path));
}

/// The source's audio converted by the profile, once: kept in `store` for later runs.
pub(crate) async fn audio_once(
    job: &ConvertJob,
    store: &Path,
    on_start: &mut impl FnMut(u32),
) -> Result<PathBuf, FfmpegError> {
    let done = store.join(AUDIO);
    if tokio::fs::metadata(&done).await.is_ok_and(|m| m.is_file()) {
        return Ok(done);
    }
    let part = store.join(format!("{AUDIO}.part"));
    let mut args = base_args();
    input(&mut args, &job.input);
    args.extend(job.profile.args.iter().map(OsString::from));
    args.extend(["-vn", "-sn", "-dn", "-f", "matroska"].map(OsString::from));
    args.push(file_arg(&part));
    let step = Step {
        args,
        input: &job.input,
        output: &part,
        nice: job.nice,
        limit: job.time_limit.for_media(job.duration_ms),
        cancel: &job.cancel,
    };
    run_step(step, on_start).await?;
    sync_and_rename(Vec::new(), part, done.clone()).await?;
    Ok(done)
}

/// A concat list line naming `path` (quoted for the concat demuxer).
fn list_line(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("file '{}'\n", abs.to_string_lossy().replace('\'', r"'\''"))
}

/// The arguments of the join: `list` of segments (shifted by `video_offset_us`), `audio`, the
/// source for metadata and chapters, into `output` with the profile's muxer.
fn join_args(
    job: &ConvertJob,
    list: &Path,
    audio: Option<&Path>,
    video_offset_us: u64,
) -> Vec<OsString> {
    let mut args = base_args();
    if video_offset_us > 0 {
        args.push("-itsoffset".into());
        args.push(format!("{video_offset_us}us").into());
    }
    args.extend(["-f", "concat", "-safe", "0"].map(OsString::from));
    input(&mut args, list);
    let meta = if let Some(audio) = audio {
        input(&mut args, audio);
        "2"
    } else {
        "1"
    };
    input(&mut args, &job.input);
    args.extend(["-map", "0:v:0"].map(OsString::from));
    if audio.is_some() {
        args.extend(["-map", "1:a"].map(OsString::from));
    }
    args.extend(["-c", "copy", "-map_metadata", meta, "-map_chapters", meta].map(OsString::from));
    args.extend(["-f", job.profile.muxer].map(OsString::from));
    args.push(file_arg(&job.output_part));
    args
}

/// Joins `segments` and `audio` into `job.output_part`, keeping the source's audio/video
/// offset (`source`).
pub(crate) async fn join(
    job: &ConvertJob,
    store: &Path,
    segments: &[PathBuf],
    audio: Option<&Path>,
    source: &MediaFacts,
    on_start: &mut impl FnMut(u32),
) -> Result<(), FfmpegError> {
    let list = store.join(LIST);
    let text: String = segments.iter().map(|p| list_line(p)).collect();
    tokio::fs::write(&list, text)
        .await
        .map_err(|e| FfmpegError::io(format!("write {}", list.display()), e))?;
    // Segments start at 0 once encoded; the source's video may start after its audio.
    let offset = match source.audio_start_us {
        Some(a) => u64::try_from(source.video_start_us - a.min(source.video_start_us)).unwrap_or(0),
        None => 0,
    };
    let step = Step {
        args: join_args(job, &list, audio, offset),
        input: &list,
        output: &job.output_part,
        nice: job.nice,
        limit: job.time_limit.for_media(job.duration_ms),
        cancel: &job.cancel,
    };
    run_step(step, on_start).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines_quote_the_path() {
        assert_eq!(
            list_line(Path::new("/w/a'b/00001.mkv")),
            "file '/w/a'\\''b/00001.mkv'\n"
        );
    }
}
