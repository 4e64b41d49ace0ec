//! Joining: the source's other streams the profile keeps (audio tracks, subtitles) are
//! converted once with the profile (`-vn`: its video settings do nothing), kept as
//! `streams.mka` in the segment store, then ffmpeg's concat demuxer chains the encoded segments
//! (`-c copy`: packets are not touched, so no frame is lost or repeated at a joint), each
//! placed at its cut's start in the source, beside those streams, with the source's metadata
//! and chapters, into the job's output.
//! The concat demuxer over `mkvmerge`: it ships with ffmpeg, which every converter already
//! has, and works for any container a profile writes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::encode::Cut;
use super::facts::MediaFacts;
use super::files::sync_and_rename;
use super::run::{run_step, Step};
use crate::ffmpeg::convert::ConvertJob;
use crate::ffmpeg::error::FfmpegError;
use crate::ffmpeg::profiles::Profile;
use crate::ffmpeg::tool::{file_arg, input_guard};

/// The source's other streams, converted, in a segment store.
const OTHERS: &str = "streams.mka";
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

/// Whether `profile`'s arguments map streams of `kind` (`a`, `s`) of the input: a `-map` of
/// `0`, `0?`, or `0:<kind>…`.
fn maps(profile: &Profile, kind: char) -> bool {
    profile
        .args
        .windows(2)
        .filter(|w| w[0] == "-map" && !w[1].starts_with('-'))
        .any(|w| match w[1].split_once(':') {
            None => true,
            Some((_, spec)) => spec.starts_with(kind),
        })
}

/// Whether the join needs the source's other streams: it has audio or subtitles and the
/// profile keeps them.
pub(crate) fn keeps_other_streams(profile: &Profile, source: &MediaFacts) -> bool {
    (source.audio_start_us.is_some() && maps(profile, 'a'))
        || (source.subtitle_streams > 0 && maps(profile, 's'))
}

/// The source's other streams converted by the profile, once: kept in `store` for later runs.
pub(crate) async fn other_streams_once(
    job: &ConvertJob,
    store: &Path,
    on_start: &mut impl FnMut(u32),
) -> Result<PathBuf, FfmpegError> {
    let done = store.join(OTHERS);
    if tokio::fs::metadata(&done).await.is_ok_and(|m| m.is_file()) {
        return Ok(done);
    }
    let part = store.join(format!("{OTHERS}.part"));
    let mut args = base_args();
    input(&mut args, &job.input);
    args.extend(job.profile.args.iter().map(OsString::from));
    args.extend(["-vn", "-dn", "-f", "matroska"].map(OsString::from));
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

/// An encoded segment and how long it lasts until the next one starts (none for the last).
pub(crate) struct Placed {
    pub path: PathBuf,
    pub duration_us: Option<u64>,
}

/// The encoded segments `paths` of `cuts`, each lasting until the next cut's start.
pub(crate) fn placed_segments(cuts: &[Cut], paths: Vec<PathBuf>) -> Vec<Placed> {
    paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| Placed {
            path,
            duration_us: cuts
                .get(i + 1)
                .map(|next| u64::try_from(next.start_us - cuts[i].start_us).unwrap_or(0)),
        })
        .collect()
}

/// A concat list entry naming `segment` (quoted for the concat demuxer) with its duration.
fn list_entry(segment: &Placed) -> String {
    let path = &segment.path;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let file = format!("file '{}'\n", abs.to_string_lossy().replace('\'', r"'\''"));
    match segment.duration_us {
        Some(us) if us > 0 => format!("{file}duration {us}us\n"),
        _ => file,
    }
}

/// The arguments of the join: `list` of segments (shifted by `video_offset_us`), `others` (the
/// converted other streams), the
/// source for metadata and chapters, into `output` with the profile's muxer.
fn join_args(
    job: &ConvertJob,
    list: &Path,
    others: Option<&Path>,
    video_offset_us: u64,
) -> Vec<OsString> {
    let mut args = base_args();
    if video_offset_us > 0 {
        args.push("-itsoffset".into());
        args.push(format!("{video_offset_us}us").into());
    }
    args.extend(["-f", "concat", "-safe", "0"].map(OsString::from));
    input(&mut args, list);
    let meta = if let Some(others) = others {
        input(&mut args, others);
        "2"
    } else {
        "1"
    };
    input(&mut args, &job.input);
    args.extend(["-map", "0:v:0"].map(OsString::from));
    if others.is_some() {
        args.extend(["-map", "1"].map(OsString::from));
    }
    args.extend(["-c", "copy", "-map_metadata", meta, "-map_chapters", meta].map(OsString::from));
    args.extend(["-f", job.profile.muxer].map(OsString::from));
    args.push(file_arg(&job.output_part));
    args
}

/// Joins `segments` and `others` into `job.output_part`, keeping the source's audio/video
/// offset (`source`).
pub(crate) async fn join(
    job: &ConvertJob,
    store: &Path,
    segments: &[Placed],
    others: Option<&Path>,
    source: &MediaFacts,
    on_start: &mut impl FnMut(u32),
) -> Result<(), FfmpegError> {
    let list = store.join(LIST);
    let text: String = segments.iter().map(list_entry).collect();
    tokio::fs::write(&list, text)
        .await
        .map_err(|e| FfmpegError::io(format!("write {}", list.display()), e))?;
    // Segments start at 0 once encoded; the source's video may start after its audio.
    let offset = match source.audio_start_us {
        Some(a) => u64::try_from(source.video_start_us - a.min(source.video_start_us)).unwrap_or(0),
        None => 0,
    };
    let step = Step {
        args: join_args(job, &list, others, offset),
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
    fn list_entries_quote_the_path_and_give_the_duration() {
        let placed = |duration_us| Placed {
            path: PathBuf::from("/w/a'b/00001.mkv"),
            duration_us,
        };
        assert_eq!(list_entry(&placed(None)), "file '/w/a'\\''b/00001.mkv'\n");
        assert_eq!(
            list_entry(&placed(Some(4_093_000))),
            "file '/w/a'\\''b/00001.mkv'\nduration 4093000us\n"
        );
    }

    #[test]
    fn other_streams_follow_the_profile_maps() {
        let x264 = crate::ffmpeg::builtin_profile("mkv-x264").unwrap();
        assert!(maps(x264, 'a'));
        assert!(!maps(x264, 's'));
        let all = Profile {
            args: &["-map", "0", "-c", "copy"],
            ..x264.clone()
        };
        assert!(maps(&all, 's'));
        let none = Profile {
            args: &["-map", "0:v:0", "-map", "-0:a"],
            ..x264.clone()
        };
        assert!(!maps(&none, 'a'));
    }
}
