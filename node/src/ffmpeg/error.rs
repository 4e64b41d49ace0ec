//! The error type of the ffmpeg integration; every message says what went wrong and what next.

use std::path::PathBuf;

/// Errors from running ffmpeg or ffprobe.
#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    /// The binary is not on `PATH`.
    #[error("{tool} not found: install ffmpeg (apt-get install ffmpeg)")]
    NotInstalled { tool: &'static str },
    /// ffprobe could not read the file as media.
    #[error("{} is not a media file ffprobe understands: {detail}", path.display())]
    NotMedia { path: PathBuf, detail: String },
    /// A local I/O step (spawning, reading a pipe, syncing, removing a file) failed.
    #[error("could not {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// The tool printed something we could not use.
    #[error("{tool} printed unexpected output: {detail}")]
    BadOutput { tool: &'static str, detail: String },
    /// The tool ran longer than allowed and was killed.
    #[error("{tool} did not finish within {secs} s and was stopped; is the file on a slow or hung disk?")]
    Timeout { tool: &'static str, secs: u64 },
    /// ffmpeg exited unsuccessfully; `stderr` holds its last lines.
    #[error("ffmpeg failed ({status}) converting {}; its last messages:\n{}", input.display(), stderr.join("\n"))]
    Failed {
        input: PathBuf,
        status: String,
        stderr: Vec<String>,
    },
    /// The conversion ran past its time limit; ffmpeg's process group was killed and the
    /// partial output removed. The message says how long, for how much media, which key to raise.
    #[error("{0}")]
    TimeLimit(String),
    /// The output path is not inside the converter's work dir; ffmpeg was not started.
    #[error(
        "refusing to let ffmpeg write {} outside the work dir {}; this is a bug in the caller",
        output.display(), work_dir.display()
    )]
    OutsideWorkDir { output: PathBuf, work_dir: PathBuf },
    /// The conversion was cancelled; ffmpeg was killed and the partial output removed.
    #[error("conversion cancelled")]
    Cancelled,
    /// A segment given to the farm as a sub-item failed for good (its reason).
    #[error("a segment could not be encoded: {0}")]
    Segments(String),
    /// The output does not look like what the profile promises.
    #[error("output check failed: {0}")]
    OutputCheck(String),
    /// The output is larger than its source (and `[converter] allow_larger` is off): the same
    /// profile makes the same output on any converter.
    #[error("output check failed: {0}")]
    LargerThanSource(String),
}

/// How ffmpeg words ENOSPC (`strerror`) in its log: its exit status says only "failed", so its
/// last messages are the one sign that the disk filled up.
const FFMPEG_ENOSPC: &str = "No space left on device";

impl FfmpegError {
    /// Whether the disk filled up: a local write failed with ENOSPC, or ffmpeg stopped because
    /// of it.
    pub fn is_disk_full(&self) -> bool {
        match self {
            FfmpegError::Io { source, .. } => source.raw_os_error() == Some(libc::ENOSPC),
            FfmpegError::Failed { stderr, .. } => stderr.iter().any(|l| l.contains(FFMPEG_ENOSPC)),
            _ => false,
        }
    }

    /// Whether the failure would repeat on any converter, so the item ends at once instead
    /// of being tried again (listed in `docs/configuration.md` beside `max_attempts`). A
    /// source that does not decode is the other certain failure; the job decides it after an
    /// ffmpeg failure (`ffmpeg::source_decodes`), since ffmpeg's status alone does not tell.
    pub fn is_certain(&self) -> bool {
        matches!(self, FfmpegError::LargerThanSource(_))
    }

    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        FfmpegError::Io {
            action: action.into(),
            source,
        }
    }
}
