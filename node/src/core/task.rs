//! The core event loop: one task owns the engine and everything derived from it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dmc_protocol::engine::{Effect, Engine, Event};
use dmc_protocol::wire::{ErrorCode, FileRole, Request, Response};
use dmc_protocol::{Epoch, ItemId, Millis, NodeId, Offer, ProgressInfo, RecordBody};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::handle::{Command, CoreError, CoreHandle};
use super::now_ms;
use crate::config::Config;
use crate::net::{NetClient, NetEvent};
use crate::store::{LocalFile, Store};
use crate::transfer::serve::ServedFile;

/// How often the engine re-derives what should run.
const TICK: Duration = Duration::from_secs(1);
/// A gap between ticks longer than this means the machine slept or the node was frozen.
const RESUME_GAP_MS: Millis = 15_000;
/// After a delivery or a job failed for a passing reason, wait this long before trying again.
const RETRY_AFTER_MS: Millis = 5_000;

/// What the core needs to run.
pub struct CoreParts {
    pub engine: Engine,
    pub store: Store,
    pub net: NetClient,
    pub net_events: mpsc::Receiver<NetEvent>,
    pub config: Arc<Config>,
    pub data_dir: PathBuf,
    /// Profiles this node's ffmpeg can run (empty when not a converter).
    pub runnable_profiles: Vec<String>,
    pub local_files: Vec<LocalFile>,
    /// Peers seen before, with their last addresses.
    pub known_peers: Vec<crate::store::PeerRow>,
}

/// Messages from tasks the core spawned.
pub(crate) enum Internal {
    SyncPage {
        from: NodeId,
        records: Vec<dmc_protocol::Record>,
        more: bool,
    },
    /// A peer's summary, answering our digest: it differs from ours.
    PeerSummary {
        from: NodeId,
        summary: dmc_protocol::Summary,
    },
    OfferPrepared {
        prepared: Result<(Offer, LocalFile), CoreError>,
        reply: oneshot::Sender<Result<crate::control::api::OfferOutcome, CoreError>>,
    },
    Evaluated {
        item_id: ItemId,
        epoch: Epoch,
        refusal: Option<String>,
    },
    JobProgress {
        item_id: ItemId,
        epoch: Epoch,
        progress: ProgressInfo,
    },
    JobPid {
        item_id: ItemId,
        epoch: Epoch,
        pid: u32,
    },
    JobDone {
        item_id: ItemId,
        epoch: Epoch,
        outcome: JobOutcome,
    },
    DeliverProgress {
        item_id: ItemId,
        fraction: f64,
    },
    DeliverDone {
        item_id: ItemId,
        epoch: Epoch,
        /// The output path and SHA-512, or why it must be tried again.
        outcome: Result<(String, String), String>,
    },
    SourceChanged {
        item_id: ItemId,
        error: String,
    },
}

/// How a converter job ended.
pub(crate) enum JobOutcome {
    Converted(dmc_protocol::FileInfo, LocalFile),
    /// The item cannot be converted here: report it.
    Failed(String),
    /// A passing problem (peer away, …): try again later.
    Retry(String),
    Cancelled,
}

pub(crate) struct Core {
    pub(crate) engine: Engine,
    pub(crate) store: Store,
    pub(crate) net: NetClient,
    pub(crate) config: Arc<Config>,
    pub(crate) data_dir: PathBuf,
    pub(crate) runnable_profiles: Vec<String>,
    /// Files this node holds for items: its own sources (epoch 0) and results it made.
    pub(crate) files: HashMap<(ItemId, FileRole, Epoch), Arc<ServedFile>>,
    /// Running converter jobs, with the token that stops each.
    pub(crate) jobs: HashMap<(ItemId, Epoch), crate::ffmpeg::CancelToken>,
    /// Disk room promised to accepted jobs.
    pub(crate) reservations: super::reserve::Reservations,
    /// Keeps the host awake while jobs run.
    awake: super::awake::Awake,
    evaluating: HashSet<(ItemId, Epoch)>,
    pub(crate) delivering: HashMap<ItemId, f64>,
    retry_at: HashMap<(ItemId, Epoch), Millis>,
    pub(crate) listen_addrs: Vec<Multiaddr>,
    pub(crate) peer_addrs: HashMap<NodeId, (Vec<String>, Millis)>,
    /// The address of each connected peer's first connection, as seen from here.
    pub(crate) conn_addrs: HashMap<NodeId, String>,
    /// Peers refused (another network key, not in `allowed_peers`), newest last, bounded.
    pub(crate) rejected: Vec<super::peers::RejectedPeer>,
    pub(crate) internal: mpsc::Sender<Internal>,
    fatal: Option<String>,
    /// Shutting down: start no job, evaluation or delivery.
    pub(crate) stopping: bool,
    /// While stopping: requests under way, awaited briefly before exit.
    pub(crate) pending_sends: Vec<tokio::task::JoinHandle<()>>,
    ticks: u64,
    /// Wall-clock time of the last tick: a jump far beyond the tick interval means the
    /// machine slept or the process was frozen.
    last_tick_at: Millis,
}

/// Starts the core task; returns its handle and a future that ends when the node stops.
pub fn spawn_core(
    parts: CoreParts,
    shutdown: watch::Receiver<bool>,
) -> (CoreHandle, tokio::task::JoinHandle<Result<(), String>>) {
    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (int_tx, int_rx) = mpsc::channel(1024);
    let mut core = Core {
        engine: parts.engine,
        store: parts.store,
        net: parts.net,
        config: parts.config,
        data_dir: parts.data_dir,
        runnable_profiles: parts.runnable_profiles,
        files: HashMap::new(),
        jobs: HashMap::new(),
        reservations: Default::default(),
        awake: Default::default(),
        evaluating: HashSet::new(),
        delivering: HashMap::new(),
        retry_at: HashMap::new(),
        listen_addrs: Vec::new(),
        conn_addrs: HashMap::new(),
        rejected: Vec::new(),
        peer_addrs: HashMap::new(),
        internal: int_tx,
        fatal: None,
        stopping: false,
        pending_sends: Vec::new(),
        ticks: 0,
        last_tick_at: now_ms(),
    };
    for p in parts.known_peers {
        core.peer_addrs.insert(p.node_id, (p.addrs, p.last_seen));
    }
    for f in parts.local_files {
        core.add_local_file(f);
    }
    let join =
        tokio::spawn(async move { core.run(cmd_rx, parts.net_events, int_rx, shutdown).await });
    (CoreHandle { tx: cmd_tx }, join)
}

impl Core {
    async fn run(
        &mut self,
        mut cmds: mpsc::Receiver<Command>,
        mut net_events: mpsc::Receiver<NetEvent>,
        mut internal: mpsc::Receiver<Internal>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), String> {
        self.feed(Event::Start).await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if let Some(e) = self.fatal.take() {
                self.stop_all_jobs();
                return Err(e);
            }
            tokio::select! {
                Some(cmd) = cmds.recv() => self.command(cmd).await,
                Some(ev) = net_events.recv() => self.net_event(ev).await,
                Some(msg) = internal.recv() => self.internal(msg).await,
                _ = tick.tick() => self.tick().await,
                _ = shutdown.changed() => break,
            }
        }
        self.shut_down(&mut internal).await;
        Ok(())
    }

    fn stop_all_jobs(&mut self) {
        for job in self.jobs.values() {
            job.cancel();
        }
    }

    /// How this node pulls files (`[transfer]` settings).
    pub(crate) fn pull_options(&self) -> crate::transfer::PullOptions {
        crate::transfer::PullOptions {
            max_rate: self.config.transfer.max_rate,
            ..Default::default()
        }
    }

    pub(crate) fn add_local_file(&mut self, f: LocalFile) {
        let key = (f.item_id, f.role, f.epoch);
        let file = ServedFile::new(
            f.path,
            f.file_size,
            f.mtime_ns,
            f.chunk_size,
            Arc::new(f.hashes),
        );
        self.files.insert(key, Arc::new(file));
    }

    /// Feeds an event to the engine and carries out what it asks.
    pub(crate) async fn feed(&mut self, event: Event) {
        let effects = self.engine.handle(event, now_ms());
        self.carry_out(effects).await;
    }

    async fn carry_out(&mut self, effects: Vec<Effect>) {
        let effects = self.order_jobs(effects);
        for effect in effects {
            match effect {
                Effect::Persist(records) => {
                    let ended = self.ended_by(&records);
                    if let Err(e) = self.store.put_records(records).await {
                        // Never send or act on a record we could not store.
                        self.fatal = Some(format!("cannot store records: {e}"));
                        return;
                    }
                    for item_id in ended {
                        self.item_ended(item_id);
                    }
                }
                Effect::Send { to, request } => self.send(to, request),
                Effect::Evaluate { item_id, epoch } => self.evaluate(item_id, epoch),
                Effect::RunJob {
                    item_id,
                    epoch,
                    origin,
                } => self.start_job(item_id, epoch, origin),
                Effect::Deliver {
                    item_id,
                    epoch,
                    converter,
                } => self.start_delivery(item_id, epoch, converter),
                Effect::Refused { from, reason } => {
                    warn!(peer = %from, "refused a record: {reason}")
                }
                Effect::LeaseExpired {
                    item_id,
                    silent,
                    silent_ms,
                    next,
                    epoch,
                } => warn!(
                    item = %item_id,
                    converter = %silent,
                    "no word from the converter for {} s: item reassigned to {next} (attempt {epoch})",
                    silent_ms / 1000
                ),
            }
        }
    }

    /// Puts the `RunJob` effects in queue order (see [`super::queue::order_run_jobs`]).
    fn order_jobs(&self, effects: Vec<Effect>) -> Vec<Effect> {
        super::queue::order_run_jobs(effects, |id| {
            self.engine
                .item(id)
                .map(|i| (i.offer.priority, i.created_at))
        })
    }

    fn send(&mut self, to: NodeId, request: Request) {
        let Ok(peer) = to.as_str().parse::<PeerId>() else {
            return;
        };
        let net = self.net.clone();
        let internal = self.internal.clone();
        let is_sync = matches!(request, Request::Sync { .. });
        let handle = tokio::spawn(async move {
            match net.request(peer, request).await {
                Ok(Response::Records { records, more }) if is_sync => {
                    let _ = internal
                        .send(Internal::SyncPage {
                            from: to,
                            records,
                            more,
                        })
                        .await;
                }
                Ok(Response::Summary { summary }) => {
                    let _ = internal
                        .send(Internal::PeerSummary { from: to, summary })
                        .await;
                }
                Ok(Response::Error { code, message }) => {
                    debug!(peer = %to, ?code, "peer refused our request: {message}")
                }
                Ok(_) => {}
                Err(e) => debug!(peer = %to, "request failed: {e}"),
            }
        });
        if self.stopping {
            self.pending_sends.push(handle);
        }
    }

    async fn tick(&mut self) {
        let now = now_ms();
        if now.saturating_sub(self.last_tick_at) > RESUME_GAP_MS {
            info!(
                "resumed after {} s without ticks (sleep or freeze): converters get a whole lease again",
                now.saturating_sub(self.last_tick_at) / 1000
            );
            self.feed(Event::Resumed).await;
        }
        self.last_tick_at = now;
        self.feed(Event::Tick).await;
        // Stop jobs the records no longer want (cancelled, reassigned).
        let unwanted: Vec<(ItemId, Epoch)> = self
            .jobs
            .keys()
            .filter(|(i, e)| !self.engine.job_wanted(i, *e))
            .copied()
            .collect();
        for key in unwanted {
            if let Some(job) = self.jobs.get(&key) {
                info!(item = %key.0, "stopping job: the item no longer needs it");
                job.cancel();
            }
        }
        self.release_unneeded_reservations();
        self.drop_unneeded_results().await;
        self.awake.update(self.jobs.len());
        self.ticks += 1;
        if self.ticks % 30 == 1 {
            self.sweep_work_dir();
        }
    }

    /// Ends the reservations of items this converter no longer evaluates, runs or wants to run.
    fn release_unneeded_reservations(&mut self) {
        let stale: Vec<(ItemId, Epoch)> = self
            .reservations
            .keys()
            .filter(|k| {
                !self.jobs.contains_key(k)
                    && !self.evaluating.contains(k)
                    && !self.engine.job_wanted(&k.0, k.1)
            })
            .copied()
            .collect();
        for key in stale {
            if let Some(bytes) = self.reservations.release(&key) {
                debug!(item = %key.0, "released {bytes} reserved bytes");
            }
        }
    }

    /// Removes job folders in the work dir that no job, and no kept result, needs: what a
    /// cancelled, failed or crashed job left behind. Only `<item_id>.<epoch>` folders are
    /// touched.
    fn sweep_work_dir(&self) {
        let work_dir = &self.config.converter.work_dir;
        let Ok(entries) = std::fs::read_dir(work_dir) else {
            return;
        };
        let mut leftovers = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some((item, epoch)) = name.to_str().and_then(super::job::parse_job_dir) else {
                continue;
            };
            let needed = self.jobs.contains_key(&(item, epoch))
                || self.engine.job_wanted(&item, epoch)
                || self.engine.result_wanted(&item, epoch)
                || self.files.contains_key(&(item, FileRole::Result, epoch));
            if !needed {
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

    /// Deletes results this converter kept once the origin has them (or nobody wants them).
    async fn drop_unneeded_results(&mut self) {
        let done: Vec<(ItemId, FileRole, Epoch)> = self
            .files
            .keys()
            .filter(|(item, role, epoch)| {
                *role == FileRole::Result
                    && !self.engine.result_wanted(item, *epoch)
                    && !self.jobs.contains_key(&(*item, *epoch))
                    && self
                        .engine
                        .item(item)
                        .is_none_or(|i| i.phase.is_final() || i.epoch() != Some(*epoch))
            })
            .copied()
            .collect();
        for key in done {
            if let Some(f) = self.files.remove(&key) {
                info!(item = %key.0, "the origin has the result: removing {}", f.path.display());
                let _ = std::fs::remove_file(&f.path);
                if let Some(dir) = f.path.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
                if let Err(e) = self.store.delete_local_file(key.0, key.1, key.2).await {
                    warn!("cannot forget result file: {e}");
                }
            }
        }
    }

    async fn net_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Connected { peer, addr, dialed } => {
                let id = NodeId::new(peer.to_base58());
                info!(peer = %id, %addr, "peer connected");
                self.conn_addrs
                    .insert(id.clone(), super::peers::without_p2p(&addr));
                let now = now_ms();
                let entry = self.peer_addrs.entry(id.clone()).or_default();
                // Only dialable addresses are kept: an inbound connection's is the remote's
                // ephemeral port.
                if dialed {
                    super::peers::merge_addr(&mut entry.0, super::peers::without_p2p(&addr));
                }
                entry.1 = now;
                let addrs = entry.0.clone();
                if let Err(e) = self.store.put_peer(id.clone(), addrs, now).await {
                    warn!("cannot remember peer: {e}");
                }
                self.feed(Event::PeerConnected(id)).await;
            }
            NetEvent::Disconnected { peer } => {
                let id = NodeId::new(peer.to_base58());
                info!(peer = %id, "peer disconnected");
                self.conn_addrs.remove(&id);
                let now = now_ms();
                if let Some(entry) = self.peer_addrs.get_mut(&id) {
                    entry.1 = now;
                    let addrs = entry.0.clone();
                    let _ = self.store.put_peer(id.clone(), addrs, now).await;
                }
                self.feed(Event::PeerDisconnected(id)).await;
            }
            NetEvent::Rejected { peer, addr, reason } => {
                super::peers::note_rejected(
                    &mut self.rejected,
                    super::peers::RejectedPeer {
                        node_id: peer.map(|p| NodeId::new(p.to_base58())),
                        addr: addr.as_ref().map(super::peers::without_p2p),
                        reason: reason.as_str(),
                        at: now_ms(),
                    },
                );
            }
            NetEvent::NewListenAddr(addr) => {
                info!(%addr, "listening");
                if !self.listen_addrs.contains(&addr) {
                    self.listen_addrs.push(addr);
                }
            }
            NetEvent::Inbound {
                peer,
                request,
                responder,
            } => {
                let from = NodeId::new(peer.to_base58());
                match request {
                    Request::Sync { summary } => {
                        responder.respond(self.engine.answer_sync(&summary));
                    }
                    Request::SyncDigest { digest } => {
                        responder.respond(self.engine.answer_digest(&digest));
                    }
                    Request::Push { records } => {
                        responder.respond(Response::Ack);
                        self.feed(Event::Records {
                            from,
                            records,
                            sync_more: None,
                        })
                        .await;
                    }
                    Request::Manifest {
                        item_id,
                        role,
                        epoch,
                        first,
                        count,
                    } => match self.authorize(&from, item_id, role, epoch) {
                        Ok(file) => {
                            tokio::task::spawn_blocking(move || {
                                responder.respond(crate::transfer::serve::manifest_page(
                                    &file, first, count,
                                ))
                            });
                        }
                        Err(resp) => responder.respond(resp),
                    },
                    Request::Chunk {
                        item_id,
                        role,
                        epoch,
                        index,
                    } => match self.authorize(&from, item_id, role, epoch) {
                        Ok(file) => {
                            let internal = self.internal.clone();
                            tokio::task::spawn_blocking(move || {
                                let resp = crate::transfer::serve::read_chunk(&file, index);
                                if let (
                                    FileRole::Source,
                                    Response::Error {
                                        code: ErrorCode::SourceChanged,
                                        message,
                                    },
                                ) = (role, &resp)
                                {
                                    let _ = internal.blocking_send(Internal::SourceChanged {
                                        item_id,
                                        error: message.clone(),
                                    });
                                }
                                responder.respond(resp)
                            });
                        }
                        Err(resp) => responder.respond(resp),
                    },
                }
            }
        }
    }

    /// Finds the file a peer asks for, if it may have it.
    fn authorize(
        &self,
        peer: &NodeId,
        item_id: ItemId,
        role: FileRole,
        epoch: Epoch,
    ) -> Result<Arc<ServedFile>, Response> {
        let source = role == FileRole::Source;
        if !self.engine.may_fetch(peer, &item_id, source, epoch) {
            return Err(Response::Error {
                code: ErrorCode::Forbidden,
                message: format!("item {item_id}: this file is not yours to fetch"),
            });
        }
        let key = (item_id, role, if source { 0 } else { epoch });
        self.files.get(&key).cloned().ok_or(Response::Error {
            code: ErrorCode::NotFound,
            message: format!("item {item_id}: no such file here"),
        })
    }

    pub(crate) async fn internal(&mut self, msg: Internal) {
        match msg {
            Internal::SyncPage {
                from,
                records,
                more,
            } => {
                self.feed(Event::Records {
                    from,
                    records,
                    sync_more: Some(more),
                })
                .await
            }
            Internal::PeerSummary { from, summary } => {
                self.feed(Event::PeerSummary { from, summary }).await
            }
            Internal::OfferPrepared { prepared, reply } => {
                let result = self.finish_offer(prepared).await;
                let _ = reply.send(result);
            }
            Internal::Evaluated {
                item_id,
                epoch,
                refusal,
            } => {
                self.evaluating.remove(&(item_id, epoch));
                let local = match refusal {
                    None => {
                        info!(
                            item = %item_id,
                            "accepting item ({} of disk reserved for accepted jobs)",
                            dmc_protocol::schedule::human_bytes(self.reservations.total())
                        );
                        RecordBody::Accept { item_id, epoch }
                    }
                    Some(reason) => {
                        self.reservations.release(&(item_id, epoch));
                        info!(item = %item_id, "rejecting item: {reason}");
                        RecordBody::Reject {
                            item_id,
                            epoch,
                            reason,
                        }
                    }
                };
                self.feed(Event::Local(local)).await;
            }
            Internal::JobProgress {
                item_id,
                epoch,
                progress,
            } => {
                self.feed(Event::Local(RecordBody::Progress {
                    item_id,
                    epoch,
                    progress,
                }))
                .await
            }
            Internal::JobPid {
                item_id,
                epoch,
                pid,
            } => {
                let row = crate::store::JobRow {
                    item_id,
                    epoch,
                    pid,
                    proc_start: super::cleanup::proc_start_time(pid),
                    started_at: now_ms(),
                };
                if let Err(e) = self.store.job_spawned(row).await {
                    warn!("cannot record job: {e}");
                }
            }
            Internal::JobDone {
                item_id,
                epoch,
                outcome,
            } => {
                self.jobs.remove(&(item_id, epoch));
                let _ = self.store.job_ended(item_id, epoch).await;
                if !matches!(outcome, JobOutcome::Retry(_)) {
                    self.reservations.release(&(item_id, epoch));
                }
                self.awake.update(self.jobs.len());
                match outcome {
                    JobOutcome::Converted(output, local) => {
                        if let Err(e) = self.store.put_local_file(local.clone()).await {
                            self.fatal = Some(format!("cannot store result file: {e}"));
                            return;
                        }
                        self.add_local_file(local);
                        info!(item = %item_id, "converted: {} ({} bytes)", output.file_name, output.file_size);
                        self.feed(Event::Local(RecordBody::Converted {
                            item_id,
                            epoch,
                            output,
                        }))
                        .await;
                    }
                    JobOutcome::Failed(error) => {
                        warn!(item = %item_id, "conversion failed: {error}");
                        self.sweep_work_dir();
                        // Our own source changed: no converter can do better, fail for good
                        // instead of retrying.
                        let me = self.engine.me().clone();
                        let own_source_changed =
                            self.engine.item(&item_id).is_some_and(|i| i.origin == me)
                                && self
                                    .files
                                    .get(&(item_id, FileRole::Source, 0))
                                    .is_some_and(|f| f.check_unchanged().is_err());
                        if own_source_changed {
                            self.feed(Event::Local(RecordBody::Failed {
                                item_id,
                                epoch: None,
                                error,
                            }))
                            .await;
                            return;
                        }
                        self.feed(Event::Local(RecordBody::Failed {
                            item_id,
                            epoch: Some(epoch),
                            error,
                        }))
                        .await;
                    }
                    JobOutcome::Retry(why) => {
                        info!(item = %item_id, "job interrupted, will retry: {why}");
                        self.retry_at
                            .insert((item_id, epoch), now_ms() + RETRY_AFTER_MS);
                    }
                    JobOutcome::Cancelled => self.sweep_work_dir(),
                }
            }
            Internal::DeliverProgress { item_id, fraction } => {
                self.delivering.insert(item_id, fraction);
            }
            Internal::DeliverDone {
                item_id,
                epoch,
                outcome,
            } => {
                self.delivering.remove(&item_id);
                match outcome {
                    Ok((output_path, sha512)) => {
                        info!(item = %item_id, "delivered to {output_path}");
                        self.feed(Event::Local(RecordBody::Delivered {
                            item_id,
                            epoch,
                            output_path,
                            sha512,
                        }))
                        .await;
                    }
                    Err(why) => {
                        info!(item = %item_id, "delivery interrupted, will retry: {why}");
                        self.retry_at
                            .insert((item_id, epoch), now_ms() + RETRY_AFTER_MS);
                    }
                }
            }
            Internal::SourceChanged { item_id, error } => {
                warn!(item = %item_id, "source changed: {error}");
                self.feed(Event::Local(RecordBody::Failed {
                    item_id,
                    epoch: None,
                    error,
                }))
                .await;
            }
        }
    }

    fn retry_due(&self, key: &(ItemId, Epoch)) -> bool {
        self.retry_at.get(key).is_none_or(|t| now_ms() >= *t)
    }

    fn evaluate(&mut self, item_id: ItemId, epoch: Epoch) {
        if self.stopping || !self.evaluating.insert((item_id, epoch)) {
            return;
        }
        let Some(item) = self.engine.item(&item_id) else {
            return;
        };
        let need = super::job::disk_need(self, item);
        let refusal = super::job::refusal(self, item, epoch, need);
        // Held from now, so items evaluated at the same time cannot promise the same room.
        self.reservations.reserve((item_id, epoch), need);
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let refusal = refusal.await;
            let _ = internal
                .send(Internal::Evaluated {
                    item_id,
                    epoch,
                    refusal,
                })
                .await;
        });
    }

    fn start_job(&mut self, item_id: ItemId, epoch: Epoch, origin: NodeId) {
        let key = (item_id, epoch);
        if self.stopping || self.jobs.contains_key(&key) || !self.retry_due(&key) {
            return;
        }
        if self.jobs.len() >= self.config.converter.workers as usize {
            return;
        }
        let Some(item) = self.engine.item(&item_id).cloned() else {
            return;
        };
        if !self.reservations.contains(&key) {
            // Accepted before a restart: hold its room again.
            let need = super::job::disk_need(self, &item);
            self.reservations.reserve(key, need);
        }
        let cancel = crate::ffmpeg::CancelToken::new();
        let ctx = super::job::JobCtx::new(self, item, epoch, origin, cancel.clone());
        self.jobs.insert(key, cancel);
        self.awake.update(self.jobs.len());
        info!(item = %item_id, epoch, "starting job");
        tokio::spawn(ctx.run());
    }

    fn start_delivery(&mut self, item_id: ItemId, epoch: Epoch, converter: NodeId) {
        let key = (item_id, epoch);
        if self.stopping || self.delivering.contains_key(&item_id) || !self.retry_due(&key) {
            return;
        }
        let Some(item) = self.engine.item(&item_id).cloned() else {
            return;
        };
        let Some(ctx) = super::deliver::DeliverCtx::new(self, item, epoch, converter) else {
            return;
        };
        self.delivering.insert(item_id, 0.0);
        tokio::spawn(ctx.run());
    }
}
