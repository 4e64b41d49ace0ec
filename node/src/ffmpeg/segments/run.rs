//! Running one ffmpeg step of a segmented conversion (cut, audio, join): like a whole
//! conversion it runs in its own process group at the job's CPU priority, dies with the node,
//! stops on cancel or at its time limit, and removes its partial output on failure.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::ffmpeg::cancel::CancelToken;
use crate::ffmpeg::convert::ffmpeg_command;
use crate::ffmpeg::error::FfmpegError;
use crate::ffmpeg::limits::kill_group;
use crate::ffmpeg::stderr_tail::StderrTail;
use crate::ffmpeg::tool::{spawn_error, FFMPEG};

/// One ffmpeg run: its arguments, what it reads (named in errors) and what it writes.
pub(crate) struct Step<'a> {
    pub args: Vec<OsString>,
    pub input: &'a Path,
    /// Removed (file or folder) when the step fails.
    pub output: &'a Path,
    pub nice: u8,
    pub limit: Duration,
    pub cancel: &'a CancelToken,
}

/// Runs `step`; `on_start` gets ffmpeg's pid. Its output is left for the caller to check.
pub(crate) async fn run_step(
    step: Step<'_>,
    on_start: &mut impl FnMut(u32),
) -> Result<(), FfmpegError> {
    if step.cancel.is_cancelled() {
        return Err(FfmpegError::Cancelled);
    }
    let mut cmd = ffmpeg_command(step.args, step.nice);
    cmd.stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().map_err(|e| spawn_error(FFMPEG, e))?;
    let pid = child.id();
    if let Some(pid) = pid {
        on_start(pid);
    }
    let stderr_task = child
        .stderr
        .take()
        .map(|s| tokio::spawn(StderrTail::drain(s, StderrTail::DEFAULT_LINES)));
    let ended = tokio::select! {
        biased;
        _ = step.cancel.cancelled() => Err(FfmpegError::Cancelled),
        _ = tokio::time::sleep(step.limit) => Err(FfmpegError::Timeout {
            tool: FFMPEG,
            secs: step.limit.as_secs(),
        }),
        status = child.wait() => status.map_err(|e| FfmpegError::io("wait for ffmpeg", e)),
    };
    let status = match ended {
        Ok(status) => status,
        Err(e) => {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
            if let Some(t) = stderr_task {
                t.abort();
            }
            remove_output(step.output).await;
            return Err(e);
        }
    };
    let stderr = match stderr_task {
        Some(t) => t.await.unwrap_or_default(),
        None => Vec::new(),
    };
    if !status.success() {
        remove_output(step.output).await;
        return Err(FfmpegError::Failed {
            input: step.input.to_path_buf(),
            status: status.to_string(),
            stderr,
        });
    }
    Ok(())
}

/// Removes a failed step's output, file or folder; a missing one is fine.
pub(crate) async fn remove_output(path: &Path) {
    let removed = match tokio::fs::symlink_metadata(path).await {
        Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(path).await,
        Ok(_) => tokio::fs::remove_file(path).await,
        Err(_) => return,
    };
    if let Err(e) = removed {
        tracing::warn!("could not remove partial output {}: {e}", path.display());
    }
}
