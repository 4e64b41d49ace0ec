//! The node's state machine: the runtime feeds it [`Event`]s with the current time and carries
//! out the [`Effect`]s it returns, in order. It holds the replica, knows which peers are
//! connected, makes this node's records and takes the scheduling decisions. Decisions are
//! level-triggered: every `Tick` re-derives what should run from the records, so a restart
//! needs no other state.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{Epoch, ItemId, Millis, NodeId, Seq};
use crate::item::{ItemState, Phase};
use crate::record::{
    ConverterAd, FileInfo, NodeInfo, Offer, ProgressInfo, Record, RecordBody, Stage,
};
use crate::replica::{Inserted, PageLimit, Replica, Summary};
use crate::schedule::{occupies_converter, pick_converter, Candidate};
use crate::sign::{Signature, Signer};
use crate::wire::{Request, Response, MAX_RECORDS_PER_MESSAGE, MAX_RECORD_BYTES_PER_MESSAGE};

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
}

impl EngineConfig {
    /// This node's id: its signing key's.
    pub fn me(&self) -> &NodeId {
        self.signer.node_id()
    }

    /// For tests and simulations: a node with a node's default lease (2 min), retention
    /// (30 days), attempts (3) and backoff (30 s). A running node takes all four from its
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
    },
    /// A peer's summary, answering our `SyncDigest` when our summaries differ.
    PeerSummary {
        from: NodeId,
        summary: Summary,
    },
    /// Time passes: re-derive what should run.
    Tick,
    /// The node was frozen or the machine slept (the runtime saw time jump): nobody could be
    /// heard meanwhile, so lease clocks start again.
    Resumed,
    /// Local decisions and results, each becoming a record of ours.
    Local(Local),
}

/// Changes this node makes.
#[derive(Clone, Debug)]
pub enum Local {
    Offer(Offer),
    Cancel {
        item_id: ItemId,
    },
    Accept {
        item_id: ItemId,
        epoch: Epoch,
    },
    Reject {
        item_id: ItemId,
        epoch: Epoch,
        reason: String,
    },
    /// Give back an item this converter holds, without failing it (shutting down).
    Release {
        item_id: ItemId,
        epoch: Epoch,
        reason: String,
    },
    Progress {
        item_id: ItemId,
        epoch: Epoch,
        progress: ProgressInfo,
    },
    Converted {
        item_id: ItemId,
        epoch: Epoch,
        output: FileInfo,
    },
    /// The conversion failed on this converter.
    ConvertFailed {
        item_id: ItemId,
        epoch: Epoch,
        error: String,
    },
    /// The origin has the verified result.
    Delivered {
        item_id: ItemId,
        epoch: Epoch,
        output_path: String,
        sha512: String,
    },
    /// The origin gives up on its own item (for example, the source changed).
    OriginFailed {
        item_id: ItemId,
        error: String,
    },
}

/// Outputs of the engine, to be carried out in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Store these records durably before carrying out any later effect.
    Persist(Vec<Record>),
    /// Send a request to a connected peer. A `Sync` answer comes back as `Event::Records`.
    Send { to: NodeId, request: Request },
    /// Converter: decide whether to take this item (room, support), then `Local::Accept`/`Reject`.
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
    /// A record from a peer was refused.
    Refused { from: NodeId, reason: String },
    /// Origin: the converter of an item was silent for longer than the lease; the item went
    /// to another converter (already recorded; this is for the log).
    LeaseExpired {
        item_id: ItemId,
        silent: NodeId,
        silent_ms: Millis,
        next: NodeId,
        epoch: Epoch,
    },
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
    /// When we last made a record about each item (converter heartbeats).
    reported: BTreeMap<ItemId, Millis>,
    /// Origin: for each of our items waiting to be retried, how many attempts had failed and
    /// since when (our clock) we have known it. The backoff counts from then.
    retry_since: BTreeMap<ItemId, (usize, Millis)>,
    /// Each converter's measured speed: a moving average of the realtime factor it reports.
    speeds: BTreeMap<NodeId, f32>,
    /// Origin: items given back by a converter that has connected again since (it restarted):
    /// it may have them again at once, without the release cool-down.
    back_after_release: BTreeSet<(ItemId, Epoch)>,
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
    /// Builds the engine from the records this node has stored.
    pub fn new(cfg: EngineConfig, stored: impl IntoIterator<Item = Record>) -> Self {
        let mut replica = Replica::new();
        let mut speeds = BTreeMap::new();
        for mut r in stored {
            note_speed(&mut speeds, &r);
            // Records of ours stored by a version that did not sign them get signed now.
            if r.author == *cfg.me() && r.sig.0.is_empty() {
                cfg.signer.sign(&mut r);
            }
            replica.insert(r);
        }
        let next_seq = replica.max_seq(cfg.me()) + 1;
        Engine {
            cfg,
            replica,
            next_seq,
            connected: BTreeSet::new(),
            last_sync: BTreeMap::new(),
            heard: BTreeMap::new(),
            lease_base: 0,
            reported: BTreeMap::new(),
            retry_since: BTreeMap::new(),
            speeds,
            back_after_release: BTreeSet::new(),
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

    /// This node's item already offered with the same content and profile, unless it ended
    /// in failure or was cancelled (then a new offer makes a new item).
    pub fn find_offer(&self, sha512: &str, profile: &str) -> Option<&ItemState> {
        self.replica.items().find(|i| {
            i.origin == *self.cfg.me()
                && i.offer.file.sha512 == sha512
                && i.offer.profile == profile
                && !matches!(i.phase, Phase::Failed | Phase::Cancelled)
        })
    }

    /// Answers a peer's `SyncDigest`: `InSync` if our summaries match, else our summary.
    pub fn answer_digest(&self, digest: &[u8]) -> Response {
        let mine = self.replica.summary();
        if mine.digest() == digest {
            Response::InSync
        } else {
            Response::Summary { summary: mine }
        }
    }

    /// Answers a peer's `Sync`: a page of the records it lacks.
    pub fn answer_sync(&self, theirs: &Summary) -> Response {
        let (records, more) = self.replica.missing(theirs, SYNC_PAGE);
        Response::Records { records, more }
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

    /// Whether this converter must keep its result of (item, epoch) for the origin to fetch.
    pub fn result_wanted(&self, item_id: &ItemId, epoch: Epoch) -> bool {
        self.replica.item(item_id).is_some_and(|i| {
            i.assignment.as_ref() == Some(&(epoch, self.cfg.me().clone()))
                && i.phase == Phase::Converted
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

    /// Origin: why one of our items in someone else's hands is not moving, if we can tell:
    /// its converter is offline or silent. For `status`.
    pub fn lease_note(&self, item: &ItemState, now: Millis) -> Option<String> {
        let (_, converter) = item.assignment.as_ref()?;
        if item.origin != *self.cfg.me() || *converter == *self.cfg.me() || item.phase.is_final() {
            return None;
        }
        let who = converter.short();
        if item.phase == Phase::Converted {
            return (!self.connected.contains(converter)).then(|| {
                format!("converter {who} holds the result but is offline; waiting for it to return")
            });
        }
        if !occupies_converter(item) {
            return None;
        }
        if self.connected.is_empty() {
            return Some(format!(
                "this node is offline; converter {who} keeps the item until it returns"
            ));
        }
        let since = self
            .heard
            .get(&item.item_id())
            .copied()
            .unwrap_or(0)
            .max(self.lease_base);
        let silent = now.saturating_sub(since);
        (silent >= 3 * HEARTBEAT_MS).then(|| {
            format!(
                "no word from converter {who} for {} s; it goes to another converter after {} s",
                silent / 1000,
                self.cfg.lease / 1000
            )
        })
    }

    /// A converter's measured speed (realtime factor, moving average), if it has reported one.
    pub fn measured_speed(&self, converter: &NodeId) -> Option<f32> {
        self.speeds.get(converter).copied()
    }

    /// Origin: why one of our items waits to be retried, with the time left, for `status`.
    pub fn retry_note(&self, item: &ItemState, now: Millis) -> Option<String> {
        if item.origin != *self.cfg.me() || item.phase != Phase::Retrying {
            return None;
        }
        let note = item.last_failure_note()?;
        let failed = item.failures.len();
        if failed >= self.cfg.max_attempts as usize {
            return Some(format!("{note}; giving up"));
        }
        let due = match self.retry_since.get(&item.item_id()) {
            Some((n, since)) if *n == failed => {
                since.saturating_add(self.cfg.backoff_after(failed))
            }
            _ => now.saturating_add(self.cfg.backoff_after(failed)),
        };
        Some(if now < due {
            format!("{note}; retrying in {} s", (due - now).div_ceil(1000))
        } else {
            format!("{note}; waiting for a converter")
        })
    }

    /// Feeds one event at time `now`; returns what to do.
    pub fn handle(&mut self, event: Event, now: Millis) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Start => {
                self.lease_base = now;
                let want = NodeInfo {
                    name: self.cfg.name.clone(),
                    converter: self.cfg.converter.clone(),
                };
                if self.replica.node(self.cfg.me()) != Some(&want) {
                    self.author(RecordBody::Node(want), now, &mut fx);
                }
                self.schedule(now, &mut fx);
            }
            Event::PeerConnected(peer) => {
                if self.connected.is_empty() {
                    // Back online: converters get a whole lease to be heard from again.
                    self.lease_base = now;
                }
                for item in self.replica.open_items() {
                    if item.origin == *self.cfg.me() && item.converter() == Some(&peer) {
                        self.heard.insert(item.item_id(), now);
                        if item.released.as_ref().is_some_and(|(by, _, _)| *by == peer) {
                            if let Some(epoch) = item.epoch() {
                                self.back_after_release.insert((item.item_id(), epoch));
                            }
                        }
                    }
                }
                self.connected.insert(peer.clone());
                self.ask_sync(peer, now, &mut fx);
                self.schedule(now, &mut fx);
            }
            Event::PeerDisconnected(peer) => {
                self.connected.remove(&peer);
                self.last_sync.remove(&peer);
            }
            Event::Records {
                from,
                records,
                sync_more,
            } => {
                self.receive(&from, records, now, &mut fx);
                if sync_more == Some(true) && self.connected.contains(&from) {
                    self.ask_records(from, now, &mut fx);
                }
                self.schedule(now, &mut fx);
            }
            Event::Resumed => self.lease_base = now,
            Event::PeerSummary { from, summary } => {
                if self.connected.contains(&from) && summary.has_more_than(&self.replica.summary())
                {
                    self.ask_records(from, now, &mut fx);
                }
            }
            Event::Tick => {
                let due: Vec<NodeId> = self
                    .connected
                    .iter()
                    .filter(|p| {
                        self.last_sync
                            .get(*p)
                            .is_none_or(|t| now.saturating_sub(*t) >= RESYNC_INTERVAL_MS)
                    })
                    .cloned()
                    .collect();
                for peer in due {
                    self.ask_sync(peer, now, &mut fx);
                }
                self.timers(now, &mut fx);
                self.schedule(now, &mut fx)
            }
            Event::Local(local) => {
                self.local(local, now, &mut fx);
                self.schedule(now, &mut fx);
            }
        }
        fx
    }

    /// Checks with a peer whether we lack anything: a digest first, so that a peer with the
    /// same records answers in a few bytes.
    fn ask_sync(&mut self, peer: NodeId, now: Millis, fx: &mut Vec<Effect>) {
        self.last_sync.insert(peer.clone(), now);
        fx.push(Effect::Send {
            to: peer,
            request: Request::SyncDigest {
                digest: self.replica.summary().digest(),
            },
        });
    }

    /// Asks a peer for a page of the records we lack.
    fn ask_records(&mut self, peer: NodeId, now: Millis, fx: &mut Vec<Effect>) {
        self.last_sync.insert(peer.clone(), now);
        fx.push(Effect::Send {
            to: peer,
            request: Request::Sync {
                summary: self.replica.summary(),
            },
        });
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
        note_speed(&mut self.speeds, &record);
        self.replica.insert(record.clone());
        fx.push(Effect::Persist(vec![record.clone()]));
        for peer in &self.connected {
            fx.push(Effect::Send {
                to: peer.clone(),
                request: Request::Push {
                    records: vec![record.clone()],
                },
            });
        }
    }

    fn receive(&mut self, from: &NodeId, records: Vec<Record>, now: Millis, fx: &mut Vec<Effect>) {
        let mut new = Vec::new();
        for r in records.into_iter().take(MAX_RECORDS_PER_MESSAGE) {
            // A record we hold already, byte for byte, needs no second check.
            if self.replica.get(&r.author, r.seq) == Some(&r) {
                continue;
            }
            let checked = r
                .validate()
                .and_then(|()| crate::sign::verify(&r))
                .map_err(|e| e.to_string())
                .and_then(|()| self.replica.authority(&r));
            if let Err(reason) = checked {
                fx.push(Effect::Refused {
                    from: from.clone(),
                    reason,
                });
                continue;
            }
            if r.author == *self.cfg.me() {
                // Our own record coming back (perhaps after our store was restored from an
                // older copy): never reuse its sequence number.
                self.next_seq = self.next_seq.max(r.seq + 1);
            }
            if self.replica.insert(r.clone()) == Inserted::New {
                note_speed(&mut self.speeds, &r);
                new.push(r);
            }
        }
        if new.is_empty() {
            return;
        }
        for r in &new {
            let Some(id) = r.body.item_id() else { continue };
            if self
                .replica
                .item(&id)
                .is_some_and(|i| i.origin == *self.cfg.me() && i.converter() == Some(&r.author))
            {
                self.heard.insert(id, now);
            }
        }
        fx.push(Effect::Persist(new.clone()));
        // Relay to every other connected peer.
        for peer in self.connected.iter().filter(|p| *p != from) {
            fx.push(Effect::Send {
                to: peer.clone(),
                request: Request::Push {
                    records: new.clone(),
                },
            });
        }
    }

    fn local(&mut self, local: Local, now: Millis, fx: &mut Vec<Effect>) {
        let me = self.cfg.me().clone();
        let mine = |i: &ItemState| i.origin == me;
        let assigned_to_me =
            |i: &ItemState, epoch: Epoch| i.assignment.as_ref() == Some(&(epoch, me.clone()));
        let body = match local {
            Local::Offer(offer) => {
                if self.replica.item(&offer.item_id).is_some() {
                    return;
                }
                RecordBody::Offer(offer)
            }
            Local::Cancel { item_id } => match self.replica.item(&item_id) {
                Some(i) if mine(i) && !i.phase.is_final() => RecordBody::Cancel { item_id },
                _ => return,
            },
            Local::Accept { item_id, epoch } => match self.replica.item(&item_id) {
                Some(i) if assigned_to_me(i, epoch) && i.phase == Phase::Assigned => {
                    RecordBody::Accept { item_id, epoch }
                }
                _ => return,
            },
            Local::Reject {
                item_id,
                epoch,
                reason,
            } => match self.replica.item(&item_id) {
                Some(i) if assigned_to_me(i, epoch) && i.phase == Phase::Assigned => {
                    RecordBody::Reject {
                        item_id,
                        epoch,
                        reason,
                    }
                }
                _ => return,
            },
            Local::Release {
                item_id,
                epoch,
                reason,
            } => match self.replica.item(&item_id) {
                Some(i) if assigned_to_me(i, epoch) && occupies_converter(i) => {
                    RecordBody::Release {
                        item_id,
                        epoch,
                        reason,
                    }
                }
                _ => return,
            },
            Local::Progress {
                item_id,
                epoch,
                progress,
            } => match self.replica.item(&item_id) {
                Some(i) if self.job_wanted(&i.item_id(), epoch) => RecordBody::Progress {
                    item_id,
                    epoch,
                    progress,
                },
                _ => return,
            },
            Local::Converted {
                item_id,
                epoch,
                output,
            } => match self.replica.item(&item_id) {
                Some(i) if self.job_wanted(&i.item_id(), epoch) => RecordBody::Converted {
                    item_id,
                    epoch,
                    output,
                },
                _ => return,
            },
            Local::ConvertFailed {
                item_id,
                epoch,
                error,
            } => match self.replica.item(&item_id) {
                Some(i) if self.job_wanted(&i.item_id(), epoch) => RecordBody::Failed {
                    item_id,
                    epoch: Some(epoch),
                    error,
                },
                _ => return,
            },
            Local::Delivered {
                item_id,
                epoch,
                output_path,
                sha512,
            } => match self.replica.item(&item_id) {
                Some(i) if mine(i) && i.phase == Phase::Converted && i.epoch() == Some(epoch) => {
                    RecordBody::Delivered {
                        item_id,
                        epoch,
                        output_path,
                        sha512,
                    }
                }
                _ => return,
            },
            Local::OriginFailed { item_id, error } => match self.replica.item(&item_id) {
                Some(i) if mine(i) && !i.phase.is_final() => RecordBody::Failed {
                    item_id,
                    epoch: None,
                    error,
                },
                _ => return,
            },
        };
        self.author(body, now, fx);
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

    /// Time-driven duties, run on `Tick`: leases (origin), heartbeats and retention
    /// (converter).
    fn timers(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let me = self.cfg.me().clone();
        let online = !self.connected.is_empty();
        let mut reassign: Vec<(ItemId, Epoch, NodeId, NodeId, Millis)> = Vec::new();
        let mut heartbeats: Vec<(ItemId, Epoch, ProgressInfo)> = Vec::new();
        let mut expired: Vec<(ItemId, Epoch)> = Vec::new();
        {
            let mut candidates = self.candidates();
            for item in self.replica.open_items() {
                let id = item.item_id();
                let Some((epoch, converter)) = item.assignment.as_ref() else {
                    continue;
                };
                let held = occupies_converter(item);
                if item.origin == me && held && *converter != me && online {
                    let since = self
                        .heard
                        .get(&id)
                        .copied()
                        .unwrap_or(0)
                        .max(self.lease_base);
                    let silent_ms = now.saturating_sub(since);
                    if silent_ms >= self.cfg.lease {
                        let others: Vec<Candidate> = candidates
                            .iter()
                            .filter(|c| c.id != converter)
                            .cloned()
                            .collect();
                        if let Some(next) = pick_converter(item, &others, now) {
                            reassign.push((
                                id,
                                next_epoch(item),
                                converter.clone(),
                                next.clone(),
                                silent_ms,
                            ));
                            if let Some(c) = candidates.iter_mut().find(|c| c.id == next) {
                                c.load += 1;
                            }
                        }
                    }
                }
                if *converter == me && item.origin != me {
                    if held
                        && item.phase != Phase::Assigned
                        && self.connected.contains(&item.origin)
                        && self
                            .reported
                            .get(&id)
                            .is_none_or(|t| now.saturating_sub(*t) >= HEARTBEAT_MS)
                    {
                        let progress = item.progress.unwrap_or(ProgressInfo {
                            stage: Stage::Queued,
                            fraction: 0.0,
                            fps: None,
                            speed: None,
                            eta_secs: None,
                        });
                        heartbeats.push((id, *epoch, progress));
                    }
                    if item.phase == Phase::Converted
                        && item
                            .converted_at
                            .is_some_and(|t| now.saturating_sub(t) >= self.cfg.retention)
                    {
                        expired.push((id, *epoch));
                    }
                }
            }
        }
        for (item_id, epoch, silent, next, silent_ms) in reassign {
            self.heard.insert(item_id, now);
            self.author(
                RecordBody::Assign {
                    item_id,
                    epoch,
                    converter: next.clone(),
                },
                now,
                fx,
            );
            fx.push(Effect::LeaseExpired {
                item_id,
                silent,
                silent_ms,
                next,
                epoch,
            });
        }
        for (item_id, epoch, progress) in heartbeats {
            self.author(
                RecordBody::Progress {
                    item_id,
                    epoch,
                    progress,
                },
                now,
                fx,
            );
        }
        for (item_id, epoch) in expired {
            let days = self.cfg.retention / (24 * 3600 * 1000);
            self.author(
                RecordBody::Failed {
                    item_id,
                    epoch: Some(epoch),
                    error: format!(
                        "the converter deleted its result: the origin did not fetch it within \
                         the retention time ({days} days)"
                    ),
                },
                now,
                fx,
            );
        }
    }

    /// Re-derives, from the records, what this node should be doing now.
    fn schedule(&mut self, now: Millis, fx: &mut Vec<Effect>) {
        let me = self.cfg.me().clone();
        let mut assign: Vec<(ItemId, Epoch, NodeId)> = Vec::new();
        let mut give_up: Vec<(ItemId, usize)> = Vec::new();
        // Our items waiting to be retried: when each became due.
        let mut retrying: BTreeMap<ItemId, (usize, Millis)> = BTreeMap::new();
        for item in self.replica.open_items() {
            if item.origin == me && item.phase == Phase::Retrying {
                let failed = item.failures.len();
                let since = match self.retry_since.get(&item.item_id()) {
                    Some((n, since)) if *n == failed => *since,
                    _ => now,
                };
                retrying.insert(item.item_id(), (failed, since));
            }
        }
        {
            let mut candidates = self.candidates();
            for item in self.replica.open_items() {
                let current_epoch = item.epoch();
                match item.phase {
                    Phase::Retrying if item.origin == me => {
                        let Some((failed, since)) = retrying.get(&item.item_id()).copied() else {
                            continue;
                        };
                        if failed >= self.cfg.max_attempts as usize {
                            give_up.push((item.item_id(), failed));
                        } else if now >= since.saturating_add(self.cfg.backoff_after(failed)) {
                            if let Some(c) = pick_converter(item, &candidates, now) {
                                assign.push((item.item_id(), next_epoch(item), c.clone()));
                                if let Some(cand) = candidates.iter_mut().find(|x| x.id == c) {
                                    cand.load += 1;
                                }
                            }
                        }
                    }
                    Phase::Offered | Phase::Rejected if item.origin == me => {
                        let back = item.epoch().is_some_and(|e| {
                            self.back_after_release.contains(&(item.item_id(), e))
                        });
                        let picked = if back {
                            // Its converter gave it back and has restarted since.
                            let mut again = item.clone();
                            again.released = None;
                            pick_converter(&again, &candidates, now)
                        } else {
                            pick_converter(item, &candidates, now)
                        };
                        if let Some(c) = picked {
                            assign.push((item.item_id(), next_epoch(item), c.clone()));
                            if let Some(cand) = candidates.iter_mut().find(|x| x.id == c) {
                                cand.load += 1;
                            }
                        }
                    }
                    Phase::Converted if item.origin == me => {
                        if let Some((epoch, converter)) = item.assignment.clone() {
                            fx.push(Effect::Deliver {
                                item_id: item.item_id(),
                                epoch,
                                converter,
                            });
                        }
                    }
                    Phase::Assigned if item.converter() == Some(&me) => {
                        if let Some(epoch) = current_epoch {
                            fx.push(Effect::Evaluate {
                                item_id: item.item_id(),
                                epoch,
                            });
                        }
                    }
                    Phase::Accepted | Phase::Transferring | Phase::Converting
                        if item.converter() == Some(&me) =>
                    {
                        if let Some(epoch) = current_epoch {
                            fx.push(Effect::RunJob {
                                item_id: item.item_id(),
                                epoch,
                                origin: item.origin.clone(),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        self.retry_since = retrying;
        if !self.back_after_release.is_empty() {
            let replica = &self.replica;
            self.back_after_release.retain(|(id, e)| {
                replica
                    .item(id)
                    .is_some_and(|i| i.phase == Phase::Offered && i.epoch() == Some(*e))
            });
        }
        for (item_id, epoch, converter) in assign {
            self.heard.insert(item_id, now);
            self.retry_since.remove(&item_id);
            self.author(
                RecordBody::Assign {
                    item_id,
                    epoch,
                    converter,
                },
                now,
                fx,
            );
        }
        for (item_id, failed) in give_up {
            self.retry_since.remove(&item_id);
            self.author(
                RecordBody::Failed {
                    item_id,
                    epoch: None,
                    error: format!("gave up after {failed} attempts"),
                },
                now,
                fx,
            );
        }
    }
}

/// Folds a converter's reported speed into its moving average.
fn note_speed(speeds: &mut BTreeMap<NodeId, f32>, r: &Record) {
    let RecordBody::Progress { progress, .. } = &r.body else {
        return;
    };
    let Some(s) = progress.speed else { return };
    if progress.stage != Stage::Converting || !s.is_finite() || s <= 0.0 || s > 10_000.0 {
        return;
    }
    speeds
        .entry(r.author.clone())
        .and_modify(|avg| *avg += SPEED_WEIGHT * (s - *avg))
        .or_insert(s);
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
