//! Start-up clean-up of what a previous run of this node left behind: ffmpeg processes of its
//! jobs (only its own: the pid's command must be ffmpeg and its start time the recorded one),
//! partial outputs in the work dir, job folders and `.part` files no item needs. Each thing
//! cleaned is logged.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_protocol::engine::Engine;
use dmc_protocol::wire::FileRole;
use dmc_protocol::{Epoch, ItemId, Phase};
use tracing::{debug, info, warn};

use super::layout::{
    is_partial_output, job_dir, parse_delivery_part, parse_job_dir, parse_segment_store,
};
use crate::store::{JobRow, LocalFile, Store};

/// How long a killed process may take to go away before the clean-up moves on.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What the clean-up did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Pids of ffmpeg processes of the previous run that were killed.
    pub killed: Vec<u32>,
    /// Files and folders removed.
    pub removed: Vec<PathBuf>,
}

/// Where to clean.
#[derive(Clone, Debug)]
pub struct CleanupDirs {
    /// The converter's work dir (`None`: not a converter).
    pub work_dir: Option<PathBuf>,
    /// The folder deliveries are written to (their `.dmc-<item>-<epoch>.part` files).
    pub output_dir: PathBuf,
}

/// Whether the job folder of (item, epoch) is still needed: its job is wanted here, or its
/// result is kept for the origin. `held`: this node runs the job or holds its result file.
/// The one rule for both the start-up clean-up and the core's periodic sweep.
pub(crate) fn job_dir_needed(engine: &Engine, item: &ItemId, epoch: Epoch, held: bool) -> bool {
    held || engine.job_wanted(item, epoch) || engine.result_wanted(item, epoch)
}

/// Removes, off the calling task, the job folders in `work_dir` that `needed` does not keep:
/// what a cancelled, failed or crashed job left behind. Only `<item_id>.<epoch>` folders are
/// touched.
pub(crate) fn sweep_work_dir(work_dir: &Path, needed: impl Fn(&ItemId, Epoch) -> bool) {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return;
    };
    let mut leftovers = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some((item, epoch)) = name.to_str().and_then(parse_job_dir) else {
            continue;
        };
        if !needed(&item, epoch) {
            info!(item = %item, "removing leftover job folder {}", entry.path().display());
            leftovers.push(entry.path());
        }
    }
    // Deleting a large source takes a while: keep it off the core task.
    if !leftovers.is_empty() {
        tokio::task::spawn_blocking(move || {
            for dir in leftovers {
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    warn!("cannot remove {}: {e}", dir.display());
                }
            }
        });
    }
}

/// Removes, off the calling task, the segment stores in `work_dir` of items `open` says have
/// ended (or are unknown): their checkpoints can no longer be used.
pub(crate) fn sweep_segment_stores(work_dir: &Path, open: impl Fn(&ItemId) -> bool) {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return;
    };
    let ended: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .and_then(parse_segment_store)
                .is_some_and(|item| !open(&item))
        })
        .map(|e| e.path())
        .collect();
    if !ended.is_empty() {
        tokio::task::spawn_blocking(move || {
            for dir in ended {
                match std::fs::remove_dir_all(&dir) {
                    Ok(()) => info!("removed the segments of an ended item: {}", dir.display()),
                    Err(e) => warn!("cannot remove {}: {e}", dir.display()),
                }
            }
        });
    }
}

/// Runs the clean-up; call it before the core starts (no job of this run exists yet).
pub async fn at_start(
    store: &Store,
    engine: &Engine,
    dirs: &CleanupDirs,
    local_files: &[LocalFile],
) -> Cleaned {
    let mut cleaned = Cleaned::default();
    match store.jobs().await {
        Ok(rows) => {
            for row in rows {
                if let Some(pid) = stop_leftover(&row, dirs.work_dir.as_deref()).await {
                    cleaned.killed.push(pid);
                }
                if let Err(e) = store.job_ended(row.item_id, row.epoch).await {
                    warn!("cannot forget the job of item {}: {e}", row.item_id);
                }
            }
        }
        Err(e) => warn!("cannot read the jobs of the previous run: {e}"),
    }
    let results: HashSet<(ItemId, Epoch)> = local_files
        .iter()
        .filter(|f| f.role == FileRole::Result)
        .map(|f| (f.item_id, f.epoch))
        .collect();
    let needed_job = |item: &ItemId, epoch: Epoch| {
        job_dir_needed(engine, item, epoch, results.contains(&(*item, epoch)))
    };
    let me = engine.me().clone();
    let needed_delivery = |item: &ItemId, epoch: Epoch| {
        engine.item(item).is_some_and(|i| {
            i.origin == me
                && i.epoch() == Some(epoch)
                && matches!(i.phase, Phase::Converted | Phase::Delivering)
        })
    };
    let work_dir = dirs.work_dir.clone();
    let output_dir = dirs.output_dir.clone();
    let (keep_jobs, keep_deliveries) =
        scan_needs(&work_dir, &output_dir, needed_job, needed_delivery);
    let removed = tokio::task::spawn_blocking(move || {
        let mut removed = Vec::new();
        if let Some(w) = work_dir.as_deref() {
            clean_work_dir(w, &keep_jobs, &mut removed);
        }
        clean_output_dir(&output_dir, &keep_deliveries, &mut removed);
        removed
    })
    .await
    .unwrap_or_default();
    cleaned.removed = removed;
    if cleaned.killed.is_empty() && cleaned.removed.is_empty() {
        debug!("start-up clean-up: nothing left by the previous run");
    } else {
        info!(
            "start-up clean-up: stopped {} ffmpeg process(es), removed {} file(s) or folder(s)",
            cleaned.killed.len(),
            cleaned.removed.len()
        );
    }
    cleaned
}

/// The job folders and delivery `.part` files found that items still need.
fn scan_needs(
    work_dir: &Option<PathBuf>,
    output_dir: &Path,
    needed_job: impl Fn(&ItemId, Epoch) -> bool,
    needed_delivery: impl Fn(&ItemId, Epoch) -> bool,
) -> (HashSet<String>, HashSet<String>) {
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let jobs = work_dir
        .as_deref()
        .map(names)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| parse_job_dir(n).is_some_and(|(i, e)| needed_job(&i, e)))
        .collect();
    let deliveries = names(output_dir)
        .into_iter()
        .filter(|n| parse_delivery_part(n).is_some_and(|(i, e)| needed_delivery(&i, e)))
        .collect();
    (jobs, deliveries)
}

/// Removes job folders no item needs, and partial outputs (`*.part` other than a source
/// being fetched, which resumes) in the folders still needed.
fn clean_work_dir(work_dir: &Path, keep: &HashSet<String>, removed: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(work_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if parse_job_dir(name).is_none() {
            continue;
        }
        let path = entry.path();
        if !keep.contains(name) {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {
                    info!(
                        "start-up clean-up: removed job folder {} (no item needs it)",
                        path.display()
                    );
                    removed.push(path);
                }
                Err(e) => warn!("start-up clean-up: cannot remove {}: {e}", path.display()),
            }
            continue;
        }
        let Ok(files) = std::fs::read_dir(&path) else {
            continue;
        };
        for f in files.flatten() {
            let fname = f.file_name();
            let Some(fname) = fname.to_str() else {
                continue;
            };
            if is_partial_output(fname) {
                let p = f.path();
                match std::fs::remove_file(&p) {
                    Ok(()) => {
                        info!("start-up clean-up: removed partial output {}", p.display());
                        removed.push(p);
                    }
                    Err(e) => warn!("start-up clean-up: cannot remove {}: {e}", p.display()),
                }
            }
        }
    }
}

/// Removes delivery `.part` files no item needs.
fn clean_output_dir(output_dir: &Path, keep: &HashSet<String>, removed: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(output_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if parse_delivery_part(name).is_none() || keep.contains(name) {
            continue;
        }
        // Only a regular file is a leftover of ours; a link or folder named like one is not.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let p = entry.path();
        match std::fs::remove_file(&p) {
            Ok(()) => {
                info!(
                    "start-up clean-up: removed transfer file {} (no item needs it)",
                    p.display()
                );
                removed.push(p);
            }
            Err(e) => warn!("start-up clean-up: cannot remove {}: {e}", p.display()),
        }
    }
}

/// Kills the job's ffmpeg if it still runs from the previous run; returns its pid if it did.
async fn stop_leftover(row: &JobRow, work_dir: Option<&Path>) -> Option<u32> {
    let pid = row.pid;
    let ours = match row.proc_start {
        Some(t) => is_ffmpeg(pid) && proc_start_time(pid) == Some(t),
        // Recorded without a start time (older version): only if its command names the
        // job's own folder.
        None => {
            let dir = work_dir.map(|w| job_dir(w, row.item_id, row.epoch));
            is_ffmpeg(pid)
                && dir.is_some_and(|d| {
                    cmdline(pid).is_some_and(|args| {
                        let d = d.to_string_lossy().into_owned();
                        args.iter().any(|a| a.contains(&d))
                    })
                })
        }
    };
    if !ours {
        debug!(pid, item = %row.item_id, "job process of the previous run is gone");
        return None;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return None;
    };
    // SAFETY: kill(2) on a pid checked above to be this node's ffmpeg (command and start time).
    if unsafe { libc::kill(raw, libc::SIGKILL) } != 0 {
        warn!(
            pid,
            "cannot stop ffmpeg left by the previous run: {}",
            std::io::Error::last_os_error()
        );
        return None;
    }
    let deadline = tokio::time::Instant::now() + KILL_WAIT;
    while alive(pid) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    info!(pid, item = %row.item_id, "start-up clean-up: stopped ffmpeg left by the previous run");
    Some(pid)
}

/// The start time of process `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22).
pub fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses:
    // fields after it start after the last `)`. Field 3 is the first after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Whether `pid` runs and is not a zombie.
fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// The arguments of process `pid`.
fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// Whether `pid` runs ffmpeg (its argv[0] ends with `ffmpeg`).
fn is_ffmpeg(pid: u32) -> bool {
    cmdline(pid)
        .and_then(|a| a.into_iter().next())
        .is_some_and(|a0| a0.ends_with("ffmpeg"))
}

#[cfg(test)]
mod tests;
