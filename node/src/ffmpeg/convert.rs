//! Running one ffmpeg conversion: progress reporting, cancellation, cleanup of partial output.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use dmc_protocol::SegmentProgress;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdout, Command};

use super::cancel::CancelToken;
use super::error::FfmpegError;
use super::limits::{check_output_place, child_nice, kill_group, TimeLimit};
use super::profiles::Profile;
use super::progress::{estimate, ProgressParser};
use super::stderr_tail::StderrTail;
use super::threads::with_threads;
use super::tool::{file_arg, input_guard, spawn_error, FFMPEG};

/// Least time between two progress callbacks.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// One conversion to run.
#[derive(Clone, Debug)]
pub struct ConvertJob {
    /// The local source file.
    pub input: PathBuf,
    /// Where ffmpeg writes, e.g. `work/<item>/result.mkv.part`; the caller renames it after
    /// checking it. Its folder must exist and lie in `work_dir`.
    pub output_part: PathBuf,
    /// The converter's work dir (`[converter] work_dir`): ffmpeg is not started for an output
    /// anywhere else.
    pub work_dir: PathBuf,
    pub profile: Profile,
    /// The source duration from the probe, for the completed fraction and ETA.
    pub duration_ms: Option<u64>,
    /// Cancelling it kills ffmpeg and removes `output_part`.
    pub cancel: CancelToken,
    /// `-threads` for the encoders (`[converter] threads`); 0 leaves it to ffmpeg.
    pub threads: u32,
    /// Nice value ffmpeg runs at (`[converter] nice`, 0..=19), never below the node's own.
    pub nice: u8,
    /// When ffmpeg is stopped and the item failed (`[converter] time_limit_*`).
    pub time_limit: TimeLimit,
    /// Keep every video frame at its input time (`-fps_mode passthrough`, the input's time
    /// base): a segment of a variable frame rate source must keep its frames and their times.
    pub keep_frame_times: bool,
}

/// Output options that pass video frames through with their input times.
const KEEP_FRAME_TIMES: [&str; 4] = ["-fps_mode:v", "passthrough", "-enc_time_base:v", "-1"];

/// Progress of a running conversion (at most about once a second).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConvertProgress {
    /// Completed fraction, 0..=1, never decreasing; 1 only once ffmpeg succeeded.
    pub fraction: f32,
    pub fps: Option<f32>,
    pub speed: Option<f32>,
    pub eta_secs: Option<u32>,
    /// Position reached in the output, in milliseconds.
    pub out_time_ms: Option<u64>,
    /// Segments done, for a conversion in segments.
    pub segments: Option<SegmentProgress>,
}

impl ConvertProgress {
    /// The last report of a conversion that succeeded (its output checked): all of
    /// `duration_ms` done, nothing left.
    pub fn done(duration_ms: Option<u64>) -> Self {
        ConvertProgress {
            fraction: 1.0,
            fps: None,
            speed: None,
            eta_secs: Some(0),
            out_time_ms: duration_ms,
            segments: None,
        }
    }
}

/// A finished, successful conversion.
#[derive(Clone, Debug)]
pub struct ConvertOutcome {
    /// The fsynced output (`job.output_part`).
    pub output: PathBuf,
    pub size_bytes: u64,
    pub elapsed_ms: u64,
    /// ffmpeg's last stderr lines (warnings worth logging).
    pub stderr_tail: Vec<String>,
}

/// The ffmpeg arguments for `job`: no stdin, and input options (the protocol whitelist) before
/// `-i`, where they apply to the input.
pub(crate) fn ffmpeg_args(job: &ConvertJob) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-hide_banner", "-nostdin", "-y"]
        .into_iter()
        .map(OsString::from)
        .collect();
    args.extend(input_guard().map(OsString::from));
    args.push(OsString::from("-i"));
    args.push(file_arg(&job.input));
    // Output options: they apply to the encoders of this output.
    let profile = &job.profile;
    args.extend(with_threads(profile.args, profile.encoder, job.threads));
    if job.keep_frame_times {
        args.extend(KEEP_FRAME_TIMES.map(OsString::from));
    }
    args.extend(["-f", job.profile.muxer, "-progress", "pipe:1", "-nostats"].map(OsString::from));
    args.push(file_arg(&job.output_part));
    args
}

/// Runs the conversion. `on_start` gets ffmpeg's pid once it runs; `progress` gets updates at
/// most about once a second, with a final fraction of 1 on success. On failure, cancel or time
/// limit, ffmpeg's process group is killed and the partial output removed. ffmpeg runs at a
/// lower CPU priority (`job.nice`) and only writes inside `job.work_dir`.
pub async fn convert(
    job: ConvertJob,
    on_start: impl FnOnce(u32),
    mut progress: impl FnMut(ConvertProgress),
) -> Result<ConvertOutcome, FfmpegError> {
    if job.cancel.is_cancelled() {
        return Err(FfmpegError::Cancelled);
    }
    check_output_place(&job.output_part, &job.work_dir)?;
    let started = Instant::now();
    let limit = job.time_limit.for_media(job.duration_ms);
    tracing::debug!(
        input = %job.input.display(),
        profile = job.profile.name,
        limit_secs = limit.as_secs(),
        "starting ffmpeg"
    );
    let mut child = ffmpeg_command(ffmpeg_args(&job), job.nice)
        .spawn()
        .map_err(|e| spawn_error(FFMPEG, e))?;
    if let Some(pid) = child.id() {
        on_start(pid);
    }
    let now = tokio::time::Instant::now();
    // A limit beyond what the clock can hold is as good as none (30 years).
    let deadline = now
        .checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400));
    let stderr_task = child
        .stderr
        .take()
        .map(|s| tokio::spawn(StderrTail::drain(s, StderrTail::DEFAULT_LINES)));
    let stdout = child.stdout.take();

    let run = drive(&mut child, stdout, &job, &mut progress, started, deadline).await;
    let status = match run {
        Ok(status) => status,
        Err(e) => {
            stop(&mut child, stderr_task, &job, &e).await;
            return Err(e);
        }
    };
    let stderr = match stderr_task {
        Some(t) => t.await.unwrap_or_default(),
        None => Vec::new(),
    };
    let (size_bytes, stderr) = keep_output(&job, status, stderr).await?;
    progress(ConvertProgress::done(job.duration_ms));
    Ok(ConvertOutcome {
        output: job.output_part,
        size_bytes,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        stderr_tail: stderr,
    })
}

/// ffmpeg with `args`: its own process group, killed with the node, at CPU priority `nice`.
pub(super) fn ffmpeg_command(args: Vec<OsString>, nice: u8) -> Command {
    let mut cmd = Command::new(FFMPEG);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C in the terminal running `dmc node` reaches the node,
        // which stops the job and gives the item back, instead of killing ffmpeg first and
        // turning a shutdown into a failed attempt.
        .process_group(0);
    // Computed before the fork: the child only makes syscalls.
    let nice = child_nice(nice);
    // If the node dies (even by SIGKILL), the kernel kills its ffmpeg too: no orphan keeps
    // writing into the work dir. ffmpeg also runs at a lower CPU priority than the node, so
    // a conversion never starves replication, transfers or the control API.
    // SAFETY: prctl and setpriority are async-signal-safe syscalls, and the closure allocates
    // nothing; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if nice != 0 && libc::setpriority(libc::PRIO_PROCESS, 0, nice) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// Cancelled, out of time or a pipe error (`why`): makes sure ffmpeg (and anything it
/// started) is gone before removing its output.
async fn stop(
    child: &mut Child,
    stderr_task: Option<tokio::task::JoinHandle<Vec<String>>>,
    job: &ConvertJob,
    why: &FfmpegError,
) {
    // Not yet reaped, so its pid still names its process group.
    if let Some(pid) = child.id() {
        kill_group(pid);
    }
    if matches!(why, FfmpegError::TimeLimit(_)) {
        tracing::warn!(input = %job.input.display(), "{why}");
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    if let Some(t) = stderr_task {
        t.abort();
    }
    remove_part(&job.output_part).await;
}

/// ffmpeg exited with `status`: on success the output is synced and its size returned (with
/// `stderr`); otherwise it is removed and the failure carries `stderr`.
async fn keep_output(
    job: &ConvertJob,
    status: ExitStatus,
    stderr: Vec<String>,
) -> Result<(u64, Vec<String>), FfmpegError> {
    if !status.success() {
        remove_part(&job.output_part).await;
        return Err(FfmpegError::Failed {
            input: job.input.clone(),
            status: status.to_string(),
            stderr,
        });
    }
    match sync_file(&job.output_part).await {
        Ok(size) => Ok((size, stderr)),
        Err(e) => {
            remove_part(&job.output_part).await;
            Err(e)
        }
    }
}

/// Reads progress until ffmpeg closes stdout, then waits for it; stops early on cancel.
async fn drive(
    child: &mut Child,
    stdout: Option<ChildStdout>,
    job: &ConvertJob,
    progress: &mut impl FnMut(ConvertProgress),
    started: Instant,
    deadline: tokio::time::Instant,
) -> Result<ExitStatus, FfmpegError> {
    let out_of_time = tokio::time::sleep_until(deadline);
    tokio::pin!(out_of_time);
    let timed_out = || FfmpegError::TimeLimit(job.time_limit.exceeded(job.duration_ms));
    let total_us = job.duration_ms.map(|ms| ms.saturating_mul(1000));
    let mut parser = ProgressParser::new();
    let mut last_emit: Option<Instant> = None;
    let mut best_fraction = 0.0f32;
    if let Some(mut stdout) = stdout {
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::select! {
                biased; // a pending cancel wins over more output
                _ = job.cancel.cancelled() => return Err(FfmpegError::Cancelled),
                _ = &mut out_of_time => return Err(timed_out()),
                read = stdout.read(&mut buf) => {
                    read.map_err(|e| FfmpegError::io("read ffmpeg progress", e))?
                }
            };
            if n == 0 {
                break;
            }
            for update in parser.push_bytes(&buf[..n]) {
                if update.done {
                    continue; // success is reported once ffmpeg has exited cleanly
                }
                let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                let (fraction, eta_secs) = estimate(&update, total_us, elapsed_ms);
                // 1.0 is kept for the end, after ffmpeg has exited successfully.
                best_fraction = best_fraction.max(fraction.min(0.999));
                if last_emit.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
                    continue;
                }
                last_emit = Some(Instant::now());
                progress(ConvertProgress {
                    fraction: best_fraction,
                    fps: update.fps,
                    speed: update.speed,
                    eta_secs,
                    out_time_ms: update.out_time_us.map(|us| us / 1000),
                    segments: None,
                });
            }
        }
    }
    tokio::select! {
        biased;
        _ = job.cancel.cancelled() => Err(FfmpegError::Cancelled),
        _ = &mut out_of_time => Err(timed_out()),
        status = child.wait() => status.map_err(|e| FfmpegError::io("wait for ffmpeg", e)),
    }
}

/// fsyncs the finished output; returns its size.
async fn sync_file(path: &Path) -> Result<u64, FfmpegError> {
    let what = || format!("sync the output {}", path.display());
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| FfmpegError::io(what(), e))?;
    file.sync_all()
        .await
        .map_err(|e| FfmpegError::io(what(), e))?;
    let meta = file
        .metadata()
        .await
        .map_err(|e| FfmpegError::io(what(), e))?;
    Ok(meta.len())
}

/// Removes a partial output; a missing file is fine.
async fn remove_part(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("could not remove partial output {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(threads: u32) -> ConvertJob {
        ConvertJob {
            input: "/in/clip.mp4".into(),
            output_part: "/work/result.mkv.part".into(),
            work_dir: "/work".into(),
            profile: crate::ffmpeg::profiles::builtin_profile("mkv-x264")
                .cloned()
                .unwrap_or_else(|| crate::ffmpeg::profiles::BUILTIN_PROFILES[0].clone()),
            duration_ms: None,
            cancel: CancelToken::new(),
            threads,
            nice: 10,
            time_limit: crate::config::defaults::converter::TIME_LIMIT,
            keep_frame_times: false,
        }
    }

    #[test]
    fn threads_become_an_output_option_only_when_set() {
        let args: Vec<String> = ffmpeg_args(&job(1))
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = args.iter().position(|a| a == "-threads").unwrap();
        assert_eq!(args[at + 1], "1");
        // After the input and the profile's encoder choice, before the muxer and output.
        assert!(at > args.iter().position(|a| a == "libx264").unwrap());
        assert!(at < args.iter().position(|a| a == "-f").unwrap());
        assert_eq!(
            args.last().map(String::as_str),
            Some("file:/work/result.mkv.part")
        );
        assert!(!ffmpeg_args(&job(0)).iter().any(|a| a == "-threads"));
    }
}
