//! Running ffmpeg/ffprobe as short-lived helpers with bounded output, a time limit and
//! `file:` path arguments.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::error::FfmpegError;
use super::stderr_tail::StderrTail;

pub(crate) const FFMPEG: &str = "ffmpeg";
pub(crate) const FFPROBE: &str = "ffprobe";

/// The only protocol ffmpeg and ffprobe may use to read media (`-protocol_whitelist`, an
/// input option): local files. Nothing a file names (playlists, `concat` lists, references
/// in containers) can reach the network, a pipe or another protocol.
pub(crate) const INPUT_PROTOCOLS: &str = "file";

/// The input options every ffmpeg/ffprobe run on media starts with, before `-i`.
pub(crate) fn input_guard() -> [&'static OsStr; 2] {
    [
        OsStr::new("-protocol_whitelist"),
        OsStr::new(INPUT_PROTOCOLS),
    ]
}

/// A path as an ffmpeg URL with the `file:` protocol and an absolute path, so names starting
/// with `-` or holding a `:` (`http://x`, `concat:a|b`) are never read as options or other
/// protocols: they name local files.
pub(crate) fn file_arg(path: &Path) -> OsString {
    let mut arg = OsString::from("file:");
    match std::path::absolute(path) {
        Ok(abs) => arg.push(abs.as_os_str()),
        // Only for an empty path or an unreadable working directory: still a `file:` URL.
        Err(_) => arg.push(path.as_os_str()),
    }
    arg
}

/// Spawn error for `tool`: a missing binary gets the install hint.
pub(crate) fn spawn_error(tool: &'static str, e: std::io::Error) -> FfmpegError {
    if e.kind() == std::io::ErrorKind::NotFound {
        FfmpegError::NotInstalled { tool }
    } else {
        FfmpegError::io(format!("start {tool}"), e)
    }
}

/// What a finished helper run produced.
pub(crate) struct Captured {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<String>,
}

/// Runs `tool args…`, keeping at most `max_stdout` bytes of stdout (more is an error) and the
/// last lines of stderr; kills the tool after `limit`.
pub(crate) async fn run_capture(
    tool: &'static str,
    args: &[&OsStr],
    max_stdout: usize,
    limit: Duration,
) -> Result<Captured, FfmpegError> {
    tracing::trace!(tool, ?args, "running");
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| spawn_error(tool, e))?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let stderr_task = async {
            match stderr {
                Some(s) => StderrTail::drain(s, StderrTail::DEFAULT_LINES).await,
                None => Vec::new(),
            }
        };
        let stdout_task = async {
            let mut out = Vec::new();
            if let Some(s) = stdout {
                // One byte more than allowed tells "too much" from "exactly the limit".
                let mut limited = s.take(max_stdout as u64 + 1);
                limited
                    .read_to_end(&mut out)
                    .await
                    .map_err(|e| FfmpegError::io(format!("read {tool} output"), e))?;
            }
            if out.len() > max_stdout {
                return Err(FfmpegError::BadOutput {
                    tool,
                    detail: format!("more than {max_stdout} bytes"),
                });
            }
            Ok(out)
        };
        // try_join stops at an oversized stdout instead of waiting for a blocked tool.
        let (stdout, stderr) = tokio::try_join!(stdout_task, async {
            Ok::<_, FfmpegError>(stderr_task.await)
        })?;
        let status = child
            .wait()
            .await
            .map_err(|e| FfmpegError::io(format!("wait for {tool}"), e))?;
        Ok(Captured {
            status,
            stdout,
            stderr,
        })
    };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        // Dropping `work` drops the child, which kill_on_drop kills.
        Err(_) => Err(FfmpegError::Timeout {
            tool,
            secs: limit.as_secs(),
        }),
    }
}
