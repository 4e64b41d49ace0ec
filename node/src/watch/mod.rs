//! Observed folders (`[[watch]]`): one task per entry finds new media files through inotify
//! and periodic full scans, waits until each has settled, offers it through the core (as
//! `dmc offer` does), and records it in the store so it is never offered twice.

pub mod after;
pub mod filter;
pub mod scan;
pub mod settle;
mod task;

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{AfterDelivery, Config, WatchConfig};
use crate::core::{CoreHandle, EndedReceiver};
use crate::store::Store;

pub use after::{after_delivered, catch_up, follow_deliveries};
pub use filter::{media_by_extension, Exclusions};
pub use scan::{open_settled, SettledOpenError};

/// Requests to a watch task.
pub(crate) enum WatchCmd {
    /// Scan the folder in full now; answers once the scan's files are followed.
    Rescan(oneshot::Sender<()>),
}

/// A cloneable handle to the watch tasks of a node.
#[derive(Clone, Default)]
pub struct WatchHandle {
    tasks: Vec<(PathBuf, mpsc::Sender<WatchCmd>)>,
}

impl WatchHandle {
    /// The watched folders.
    pub fn folders(&self) -> Vec<PathBuf> {
        self.tasks.iter().map(|(p, _)| p.clone()).collect()
    }

    /// Makes every watch task scan its folder in full now; returns once each has.
    pub async fn rescan(&self) {
        for (_, tx) in &self.tasks {
            let (reply, done) = oneshot::channel();
            if tx.send(WatchCmd::Rescan(reply)).await.is_ok() {
                let _ = done.await;
            }
        }
    }
}

/// Folders of this node whose files are never offered: its output, work and data folders,
/// and every watch entry's `move:` folder.
pub fn exclusions(config: &Config) -> Exclusions {
    let mut dirs = vec![
        config.node.output_dir.clone(),
        config.converter.work_dir.clone(),
        config.data_dir.clone(),
    ];
    for w in &config.watch {
        if let AfterDelivery::Move(d) = &w.after_delivery {
            dirs.push(d.clone());
        }
    }
    Exclusions::new(dirs)
}

/// Starts one task per `[[watch]]` entry; they stop when `shutdown` turns true. Items
/// delivered while a previous run had not yet moved or deleted their source are caught up.
/// The `after_delivery` of items delivered from now on follows `ended` (the core's channel of
/// ended items), also for items watched by an earlier configuration.
pub fn spawn_watches(
    config: &Config,
    core: CoreHandle,
    store: Store,
    ended: EndedReceiver,
    shutdown: watch::Receiver<bool>,
) -> WatchHandle {
    follow_deliveries(store.clone(), core.clone(), ended);
    let excl = exclusions(config);
    let mut handle = WatchHandle::default();
    if config.watch.is_empty() {
        return handle;
    }
    {
        let (store, core) = (store.clone(), core.clone());
        tokio::spawn(async move { catch_up(&store, &core).await });
    }
    for w in &config.watch {
        if excl.excludes(&w.path) {
            tracing::warn!(
                "watched folder {} is dmc's own (output, work or data folder): nothing in it \
                 is offered; watch another folder",
                w.path.display()
            );
        }
        let (tx, rx) = mpsc::channel(8);
        handle.tasks.push((w.path.clone(), tx));
        let t = task::WatchTask::new(w.clone(), excl.clone(), core.clone(), store.clone());
        tokio::spawn(t.run(rx, shutdown.clone()));
    }
    handle
}

/// The entry's settings as one log line.
fn describe(w: &WatchConfig) -> String {
    format!(
        "{} (profile {}, {}{}, settle {}, after delivery {})",
        w.path.display(),
        w.profile,
        w.media_types
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join("/"),
        if w.recursive { ", recursive" } else { "" },
        crate::config::format_duration(w.settle),
        w.after_delivery.to_stored()
    )
}

#[cfg(test)]
mod tests;
