//! Keeping the host awake while conversions run: a `systemd-inhibit … sleep infinity` child
//! holds a logind sleep/idle inhibitor lock while at least one job runs, and is stopped when
//! none does. Where systemd-inhibit is missing or fails, one info line says the host may sleep.

use std::process::Stdio;

use tokio::process::{Child, Command};
use tracing::{debug, info};

/// The inhibitor program.
const INHIBIT: &str = "systemd-inhibit";

/// The inhibitor lock, held while jobs run.
#[derive(Debug, Default)]
pub(crate) struct Awake {
    child: Option<Child>,
    /// Jobs running when the lock was taken (named in its reason).
    count: usize,
    /// systemd-inhibit is missing or failed: do not try again.
    unavailable: bool,
}

impl Awake {
    /// Takes or drops the lock for `running` jobs.
    pub(crate) fn update(&mut self, running: usize) {
        if let Some(c) = self.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                self.child = None;
                self.give_up(&format!("{INHIBIT} exited ({status})"));
            }
        }
        if running == 0 {
            if let Some(c) = self.child.take() {
                stop(c);
                debug!("no conversion runs: the host may sleep again");
            }
            return;
        }
        if self.unavailable || (self.child.is_some() && self.count == running) {
            return;
        }
        match spawn_inhibitor(running) {
            Ok(c) => {
                if self.child.is_none() {
                    info!("keeping the host awake while converting ({INHIBIT})");
                }
                // The new lock is held before the old one goes.
                if let Some(old) = self.child.replace(c) {
                    stop(old);
                }
                self.count = running;
            }
            Err(e) => self.give_up(&format!("cannot run {INHIBIT}: {e}")),
        }
    }

    fn give_up(&mut self, why: &str) {
        if !self.unavailable {
            self.unavailable = true;
            info!("{why}: the host may sleep during conversions (no systemd-logind inhibitor)");
        }
    }
}

fn spawn_inhibitor(running: usize) -> std::io::Result<Child> {
    let mut cmd = Command::new(INHIBIT);
    cmd.args([
        "--what=sleep:idle",
        "--who=dmc",
        &format!("--why=converting {running} item(s)"),
        "--mode=block",
        "sleep",
        "infinity",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .process_group(0)
    .kill_on_drop(true);
    // The lock goes with the node, even when the node is killed.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Stops the inhibitor and the `sleep` it runs (its own process group).
fn stop(mut child: Child) {
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) on the process group this node created for the inhibitor.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.start_kill();
}

impl Drop for Awake {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            stop(c);
        }
    }
}
