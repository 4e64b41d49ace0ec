//! One watch entry's task: inotify events and periodic scans feed the settler; settled files
//! are offered through the core and recorded in the store.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::filter::{in_scope, wanted, Exclusions};
use super::scan::{file_key, scan};
use super::settle::Settler;
use super::{describe, WatchCmd};
use crate::config::{AfterDelivery, WatchConfig};
use crate::core::{now_ms, CoreError, CoreHandle};
use crate::store::{FileKey, Store, WatchedRow};

/// inotify event batches that may wait for the task; beyond that a rescan catches up.
const EVENT_QUEUE: usize = 1024;
/// Keys remembered in memory as already offered (beyond that the store answers).
const MAX_KNOWN: usize = 200_000;

pub(super) struct WatchTask {
    cfg: WatchConfig,
    excl: Exclusions,
    core: CoreHandle,
    store: Store,
    settler: Settler,
    /// Keys the store holds, so rescans do not ask it again.
    known: HashSet<FileKey>,
    watcher: Option<notify::RecommendedWatcher>,
    events_tx: mpsc::Sender<Vec<PathBuf>>,
    events_rx: mpsc::Receiver<Vec<PathBuf>>,
    /// Set when inotify lost events (queue overflow, error): a full scan is due.
    overflow: Arc<AtomicBool>,
    /// The folder's last problem was logged (not repeated every rescan while it lasts).
    warned: bool,
}

impl WatchTask {
    pub(super) fn new(cfg: WatchConfig, excl: Exclusions, core: CoreHandle, store: Store) -> Self {
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        WatchTask {
            settler: Settler::new(cfg.settle),
            cfg,
            excl,
            core,
            store,
            known: HashSet::new(),
            watcher: None,
            events_tx,
            events_rx,
            overflow: Arc::new(AtomicBool::new(false)),
            warned: false,
        }
    }

    pub(super) async fn run(
        mut self,
        mut cmds: mpsc::Receiver<WatchCmd>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        info!("watching {}", describe(&self.cfg));
        self.ensure_watcher();
        self.rescan().await;
        let mut rescan = tokio::time::interval_at(
            tokio::time::Instant::now() + self.cfg.rescan,
            self.cfg.rescan,
        );
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let step = (self.cfg.settle / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut settle = tokio::time::interval(step);
        settle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                Some(cmd) = cmds.recv() => match cmd {
                    WatchCmd::Rescan(reply) => {
                        self.ensure_watcher();
                        self.rescan().await;
                        let _ = reply.send(());
                    }
                },
                Some(paths) = self.events_rx.recv() => {
                    self.on_paths(paths);
                    if self.overflow.swap(false, Ordering::Relaxed) {
                        debug!("{}: inotify lost events; scanning", self.cfg.path.display());
                        self.rescan().await;
                    }
                }
                _ = rescan.tick() => {
                    self.ensure_watcher();
                    self.rescan().await;
                }
                _ = settle.tick(), if !self.settler.is_empty() => self.offer_settled().await,
            }
        }
        debug!("stopped watching {}", self.cfg.path.display());
    }

    /// Sets up inotify on the folder if it is not yet (the folder may appear later).
    fn ensure_watcher(&mut self) {
        if self.watcher.is_some() {
            return;
        }
        let tx = self.events_tx.clone();
        let overflow = self.overflow.clone();
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if ev.need_rescan() {
                    overflow.store(true, Ordering::Relaxed);
                }
                if tx.try_send(ev.paths).is_err() {
                    overflow.store(true, Ordering::Relaxed);
                }
            }
            Err(_) => {
                overflow.store(true, Ordering::Relaxed);
                let _ = tx.try_send(Vec::new());
            }
        };
        let mode = if self.cfg.recursive {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        let made = notify::recommended_watcher(handler)
            .and_then(|mut w| w.watch(&self.cfg.path, mode).map(|()| w));
        match made {
            Ok(w) => {
                self.watcher = Some(w);
                self.warned = false;
            }
            Err(e) if self.warned => debug!("cannot watch {}: {e}", self.cfg.path.display()),
            Err(e) => warn!(
                "cannot watch {} ({e}); it is scanned every {} instead. Create the folder or \
                 fix [[watch]] path; for inotify limits raise fs.inotify.max_user_watches",
                self.cfg.path.display(),
                crate::config::format_duration(self.cfg.rescan)
            ),
        }
    }

    fn on_paths(&mut self, paths: Vec<PathBuf>) {
        let now = Instant::now();
        for p in paths {
            if p == self.cfg.path && !p.is_dir() {
                // The folder itself went away: its inotify watch is gone with it; the next
                // rescan sets up a new one once it is back.
                self.watcher = None;
                continue;
            }
            if p.is_dir() {
                // A folder appeared (or moved in) under a recursive watch: its files may
                // predate the new inotify watch.
                if self.cfg.recursive {
                    self.overflow.store(true, Ordering::Relaxed);
                }
                continue;
            }
            if !in_scope(&self.cfg.path, self.cfg.recursive, &p)
                || !wanted(&p, &self.cfg.media_types, &self.excl)
            {
                continue;
            }
            let key = file_key(&p);
            if key.is_some_and(|k| self.known.contains(&k)) {
                continue;
            }
            self.settler.observe(&p, key, now);
        }
    }

    /// Scans the folder in full and follows every file not offered yet.
    async fn rescan(&mut self) {
        let (dir, recursive, media, excl) = (
            self.cfg.path.clone(),
            self.cfg.recursive,
            self.cfg.media_types.clone(),
            self.excl.clone(),
        );
        let found = tokio::task::spawn_blocking(move || scan(&dir, recursive, &media, &excl)).await;
        let files = match found {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => {
                if !self.warned {
                    warn!(
                        "cannot scan watched folder {}: {e}; trying again every {}",
                        self.cfg.path.display(),
                        crate::config::format_duration(self.cfg.rescan)
                    );
                }
                self.warned = true;
                return;
            }
            Err(e) => {
                warn!("scanning {}: {e}", self.cfg.path.display());
                return;
            }
        };
        let now = Instant::now();
        for (path, key) in files {
            if self.known.contains(&key) {
                continue;
            }
            match self.store.watched_seen(key).await {
                Ok(true) => {
                    self.remember(key);
                    self.settler.forget(&path);
                }
                Ok(false) => {
                    self.settler.observe(&path, Some(key), now);
                }
                Err(e) => {
                    warn!("cannot check {} in the store: {e}", path.display());
                    return;
                }
            }
        }
    }

    fn remember(&mut self, key: FileKey) {
        if self.known.len() >= MAX_KNOWN {
            self.known.clear();
        }
        self.known.insert(key);
    }

    /// Re-reads the followed files and offers those that have settled.
    async fn offer_settled(&mut self) {
        let now = Instant::now();
        for p in self.settler.paths() {
            let key = file_key(&p);
            self.settler.observe(&p, key, now);
        }
        for (path, key) in self.settler.take_settled(now) {
            self.offer(path, key).await;
        }
    }

    async fn offer(&mut self, path: PathBuf, key: FileKey) {
        if self.known.contains(&key) {
            return;
        }
        match self.store.watched_seen(key).await {
            Ok(false) => {}
            Ok(true) => {
                self.remember(key);
                return;
            }
            Err(e) => {
                warn!("cannot check {} in the store: {e}", path.display());
                return;
            }
        }
        let mut after = self.cfg.after_delivery.clone();
        let item_id = match self
            .core
            .offer_settled(
                path.clone(),
                key,
                Some(self.cfg.profile.clone()),
                self.cfg.priority,
            )
            .await
        {
            Ok(outcome) if outcome.existing => {
                info!(
                    item = %outcome.item.item_id,
                    "watched file {} has the content of an item offered before: not offered again",
                    path.display()
                );
                // Its source is the earlier one and this copy is left alone, unless the
                // earlier offer was this very file, made just before a crash kept it from
                // being recorded.
                let ours = matches!(
                    self.store.watched_by_item(outcome.item.item_id).await,
                    Ok(None)
                );
                if !ours {
                    after = AfterDelivery::Keep;
                }
                Some(outcome.item.item_id)
            }
            Ok(outcome) => {
                info!(item = %outcome.item.item_id, "offered watched file {}", path.display());
                Some(outcome.item.item_id)
            }
            Err(CoreError::BadRequest(why)) => {
                // Not offerable as it is (not media, unreadable, changed meanwhile): this
                // version is never tried again; a changed file is a new version.
                warn!("watched file {} not offered: {why}", path.display());
                after = AfterDelivery::Keep;
                None
            }
            Err(CoreError::ShuttingDown) => return,
            Err(e) => {
                // Passing: the next scan tries again.
                warn!("cannot offer watched file {} now: {e}", path.display());
                return;
            }
        };
        let row = WatchedRow {
            key,
            path: path.to_string_lossy().into_owned(),
            watch_dir: self.cfg.path.to_string_lossy().into_owned(),
            item_id,
            after: after.to_stored(),
            offered_at: now_ms(),
            after_done: false,
        };
        match self.store.put_watched(row).await {
            Ok(_) => self.remember(key),
            Err(e) => warn!("cannot record watched file {}: {e}", path.display()),
        }
    }
}
