//! The core event loop: one task owns the engine and everything derived from it, feeds it
//! what happens (control commands, the swarm's events, reports of the tasks it spawned,
//! timer ticks) and carries out the effects it asks for.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dmc_protocol::engine::{Effect, Engine, Event};
use dmc_protocol::wire::{FileRole, Request, Response};
use dmc_protocol::{Epoch, ItemId, Millis, NodeId, Phase};
use libp2p::PeerId;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::authors::AuthorFilter;
use super::deliver::DeliverEnv;
use super::ended::{EndedSender, ItemEnded};
use super::handle::{Command, CoreFatal};
use super::job::JobEnv;
use super::msg::Internal;
use super::now_ms;
use super::peers::PeerBook;
use super::speeds::{SavedSpeeds, SAVE_SPEEDS_EVERY_TICKS};
use crate::config::Config;
use crate::net::{NetClient, NetEvent};
use crate::store::{LocalFile, Store};
use crate::transfer::serve::ServedFile;

/// How often the engine re-derives what should run.
const TICK: Duration = Duration::from_secs(1);
/// A gap between ticks longer than this means the machine slept or the node was frozen.
const RESUME_GAP_MS: Millis = 15_000;
/// Every this many ticks the work dir is swept of job folders nothing needs.
const SWEEP_EVERY_TICKS: u64 = 30;

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
    /// Where this node's items that end go out (see [`super::ended`]); subscribe to it before
    /// the core starts so none is missed.
    pub ended: EndedSender,
    /// Where changes to items and peers go out for live views (see [`super::changes`]).
    pub changes: super::changes::ChangeSender,
    /// The commands of the control API ([`super::command_channel`]).
    pub commands: super::handle::Commands,
}

/// The core task's state. Its fields are private to `core/`: the loop here, the command
/// dispatch (`commands.rs`, `queries.rs`, `offer.rs`), the swarm's events (`net_events.rs`),
/// the spawned tasks' reports (`outcomes.rs`), starting work (`work.rs`) and shutdown.
pub(crate) struct Core {
    pub(super) engine: Engine,
    pub(super) store: Store,
    pub(super) net: NetClient,
    pub(super) config: Arc<Config>,
    pub(super) data_dir: PathBuf,
    pub(super) runnable_profiles: Vec<String>,
    /// What every job and every delivery gets, built once.
    pub(super) job_env: Arc<JobEnv>,
    pub(super) deliver_env: Arc<DeliverEnv>,
    /// Where items that end here go out.
    pub(super) ended: EndedSender,
    /// Where changes to items and peers go out (never waited on).
    pub(super) changes: super::changes::ChangeSender,
    /// Files this node holds for items: its own sources (epoch 0) and results it made.
    pub(super) files: HashMap<(ItemId, FileRole, Epoch), Arc<ServedFile>>,
    /// Running converter jobs, with the token that stops each.
    pub(super) jobs: HashMap<(ItemId, Epoch), crate::ffmpeg::CancelToken>,
    /// Disk room promised to accepted jobs.
    pub(super) reservations: super::reserve::Reservations,
    /// Keeps the host awake while jobs run.
    pub(super) awake: super::awake::Awake,
    pub(super) evaluating: HashSet<(ItemId, Epoch)>,
    pub(super) delivering: HashMap<ItemId, f64>,
    /// This node's sources being read for the SHA-512 their offers left out (`checksum.rs`).
    pub(super) checksums: HashSet<ItemId>,
    /// Jobs waiting for the segments they gave to the farm (`spread.rs`).
    pub(super) spreads: HashMap<(ItemId, Epoch), super::spread::Spread>,
    /// Deliveries recorded only once their item's source checksum is.
    pub(super) awaiting_checksum: HashMap<ItemId, dmc_protocol::RecordBody>,
    /// The queue places last reported to live views (`queries::queue_positions`).
    pub(super) queue_places: HashMap<ItemId, u32>,
    /// When a job or delivery interrupted for a passing reason may start again.
    pub(super) retry_at: HashMap<(ItemId, Epoch), Millis>,
    /// Where this node listens, and what it knows of its peers' addresses and refusals.
    pub(super) peer_book: PeerBook,
    pub(super) internal: mpsc::Sender<Internal>,
    /// Set when the core cannot go on (the store failed): the loop ends with it.
    pub(super) fatal: Option<CoreFatal>,
    /// Shutting down: start no job, evaluation or delivery.
    pub(super) stopping: bool,
    /// While stopping: requests under way, awaited briefly before exit.
    pub(super) pending_sends: Vec<tokio::task::JoinHandle<()>>,
    ticks: u64,
    /// The measured speeds as last saved to the store.
    pub(super) saved_speeds: SavedSpeeds,
    /// Wall-clock time of the last tick: a jump far beyond the tick interval means the
    /// machine slept or the process was frozen.
    last_tick_at: Millis,
}

/// What every job of this node gets (`[converter]` and `[transfer]` settings).
fn job_env(config: &Config, net: &NetClient, internal: &mpsc::Sender<Internal>) -> JobEnv {
    let c = &config.converter;
    JobEnv {
        net: net.clone(),
        work_dir: c.work_dir.clone(),
        pull_options: pull_options(config),
        internal: internal.clone(),
        threads: c.threads,
        nice: c.nice,
        time_limit: c.time_limit,
        split: c.split,
        verify: c.verify,
        allow_larger: c.allow_larger,
    }
}

/// What every delivery of this node gets.
fn deliver_env(
    config: &Config,
    net: &NetClient,
    store: &Store,
    internal: &mpsc::Sender<Internal>,
) -> DeliverEnv {
    DeliverEnv {
        output_dir: config.node.output_dir.clone(),
        pull_options: pull_options(config),
        net: net.clone(),
        store: store.clone(),
        internal: internal.clone(),
    }
}

/// How this node pulls files (`[transfer]` settings).
fn pull_options(config: &Config) -> crate::transfer::PullOptions {
    crate::transfer::PullOptions {
        max_rate: config.transfer.max_rate,
        ..Default::default()
    }
}

/// Starts the core task on `parts.commands`; returns a future that ends when the node stops.
pub fn spawn_core(
    parts: CoreParts,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Result<(), CoreFatal>> {
    let cmd_rx = parts.commands.0;
    let (int_tx, int_rx) = mpsc::channel(1024);
    let saved_speeds = SavedSpeeds::new(parts.engine.measured_speeds());
    let mut core = Core {
        job_env: Arc::new(job_env(&parts.config, &parts.net, &int_tx)),
        deliver_env: Arc::new(deliver_env(
            &parts.config,
            &parts.net,
            &parts.store,
            &int_tx,
        )),
        ended: parts.ended,
        changes: parts.changes,
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
        checksums: HashSet::new(),
        spreads: HashMap::new(),
        awaiting_checksum: HashMap::new(),
        queue_places: HashMap::new(),
        retry_at: HashMap::new(),
        peer_book: PeerBook::default(),
        internal: int_tx,
        fatal: None,
        stopping: false,
        pending_sends: Vec::new(),
        ticks: 0,
        saved_speeds,
        last_tick_at: now_ms(),
    };
    for p in parts.known_peers {
        core.peer_book
            .addrs
            .insert(p.node_id, (p.addrs, p.last_seen));
    }
    core.peer_book.authors =
        AuthorFilter::new(core.engine.me(), &core.config.network.allowed_peers);
    for f in parts.local_files {
        core.add_local_file(f);
    }
    tokio::spawn(async move { core.run(cmd_rx, parts.net_events, int_rx, shutdown).await })
}

impl Core {
    async fn run(
        &mut self,
        mut cmds: mpsc::Receiver<Command>,
        mut net_events: mpsc::Receiver<NetEvent>,
        mut internal: mpsc::Receiver<Internal>,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), CoreFatal> {
        if let Err(e) = self.bring_summaries_up_to_date().await {
            warn!(
                "cannot bring the item summaries up to date (status and list may miss items): {e}"
            );
        }
        self.feed(Event::Start).await;
        self.resume_checksums();
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

    pub(crate) fn add_local_file(&mut self, f: LocalFile) {
        let key = (f.item_id, f.role, f.epoch);
        let file = ServedFile::new(
            f.path,
            f.file_size,
            f.mtime_ns,
            f.chunk_size,
            Arc::new(f.hashes),
        )
        .pinned_to(f.pinned);
        self.files.insert(key, Arc::new(file));
    }

    /// Feeds an event to the engine and carries out what it asks.
    pub(crate) async fn feed(&mut self, event: Event) {
        let change = super::changes::of_event(&event);
        let effects = self.engine.handle(event, now_ms());
        self.carry_out(effects).await;
        self.check_spreads();
        if let Some(change) = change {
            self.announce(change);
        }
        self.report_queue_moves();
    }

    /// Tells live views of `change`; a segment's sub-item, which they do not list, as a
    /// change of its item (whose segments and converters it shows). No subscriber is fine:
    /// nobody watches.
    pub(super) fn announce(&self, change: super::changes::Change) {
        let change = match change {
            super::changes::Change::Item(id) => super::changes::Change::Item(
                self.engine
                    .item(&id)
                    .and_then(|i| i.offer.part_of.as_ref())
                    .map_or(id, |p| p.item_id),
            ),
            other => other,
        };
        let _ = self.changes.send(change);
    }

    /// Tells live views of every item whose queue place changed (one ahead of it started,
    /// ended or changed its priority), though its own records did not.
    fn report_queue_moves(&mut self) {
        let places = self.queue_positions();
        let moved: Vec<ItemId> = places
            .iter()
            .filter(|(id, p)| self.queue_places.get(*id) != Some(*p))
            .map(|(id, _)| *id)
            .chain(
                self.queue_places
                    .keys()
                    .filter(|id| !places.contains_key(*id))
                    .copied(),
            )
            .collect();
        for id in moved {
            self.announce(super::changes::Change::Item(id));
        }
        self.queue_places = places;
    }

    async fn carry_out(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Persist(records) => {
                    let ended = super::ended::ended_by(self.engine.me(), &records);
                    let changed = super::changes::of_records(&records);
                    let summaries = self.summaries_of(&records);
                    let late = self.ended_out_of_memory(&records);
                    let replica = self.engine.replica();
                    let records: Vec<_> = records
                        .into_iter()
                        .map(|r| {
                            let at = replica.received_at(&r.author, r.seq);
                            (r, at.unwrap_or_else(now_ms))
                        })
                        .collect();
                    if let Err(e) = self
                        .store
                        .put_records_and_summaries(records, summaries, late)
                        .await
                    {
                        // Never send or act on a record we could not store.
                        self.fatal = Some(CoreFatal::Records(e));
                        return;
                    }
                    for item_id in ended {
                        self.item_ended(item_id);
                    }
                    for change in changed {
                        self.announce(change);
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
                    warn!(peer = %from, "refused a record or progress report: {reason}")
                }
                Effect::Compact(c) => self.store_compaction(c).await,
                Effect::Stale { from, items } => debug!(
                    peer = %from,
                    ?items,
                    "ignored records about items compacted here"
                ),
                Effect::OverBudget { from, refused, why } => {
                    self.peer_book
                        .over_budget
                        .note(from, refused, why, now_ms())
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

    /// Stores a compaction. A failure is logged, not fatal: end times missing at the next
    /// start are taken from the records, compacted items are compacted again, horizons are
    /// learnt again from peers.
    async fn store_compaction(&mut self, c: dmc_protocol::engine::Compaction) {
        for (item, _) in &c.items {
            debug!(item = %item, "compacted an ended item: its records are deleted");
            // A converter's result is removed from disk by `drop_unneeded_results`.
            self.files.remove(&(*item, FileRole::Source, 0));
        }
        if let Err(e) = self.store.compact(c, self.engine.me().clone()).await {
            warn!("cannot store compaction state: {e}");
        }
    }

    /// Sends an ended item of this node to the subscribers.
    fn item_ended(&self, item_id: ItemId) {
        let Some(item) = self.engine.item(&item_id) else {
            return;
        };
        // A segment's sub-item ends into its coordinator's job, not to the user.
        if !matches!(item.phase, Phase::Delivered | Phase::Failed)
            || &item.origin != self.engine.me()
            || item.offer.part_of.is_some()
        {
            return;
        }
        let view = self.view(item);
        tracing::info!(item = %item_id, phase = view.phase.as_str(), "item ended");
        // No subscriber (a node without them, or shutting down): nobody to tell.
        let _ = self.ended.send(ItemEnded { item: view });
    }

    fn send(&mut self, to: NodeId, request: Request) {
        let Ok(peer) = to.as_str().parse::<PeerId>() else {
            return;
        };
        let request = self.peer_book.authors.claim_outsiders(request);
        let net = self.net.clone();
        let internal = self.internal.clone();
        let is_sync = matches!(request, Request::Sync { .. });
        let handle = tokio::spawn(async move {
            match net.request(peer, request).await {
                Ok(Response::Records {
                    records,
                    more,
                    complete,
                }) if is_sync => {
                    let _ = internal
                        .send(Internal::SyncPage {
                            from: to,
                            records,
                            more,
                            complete,
                        })
                        .await;
                }
                Ok(Response::Ended { items }) => {
                    let _ = internal
                        .send(Internal::EndedAnswer { from: to, items })
                        .await;
                }
                Ok(Response::Summary { summary, next }) => {
                    let _ = internal
                        .send(Internal::PeerSummary {
                            from: to,
                            summary,
                            next,
                        })
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
        self.release_orphaned_segments().await;
        // Stop jobs the records no longer want (cancelled, reassigned, given back).
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
        self.cancel_orphans().await;
        self.release_unneeded_reservations();
        self.drop_unneeded_results().await;
        self.awake.update(self.jobs.len());
        self.ticks += 1;
        if self.ticks % SWEEP_EVERY_TICKS == 1 {
            self.sweep_work_dir();
        }
        if self.ticks.is_multiple_of(SAVE_SPEEDS_EVERY_TICKS) {
            self.save_speeds().await;
        }
    }
}
