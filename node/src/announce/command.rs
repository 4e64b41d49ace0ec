//! The `[notify] on_done` command: `sh -c <command>` with the item's JSON (as `dmc status
//! --json` prints it) on stdin and `DMC_ITEM_ID`, `DMC_STATUS`, `DMC_PHASE`, `DMC_FILE_NAME`
//! and `DMC_OUTPUT_PATH` set; killed (with its process group) after the time limit.

use std::process::Stdio;
use std::time::Duration;

use crate::control::api::ItemView;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Why `on_done` did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum OnDoneError {
    #[error("cannot start `sh -c {cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` ran longer than {secs} s and was killed; make it quicker or raise [notify] timeout")]
    Timeout { cmd: String, secs: u64 },
    #[error("`{cmd}` failed ({status})")]
    Failed { cmd: String, status: String },
    #[error("waiting for `{cmd}`: {source}")]
    Wait { cmd: String, source: std::io::Error },
}

/// Runs `cmd` for `item` and waits for it, at most `timeout`.
pub async fn run_on_done(cmd: &str, item: &ItemView, timeout: Duration) -> Result<(), OnDoneError> {
    // As `dmc status --json` prints it.
    let mut json = serde_json::to_vec_pretty(item).unwrap_or_default();
    json.push(b'\n');
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .env("DMC_ITEM_ID", item.item_id.to_string())
        .env("DMC_STATUS", item.status.as_str())
        .env("DMC_PHASE", item.phase.as_str())
        .env("DMC_FILE_NAME", &item.file_name)
        .env("DMC_OUTPUT_PATH", item.output_path.as_deref().unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so the whole command (and its children) can be killed.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = c.spawn().map_err(|source| OnDoneError::Spawn {
        cmd: cmd.to_string(),
        source,
    })?;
    let pid = child.id();
    let work = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its stdin is fine.
            let _ = stdin.write_all(&json).await;
            let _ = stdin.shutdown().await;
        }
        child.wait().await
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(OnDoneError::Failed {
            cmd: cmd.to_string(),
            status: status.to_string(),
        }),
        Ok(Err(source)) => Err(OnDoneError::Wait {
            cmd: cmd.to_string(),
            source,
        }),
        Err(_) => {
            if let Some(pid) = pid {
                // SAFETY: kill(2) on the process group this function created.
                unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
            }
            let _ = child.wait().await;
            Err(OnDoneError::Timeout {
                cmd: cmd.to_string(),
                secs: timeout.as_secs(),
            })
        }
    }
}
