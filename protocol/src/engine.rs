//! The node's state machine: the runtime feeds it [`Event`]s with the current time and carries
//! out the [`Effect`]s it returns, in order. It holds the replica, knows which peers are
//! connected, makes this node's records and takes the scheduling decisions. Decisions are
//! level-triggered: every `Tick` re-derives what should run from the records, so a restart
//! needs no other state.
//!
//! Here: the configuration, events, effects, the dispatch of events and the making of records.
//! In `engine/`: replication with peers (`sync.rs`), which records of its own a node may make
//! (`local.rs`), the scheduling pass (`schedule.rs`), the time-driven duties (`timers.rs`),
//! ephemeral progress reports (`progress.rs`), why an item waits as only the origin's
//! engine knows (`notes.rs`) and compaction of ended items (`compact.rs`).

mod budget;
mod compact;
mod local;
mod notes;
mod progress;
mod schedule;
mod sync;
mod timers;

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{Epoch, ItemId, Millis, NodeId, Seq};
use crate::item::{ItemState, Phase};
use crate::record::{ConverterAd, NodeInfo, ProgressInfo, Record, RecordBody, Signature, Stage};
use crate::replica::{PageLimit, Replica};
use crate::report::ProgressReport;
use crate::schedule::{occupies_converter, Candidate};
use crate::sign::Signer;
use crate::wire::{Request, Summary, MAX_RECORDS_PER_MESSAGE, MAX_RECORD_BYTES_PER_MESSAGE};

pub use budget::{OverBudget, RecordBudget, BUDGET_WINDOW_MS};
pub use compact::{compaction_due, Compaction, Restored, ENDED_ASK_INTERVAL_MS};

/// What a node is.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Signs this node's records; its node id is this node's id ([`EngineConfig::me`]).
    pub signer: Signer,
    pub name: String,
    /// Present when this node converts.
    pub converter: Option<ConverterAd>,
    /// Origin: an item whose converter has not been heard from for this long, while this
    /// node is online, goes to another converter with a higher epoch.
    pub lease: Millis,
    /// Converter: how long a finished result is kept for an origin that does not come back.
    pub retention: Millis,
    /// Origin: after this many failed attempts (by converters) an item fails for good.
    pub max_attempts: u32,
    /// Origin: the wait after a failed attempt before the next; doubles with each failure.
    pub retry_backoff: Millis,
    /// An item that ended (delivered, failed, cancelled) this long ago, by this node's clock,
    /// is compacted: its records go, a tombstone stays.
    pub keep_finished: Millis,
    /// What one peer may make this node store per minute ([`RecordBudget`]).
    pub budget: RecordBudget,
    /// The runtime stores every record and answers peers' `Sync` from its store
    /// ([`Engine::answer_sync_from`]), so the engine drops an ended item's records and state
    /// from memory at the tick after it ended ([`Replica::drop_ended`]), keeping only the fact
    /// that it ended. Off, every record stays in memory until compaction, as
    /// [`Engine::answer_sync`] (which pages from memory) needs.
    pub drop_ended: bool,
}

impl EngineConfig {
    /// This node's id: its signing key's.
    pub fn me(&self) -> &NodeId {
        self.signer.node_id()
    }

    /// For tests and simulations: a node with a node's default lease (2 min), retention
    /// (30 days), attempts (3), backoff (30 s), keep_finished (30 days) and per-peer budget
    /// (10,000 records and 8 MiB a minute). A running node takes all six from its
    /// configuration, whose defaults are dmc-node's `config::defaults` (a test there keeps
    /// these equal to them).
    pub fn new(signer: Signer, name: impl Into<String>, converter: Option<ConverterAd>) -> Self {
        EngineConfig {
            signer,
            name: name.into(),
            converter,
            lease: 2 * 60 * 1000,
            retention: 30 * 24 * 3600 * 1000,
            max_attempts: 3,
            retry_backoff: 30_000,
            keep_finished: 30 * 24 * 3600 * 1000,
            budget: RecordBudget {
                records: 10_000,
                bytes: 8 << 20,
            },
            drop_ended: false,
        }
    }

    /// The wait before the attempt after `failed` failed attempts: the backoff, doubled for
    /// each failure after the first.
    pub fn backoff_after(&self, failed: usize) -> Millis {
        let doublings = failed.saturating_sub(1).min(16) as u32;
        self.retry_backoff.saturating_mul(1 << doublings)
    }
}

/// Weight of the newest sample in a converter's measured speed (moving average).
const SPEED_WEIGHT: f32 = 0.25;

/// A converter reports on each item it holds at least this often while the origin is
/// connected, even when nothing moved (queued, or a stalled transfer).
pub const HEARTBEAT_MS: Millis = 5_000;

/// Inputs to the engine.
#[derive(Clone, Debug)]
pub enum Event {
    /// The node started: publish this node's description if it changed.
    Start,
    PeerConnected(NodeId),
    PeerDisconnected(NodeId),
    /// Records from a peer: pushed to us (`sync_more` none) or a page answering our `Sync`
    /// (`sync_more` tells whether the peer has more).
    Records {
        from: NodeId,
        records: Vec<Record>,
        sync_more: Option<bool>,
        /// A sync page's `complete` marks (none for pushes): our summary passes over what
        /// the peer compacted.
        complete: Vec<(NodeId, Seq)>,
    },
    /// A peer's summary (its first page), answering our `SyncDigest` when our summaries
    /// differ; `next` is the first author after the page, if the page is not all of it.
    PeerSummary {
        from: NodeId,
        summary: Summary,
        next: Option<NodeId>,
    },
    /// Time passes: re-derive what should run.
    Tick,
    /// The node was frozen or the machine slept (the runtime saw time jump): nobody could be
    /// heard meanwhile, so lease clocks start again.
    Resumed,
    /// A record this node makes (a decision or a result), made only if this node may make it
    /// now ([`Engine::may_author`]); otherwise it is dropped. A `Progress` body is never made
    /// into a record: it becomes an ephemeral, signed [`ProgressReport`] sent to every
    /// connected peer (if this node runs the item in that epoch).
    Local(RecordBody),
    /// A progress report from a peer (`Request::Progress`).
    Report {
        from: NodeId,
        report: ProgressReport,
    },
    /// A peer's answer to our `Ended` question: which of the asked items it compacted.
    EndedAnswer {
        from: NodeId,
        items: Vec<ItemId>,
    },
}

/// Outputs of the engine, to be carried out in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Store these records durably before carrying out any later effect, each with the time
    /// this node received it ([`Replica::received_at`]).
    Persist(Vec<Record>),
    /// Send a request to a connected peer. A `Sync` answer comes back as `Event::Records`.
    Send { to: NodeId, request: Request },
    /// Converter: decide whether to take this item (room, support), then make an `Accept` or
    /// `Reject` record (`Event::Local`).
    Evaluate { item_id: ItemId, epoch: Epoch },
    /// Converter: fetch the source and convert it. Repeated every tick while wanted; the node
    /// runs one job per (item, epoch).
    RunJob {
        item_id: ItemId,
        epoch: Epoch,
        origin: NodeId,
    },
    /// Origin: fetch the converter's result into the output folder. Repeated while wanted.
    Deliver {
        item_id: ItemId,
        epoch: Epoch,
        converter: NodeId,
    },
    /// A record or progress report from a peer was refused.
    Refused { from: NodeId, reason: String },
    /// `refused` new records from a peer were refused: its budget for this minute is spent.
    /// They were neither stored nor relayed; a later sync asks for them again.
    OverBudget {
        from: NodeId,
        refused: usize,
        why: OverBudget,
    },
    /// Origin: the converter of an item was silent for longer than the lease; the item went
    /// to another converter (already recorded; this is for the log).
    LeaseExpired {
        item_id: ItemId,
        silent: NodeId,
        silent_ms: Millis,
        next: NodeId,
        epoch: Epoch,
    },
    /// Store compaction state: items that ended here, items compacted (records deleted,
    /// tombstones kept), superseded node records deleted, horizons. All in one transaction.
    Compact(Compaction),
    /// A peer sent records about items compacted here: ignored (for the log, at debug).
    Stale { from: NodeId, items: Vec<ItemId> },
}

/// The state machine.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    replica: Replica,
    next_seq: Seq,
    connected: BTreeSet<NodeId>,
    /// When we last asked each connected peer for what we lack.
    last_sync: BTreeMap<NodeId, Millis>,
    /// Origin: when we last heard from the current converter of each of our items.
    heard: BTreeMap<ItemId, Millis>,
    /// Lease clocks count from no earlier than this: the start, the last time this node came
    /// back online, or woke from sleep. An offline origin reassigns nothing.
    lease_base: Millis,
    /// When we last made a record or a progress report about each item (converter
    /// heartbeats).
    reported: BTreeMap<ItemId, Millis>,
    /// The newest progress report on each item running now (ours or its converter's): in
    /// memory only, replaced by the next, forgotten when the item stops running.
    reports: BTreeMap<ItemId, ProgressReport>,
    /// Origin: for each of our items waiting to be retried, how many attempts had failed and
    /// since when (our clock) we have known it. The backoff counts from then.
    retry_since: BTreeMap<ItemId, (usize, Millis)>,
    /// Each converter's measured speed: a moving average of the realtime factor it reports.
    speeds: BTreeMap<NodeId, f32>,
    /// Origin: items given back by a converter that has connected again since (it restarted):
    /// it may have them again at once, without the release cool-down.
    back_after_release: BTreeSet<(ItemId, Epoch)>,
    /// Items in a final phase, not compacted yet, with when they became final here (this
    /// node's clock; stored, so a restart keeps it).
    ended: BTreeMap<ItemId, Millis>,
    /// Open items: when each was last heard of (its newest record's time, or when we took it
    /// in if that is earlier). One silent for `keep_finished` may have been compacted by the
    /// others while we were away: we ask peers about it (`Request::Ended`).
    touched: BTreeMap<ItemId, Millis>,
    /// When we last asked each connected peer about our silent open items.
    asked_ended: BTreeMap<NodeId, Millis>,
    /// Items that ended here and are still in memory: dropped from it at the next tick when
    /// `drop_ended` is on (after the runtime has carried out the effects of their end).
    ended_in_memory: BTreeSet<ItemId>,
    /// The paged sync under way with each peer: the author range asked last, and when.
    walks: BTreeMap<NodeId, sync::Walk>,
    /// What each peer spent of its record budget this minute.
    budgets: budget::Budgets,
    /// Authors with records in the store but not in memory (of ended items), with when
    /// (this node's clock) the last of those items is compacted: they may not retire before.
    stored_until: BTreeMap<NodeId, Millis>,
}

/// Connected peers are asked for what we lack at least this often (anti-entropy), so a
/// record lost in transit arrives without waiting for a reconnect.
pub const RESYNC_INTERVAL_MS: Millis = 30_000;

/// One page of records answering a summary.
pub const SYNC_PAGE: PageLimit = PageLimit {
    records: MAX_RECORDS_PER_MESSAGE,
    bytes: MAX_RECORD_BYTES_PER_MESSAGE,
};

impl Engine {
    /// Builds the engine from records, each taken as received when it was made, and no
    /// compaction state (tests and simulations; a node restores with [`Engine::restore`]).
    pub fn new(cfg: EngineConfig, stored: impl IntoIterator<Item = Record>) -> Self {
        Engine::restore(
            cfg,
            Restored {
                records: stored
                    .into_iter()
                    .map(|r| {
                        let at = r.created_at;
                        (r, at)
                    })
                    .collect(),
                ..Restored::default()
            },
        )
    }

    /// Builds the engine from what this node has stored: records with the time this node
    /// received each (so timers go on counting from then across a restart), tombstones,
    /// horizons and the times items ended.
    pub fn restore(cfg: EngineConfig, stored: Restored) -> Self {
        let mut replica = Replica::new();
        let mut speeds = BTreeMap::new();
        for (id, at) in stored.tombstones {
            replica.add_tombstone(id, at);
        }
        for (mut r, received_at) in stored.records {
            note_record_speed(&mut speeds, &r);
            // Records of ours stored by a version that did not sign them get signed now.
            if r.author == *cfg.me() && r.sig.0.is_empty() {
                cfg.signer.sign(&mut r);
            }
            replica.insert_received(r, received_at);
        }
        for (author, seq) in stored.horizons {
            replica.raise_horizon(&author, seq);
        }
        // Ended items whose records were not loaded (a node's store keeps them out of
        // memory): only the fact that they ended.
        for (id, _) in &stored.ended {
            if !replica.in_memory(id) {
                replica.add_ended(*id);
            }
        }
        // Our own records compacted away, or stored and not loaded, still used their
        // sequence numbers.
        let stored_top = stored
            .top_seqs
            .iter()
            .filter(|(a, _)| a == cfg.me())
            .map(|(_, s)| *s)
            .max()
            .unwrap_or(0);
        let next_seq = replica
            .max_seq(cfg.me())
            .max(replica.horizon(cfg.me()))
            .max(stored_top)
            + 1;
        // Records of ended items stay in the store, out of memory, until compaction: every
        // author with a stored record may have some, until the last ended item is compacted.
        let stored_until = match stored.ended.iter().map(|(_, at)| *at).max() {
            Some(last) => stored
                .top_seqs
                .iter()
                .map(|(a, _)| (a.clone(), last.saturating_add(cfg.keep_finished)))
                .collect(),
            None => BTreeMap::new(),
        };
        // Authors retired before the restart retire again by the same rule, before any
        // peer sees the summary.
        compact::retire_where(&mut replica, cfg.me(), &stored_until);
        let (ended, touched) = compact::clocks_at_start(&replica, stored.ended);
        let ended_in_memory = ended
            .keys()
            .filter(|id| replica.in_memory(id))
            .copied()
            .collect();
        Engine {
            cfg,
            replica,
            next_seq,
            connected: BTreeSet::new(),
            last_sync: BTreeMap::new(),
            heard: BTreeMap::new(),
            lease_base: 0,
            reported: BTreeMap::new(),
            reports: BTreeMap::new(),
            retry_since: BTreeMap::new(),
            speeds,
            back_after_release: BTreeSet::new(),
            ended,
            touched,
            asked_ended: BTreeMap::new(),
            ended_in_memory,
            walks: BTreeMap::new(),
            budgets: budget::Budgets::default(),
            stored_until,
        }
    }

    pub fn me(&self) -> &NodeId {
        self.cfg.me()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    pub fn item(&self, id: &ItemId) -> Option<&ItemState> {
        self.replica.item(id)
    }

    pub fn connected(&self) -> &BTreeSet<NodeId> {
        &self.connected
    }

    /// Whether this converter should still be running the job for (item, epoch).
    pub fn job_wanted(&self, item_id: &ItemId, epoch: Epoch) -> bool {
        self.replica.item(item_id).is_some_and(|i| {
            i.assignment.as_ref() == Some(&(epoch, self.cfg.me().clone()))
                && matches!(
                    i.phase,
                    Phase::Accepted | Phase::Transferring | Phase::Converting
                )
        })
    }

    /// Whether the item that sub-item `sub` is a segment of has gone on without it: it ended,
    /// or its origin gave it to a later attempt than the one that offered the segment (its
    /// coordinator vanished for a lease). No one will join the segment then, so its converter
    /// gives it back rather than encode it; its origin withdraws it once back. False for an
    /// item that is no segment, and while this node does not know the item.
    pub fn segment_orphaned(&self, sub: &ItemState) -> bool {
        let Some(part) = &sub.offer.part_of else {
            return false;
        };
        if self.replica.is_ended(&part.item_id) {
            return true;
        }
        self.replica.item(&part.item_id).is_some_and(|item| {
            item.phase.is_final() || item.epoch().is_some_and(|e| e > part.epoch)
        })
    }

    /// Whether this converter must keep its result of (item, epoch) for the origin to fetch:
    /// the attempt is converted and current, and it is no segment whose item went on without
    /// it ([`Engine::segment_orphaned`]).
    pub fn result_wanted(&self, item_id: &ItemId, epoch: Epoch) -> bool {
        self.replica.item(item_id).is_some_and(|i| {
            i.assignment.as_ref() == Some(&(epoch, self.cfg.me().clone()))
                && i.phase == Phase::Converted
                && !self.segment_orphaned(i)
        })
    }

    /// Whether a result file this converter holds of (item, epoch) can be deleted, as no one
    /// will ever fetch it: the item ended or went to another attempt, the attempt failed (a
    /// failure of an epoch is for good: its result is never fetched, as when the retention
    /// time passed with the origin away), or it is a segment whose item went on without it.
    /// The result of a running attempt whose `Converted` is not yet folded in is kept, and so
    /// is every result [`Engine::result_wanted`] (converted, current, not orphaned).
    pub fn result_unneeded(&self, item_id: &ItemId, epoch: Epoch) -> bool {
        self.replica.item(item_id).is_none_or(|i| {
            i.phase.is_final()
                || i.epoch() != Some(epoch)
                || i.phase == Phase::Retrying
                || self.segment_orphaned(i)
        })
    }

    /// Whether a peer may fetch a file of an item: the source by the current converter from
    /// the origin; the result by the origin from the converter that made it.
    pub fn may_fetch(&self, peer: &NodeId, item_id: &ItemId, source: bool, epoch: Epoch) -> bool {
        let Some(i) = self.replica.item(item_id) else {
            return false;
        };
        if source {
            i.origin == *self.cfg.me() && i.converter() == Some(peer) && !i.phase.is_final()
        } else {
            &i.origin == peer
                && i.assignment.as_ref() == Some(&(epoch, self.cfg.me().clone()))
                && i.phase == Phase::Converted
        }
    }

    /// A converter's measured speed (realtime factor, moving average), if it has reported one.
    pub fn measured_speed(&self, converter: &NodeId) -> Option<f32> {
        self.speeds.get(converter).copied()
    }

    /// Every converter's measured speed, for the node to keep across a restart.
    pub fn measured_speeds(&self) -> &BTreeMap<NodeId, f32> {
        &self.speeds
    }

    /// Takes in speeds measured before a restart (saved from [`Engine::measured_speeds`]):
    /// each stands until the converter reports again; one already measured, or not a
    /// plausible realtime factor, is left out.
    pub fn restore_speeds(&mut self, speeds: impl IntoIterator<Item = (NodeId, f32)>) {
        for (converter, speed) in speeds {
            if plausible_speed(speed) {
                self.speeds.entry(converter).or_insert(speed);
            }
        }
    }

    /// Feeds one event at time `now`; returns what to do.
    pub fn handle(&mut self, event: Event, now: Millis) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Start => self.start(now, &mut fx),
            Event::PeerConnected(peer) => {
                self.peer_connected(&peer, now);
                self.reports_for_new_peer(&peer, now, &mut fx);
                self.ask_sync(peer, now, &mut fx);
                self.schedule(now, &mut fx);
            }
            Event::PeerDisconnected(peer) => {
                self.connected.remove(&peer);
                self.last_sync.remove(&peer);
                self.asked_ended.remove(&peer);
                self.walks.remove(&peer);
            }
            Event::Records {
                from,
                records,
                sync_more,
                complete,
            } => {
                let got = self.receive(&from, records, now, &mut fx);
                // After the records (stored first): our summary passes over what the peer
                // compacted, before the walk asks for the next page with it.
                if !complete.is_empty() {
                    self.take_horizons(&from, complete, &mut fx);
                }
                if let Some(more) = sync_more {
                    self.continue_walk(from, more, got, now, &mut fx);
                }
                self.schedule(now, &mut fx);
            }
            Event::Resumed => self.lease_base = now,
            Event::PeerSummary {
                from,
                summary,
                next,
            } => self.start_walk(from, &summary, next, now, &mut fx),
            Event::Tick => self.tick(now, &mut fx),
            Event::Local(RecordBody::Progress {
                item_id,
                epoch,
                progress,
            }) => self.report_progress(item_id, epoch, progress, now, &mut fx),
            Event::Report { from, report } => self.receive_report(&from, report, now, &mut fx),
            Event::EndedAnswer { from, items } => {
                self.take_ended_answer(&from, items, now, &mut fx);
                self.schedule(now, &mut fx);
            }
            Event::Local(body) => {
                if self.may_author(&body) {
                    self.author(body, now, &mut fx);
                }
                self.schedule(now, &mut fx);
            }
        }
        fx
    }

    /// The node started: leases count from now, and this node describes itself if its stored
    /// description differs.
    fn start(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        self.lease_base = now;
        let want = NodeInfo {
            name: self.cfg.name.clone(),
            converter: self.cfg.converter.clone(),
        };
        if self.replica.node(self.cfg.me()) != Some(&want) {
            self.author(RecordBody::Node(want), now, fx);
        }
        self.note_unknown_ends(now, fx);
        self.schedule(now, fx);
    }

    /// The periodic pass: syncs due, timers, compaction, ended items out of memory, then the
    /// scheduling pass.
    fn tick(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        for peer in self.resync_due(now) {
            self.ask_sync(peer, now, fx);
        }
        self.timers(now, fx);
        self.compact_due(now, fx);
        self.drop_ended_items();
        self.retire_idle(now, fx);
        self.ask_ended(now, fx);
        self.forget_stale_reports();
        self.budgets.forget_old(now);
        self.schedule(now, fx)
    }

    /// A peer connected: the lease clocks of our items it holds start again, and items it gave
    /// back before it restarted may go to it again at once.
    fn peer_connected(&mut self, peer: &NodeId, now: Millis) {
        if self.connected.is_empty() {
            // Back online: converters get a whole lease to be heard from again.
            self.lease_base = now;
        }
        for item in self.replica.open_items() {
            if item.origin == *self.cfg.me() && item.converter() == Some(peer) {
                self.heard.insert(item.item_id(), now);
                if item.released.as_ref().is_some_and(|(by, _, _)| by == peer) {
                    if let Some(epoch) = item.epoch() {
                        self.back_after_release.insert((item.item_id(), epoch));
                    }
                }
            }
        }
        self.connected.insert(peer.clone());
    }

    /// Makes a record of ours, stores it and sends it to every connected peer.
    fn author(&mut self, body: RecordBody, now: Millis, fx: &mut Vec<Effect>) {
        let mut record = Record {
            author: self.cfg.me().clone(),
            seq: self.next_seq,
            created_at: now,
            body,
            sig: Signature::default(),
        };
        self.cfg.signer.sign(&mut record);
        self.next_seq += 1;
        if let Some(id) = record.body.item_id() {
            self.reported.insert(id, now);
        }
        self.replica.insert_received(record.clone(), now);
        fx.push(Effect::Persist(vec![record.clone()]));
        self.note_records(std::slice::from_ref(&record), now, fx);
        for peer in &self.connected {
            fx.push(Effect::Send {
                to: peer.clone(),
                request: Request::Push {
                    records: vec![record.clone()],
                },
            });
        }
    }

    /// Converters that may be assigned to now: connected ones that advertise, and ourselves,
    /// each with its current load.
    fn candidates(&self) -> Vec<Candidate<'_>> {
        let mut load: BTreeMap<&NodeId, usize> = BTreeMap::new();
        for i in self.replica.open_items().filter(|i| occupies_converter(i)) {
            if let Some(c) = i.converter() {
                *load.entry(c).or_default() += 1;
            }
        }
        self.replica
            .nodes()
            .filter(|(id, _, _)| self.connected.contains(*id) || **id == *self.cfg.me())
            .filter_map(|(id, _, info)| {
                let ad = info.converter.as_ref()?;
                Some(Candidate {
                    id,
                    ad,
                    load: load.get(id).copied().unwrap_or(0),
                    speed: self.speeds.get(id).copied(),
                })
            })
            .collect()
    }
}

/// Folds the speed in a progress record stored by an older version into its author's moving
/// average.
fn note_record_speed(speeds: &mut BTreeMap<NodeId, f32>, r: &Record) {
    if let RecordBody::Progress { progress, .. } = &r.body {
        note_speed(speeds, &r.author, progress);
    }
}

/// Folds a converter's reported speed into its moving average.
fn note_speed(speeds: &mut BTreeMap<NodeId, f32>, author: &NodeId, progress: &ProgressInfo) {
    let Some(s) = progress.speed else { return };
    if progress.stage != Stage::Converting || !plausible_speed(s) {
        return;
    }
    speeds
        .entry(author.clone())
        .and_modify(|avg| *avg += SPEED_WEIGHT * (s - *avg))
        .or_insert(s);
}

/// Whether `speed` can be a converter's realtime factor.
fn plausible_speed(speed: f32) -> bool {
    speed.is_finite() && speed > 0.0 && speed <= 10_000.0
}

/// The epoch of an item's next assignment: above every epoch it has had.
fn next_epoch(item: &ItemState) -> Epoch {
    item.rejections
        .iter()
        .map(|r| r.epoch)
        .chain(item.epoch())
        .max()
        .unwrap_or(0)
        + 1
}
