//! A deterministic simulation of several engines exchanging messages over links that can be
//! cut, lose messages and heal. Progress reports travel like records (pushed requests that a
//! cut link or a dropped message loses) but are kept by no one. Used by the property tests of replication and merge.

#![allow(dead_code)]

pub mod mint;
pub mod steps;
pub mod store;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use dmc_protocol::engine::{Effect, Engine, EngineConfig, Event};
use dmc_protocol::wire::{encoded_len, AuthorRange, Request, Response};
use dmc_protocol::{
    ConverterAd, FileInfo, ItemId, ItemState, MediaType, NodeId, Offer, ProgressInfo, Record,
    RecordBody, Signature, Signer, Stage,
};
use store::SimStore;

/// An offer by `origin`'s key of a 4 s video `clip.mp4` to `mkv-x264` with `nonce` and
/// `priority`, and the item's id.
pub fn video_offer(origin: &NodeId, nonce: [u8; 16], priority: i32) -> (ItemId, RecordBody) {
    let item_id = ItemId::for_origin(origin, &nonce);
    let offer = RecordBody::Offer(Offer {
        item_id,
        nonce,
        file: file("clip.mp4", 1),
        media_type: MediaType::Video,
        profile: "mkv-x264".into(),
        duration_ms: Some(4000),
        priority,
        sha512_follows: false,
        part_of: None,
    });
    (item_id, offer)
}

/// Node `i`'s key (a fixed seed per node, so runs are repeatable).
pub fn signer(i: usize) -> Signer {
    Signer::from_seed([i as u8 + 1; 32])
}

/// A record claiming node `author`, signed by node `key_of`'s key (the same node for a
/// genuine record).
pub fn record_by(author: usize, key_of: usize, seq: u64, body: RecordBody) -> Record {
    let mut r = Record {
        author: node_id(author),
        seq,
        created_at: 1,
        body,
        sig: Signature::default(),
    };
    signer(key_of).sign(&mut r);
    r
}

/// Node `from` hands `records` to node `to`; the reasons `to` refused them for.
pub fn relay(sim: &mut Sim, from: usize, to: usize, records: Vec<Record>) -> Vec<String> {
    let fx = sim.engines[to].handle(
        Event::Records {
            from: node_id(from),
            records,
            sync_more: None,
            complete: vec![],
        },
        sim.now + 1,
    );
    fx.into_iter()
        .filter_map(|e| match e {
            Effect::Refused { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

pub fn node_id(i: usize) -> NodeId {
    signer(i).node_id().clone()
}

pub fn file(name: &str, n: u8) -> FileInfo {
    FileInfo {
        file_name: name.into(),
        file_size: 1000 + n as u64,
        sha512: format!("{:0128x}", n),
        blake3: format!("{:064x}", n),
        chunk_size: 1 << 20,
        manifest_hash: format!("{:064x}", n as u64 + 7),
    }
}

/// A local action an engine asked for, to be carried out (or not) by the schedule.
#[derive(Clone, Debug)]
pub enum Pending {
    Evaluate {
        node: usize,
        item_id: ItemId,
        epoch: u32,
    },
    RunJob {
        node: usize,
        item_id: ItemId,
        epoch: u32,
    },
    Deliver {
        node: usize,
        item_id: ItemId,
        epoch: u32,
    },
}

pub struct Sim {
    pub engines: Vec<Engine>,
    /// Each node's store: what it persisted, minus what it compacted.
    pub stores: Vec<SimStore>,
    pub links: BTreeSet<(usize, usize)>,
    /// In-flight requests: (from, to, request).
    pub queue: VecDeque<(usize, usize, Request)>,
    pub pending: Vec<Pending>,
    pub now: u64,
    pub offers: u8,
    /// Progress reports delivered so far.
    pub reports_delivered: usize,
    /// `delivered` records made, per item (by any node, over the whole run).
    pub deliveries: BTreeMap<ItemId, usize>,
    /// Items compacted by any node, and by which.
    pub compacted: BTreeMap<ItemId, BTreeSet<usize>>,
    /// Records about compacted items that a node ignored.
    pub stale_ignored: usize,
    /// Requests delivered so far (each with its answer: one round trip).
    pub round_trips: usize,
    /// Bytes of the requests delivered and their answers, as encoded on the wire.
    pub wire_bytes: usize,
    /// Requests and answers dropped because the wire's limit checks refuse them (as a real
    /// node's codec would).
    pub refused_by_limits: usize,
    /// How far each node's clock is off the simulation's (ms; negative: behind).
    pub skew: Vec<i64>,
    /// Each minted identity's next sequence number (`mint.rs`).
    pub minted_seqs: BTreeMap<usize, u64>,
}

/// One step of a random schedule.
#[derive(Clone, Debug)]
pub enum Op {
    Offer(usize),
    Cancel(usize, usize),
    /// A node gives the SHA-512 of one of its offers that left it out.
    Checksum(usize, usize),
    Tick(usize),
    Link(usize, usize),
    Cut(usize, usize),
    Deliver(usize),
    Drop(usize),
    Act(usize, u8),
    /// A minted identity (of 4) pushes an item it cancels at once into a node.
    Mint(usize, usize),
}

impl Sim {
    /// `n` nodes; the first `converters` of them convert video.
    pub fn new(n: usize, converters: usize) -> Sim {
        Sim::with(n, converters, |_| {})
    }

    /// Like [`Sim::new`], with each engine's configuration adjusted by `tune`.
    pub fn with(n: usize, converters: usize, tune: impl Fn(&mut EngineConfig)) -> Sim {
        let engines = (0..n)
            .map(|i| {
                let converter = (i < converters).then(|| ConverterAd {
                    media_types: vec![MediaType::Video],
                    profiles: vec!["mkv-x264".into()],
                    workers: 1,
                    segments: false,
                });
                let mut cfg = EngineConfig::new(signer(i), format!("n{i}"), converter);
                tune(&mut cfg);
                Engine::new(cfg, [])
            })
            .collect();
        let mut sim = Sim {
            engines,
            stores: vec![SimStore::default(); n],
            links: BTreeSet::new(),
            queue: VecDeque::new(),
            pending: vec![],
            now: 1_000,
            offers: 0,
            reports_delivered: 0,
            deliveries: BTreeMap::new(),
            compacted: BTreeMap::new(),
            stale_ignored: 0,
            round_trips: 0,
            wire_bytes: 0,
            refused_by_limits: 0,
            skew: vec![0; n],
            minted_seqs: BTreeMap::new(),
        };
        for i in 0..n {
            sim.feed(i, Event::Start);
        }
        sim
    }

    fn idx(&self, id: &NodeId) -> usize {
        self.engines
            .iter()
            .position(|e| e.me() == id)
            .expect("known node")
    }

    pub fn feed(&mut self, i: usize, ev: Event) {
        self.now += 7;
        let at = self.clock(i);
        let fx = self.engines[i].handle(ev, at);
        for e in fx {
            match e {
                Effect::Send { to, request } => {
                    let j = self.idx(&to);
                    self.queue.push_back((i, j, request));
                }
                Effect::Evaluate { item_id, epoch } => self.pending.push(Pending::Evaluate {
                    node: i,
                    item_id,
                    epoch,
                }),
                Effect::RunJob { item_id, epoch, .. } => self.pending.push(Pending::RunJob {
                    node: i,
                    item_id,
                    epoch,
                }),
                Effect::Deliver { item_id, epoch, .. } => self.pending.push(Pending::Deliver {
                    node: i,
                    item_id,
                    epoch,
                }),
                Effect::Persist(records) => {
                    for r in records.iter().filter(|r| r.author == *self.engines[i].me()) {
                        if let RecordBody::Delivered { item_id, .. } = r.body {
                            *self.deliveries.entry(item_id).or_default() += 1;
                        }
                    }
                    let replica = self.engines[i].replica();
                    let received: Vec<_> = records
                        .into_iter()
                        .map(|r| {
                            let seen = replica.received_at(&r.author, r.seq);
                            (r, seen.unwrap_or(at))
                        })
                        .collect();
                    self.stores[i].persist(received);
                }
                Effect::Compact(c) => {
                    self.stores[i].compact(&c);
                    for (id, _) in c.items {
                        self.compacted.entry(id).or_default().insert(i);
                    }
                }
                Effect::Stale { items, .. } => self.stale_ignored += items.len(),
                Effect::Refused { .. }
                | Effect::OverBudget { .. }
                | Effect::LeaseExpired { .. } => {}
            }
        }
        // Keep the pending list bounded: the engine repeats level-triggered actions.
        if self.pending.len() > 64 {
            self.pending.drain(..self.pending.len() - 64);
        }
    }

    /// Node `i`'s clock: the simulation's time, off by its skew.
    pub fn clock(&self, i: usize) -> u64 {
        self.now.saturating_add_signed(self.skew[i])
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        self.links.contains(&(a.min(b), a.max(b)))
    }

    pub fn link(&mut self, a: usize, b: usize) {
        if a == b || self.linked(a, b) {
            return;
        }
        self.links.insert((a.min(b), a.max(b)));
        let (ia, ib) = (self.engines[a].me().clone(), self.engines[b].me().clone());
        self.feed(a, Event::PeerConnected(ib));
        self.feed(b, Event::PeerConnected(ia));
    }

    pub fn cut(&mut self, a: usize, b: usize) {
        if !self.linked(a, b) {
            return;
        }
        self.links.remove(&(a.min(b), a.max(b)));
        let (ia, ib) = (self.engines[a].me().clone(), self.engines[b].me().clone());
        self.feed(a, Event::PeerDisconnected(ib));
        self.feed(b, Event::PeerDisconnected(ia));
        self.queue
            .retain(|(f, t, _)| !((*f == a && *t == b) || (*f == b && *t == a)));
    }

    /// Delivers the k-th in-flight request (and its answer, for a sync).
    pub fn deliver(&mut self, k: usize) {
        if self.queue.is_empty() {
            return;
        }
        let Some((from, to, req)) = self.queue.remove(k % self.queue.len()) else {
            return;
        };
        if !self.linked(from, to) {
            return;
        }
        let from_id = self.engines[from].me().clone();
        let to_id = self.engines[to].me().clone();
        self.round_trips += 1;
        self.wire_bytes += encoded_len(&req);
        if req.check_limits().is_err() {
            self.refused_by_limits += 1;
            return;
        }
        match req {
            Request::Sync {
                summary,
                from: a,
                to: b,
            } => {
                let range = AuthorRange { from: a, to: b };
                let e = &self.engines[to];
                let answer = if e.config().drop_ended {
                    // From its store, as a node answers (ended items are not in memory).
                    let horizons = e.sync_horizons(&range, &summary);
                    let Ok(answer) =
                        Engine::answer_sync_from(&self.stores[to], &horizons, &summary);
                    answer
                } else {
                    e.answer_sync(&summary, &range)
                };
                if !self.answered(&answer) {
                    return;
                }
                if let Response::Records {
                    records,
                    more,
                    complete,
                } = answer
                {
                    self.feed(
                        from,
                        Event::Records {
                            from: to_id.clone(),
                            records,
                            sync_more: Some(more),
                            complete,
                        },
                    );
                }
            }
            Request::Ended { items } => {
                if let Response::Ended { items } = self.engines[to].answer_ended(&items) {
                    self.feed(from, Event::EndedAnswer { from: to_id, items });
                }
            }
            Request::SyncDigest { digest } => {
                let answer = self.engines[to].answer_digest(&digest);
                if !self.answered(&answer) {
                    return;
                }
                if let Response::Summary { summary, next } = answer {
                    self.feed(
                        from,
                        Event::PeerSummary {
                            from: to_id,
                            summary,
                            next,
                        },
                    );
                }
            }
            Request::Push { records } => {
                self.wire_bytes += encoded_len(&Response::Ack);
                self.feed(
                    to,
                    Event::Records {
                        from: from_id,
                        records,
                        sync_more: None,
                        complete: vec![],
                    },
                )
            }
            Request::Progress { report } => {
                self.reports_delivered += 1;
                self.feed(
                    to,
                    Event::Report {
                        from: from_id,
                        report,
                    },
                )
            }
            _ => {}
        }
    }

    /// Counts an answer's bytes; false when the wire's limit checks refuse it.
    fn answered(&mut self, answer: &Response) -> bool {
        self.wire_bytes += encoded_len(answer);
        if answer.check_limits().is_err() {
            self.refused_by_limits += 1;
            return false;
        }
        true
    }

    /// Node `i` offers a new video; returns its id. Every other offer leaves its SHA-512 out
    /// (`sha512_follows`: a large file), for an [`Op::Checksum`] to give later.
    pub fn offer(&mut self, i: usize) -> ItemId {
        self.offers = self.offers.wrapping_add(1);
        let n = self.offers;
        let nonce = [n, i as u8, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        let item_id = ItemId::for_origin(&node_id(i), &nonce);
        let sha512_follows = n.is_multiple_of(2);
        let mut file = file(&format!("clip{n}.mp4"), n);
        if sha512_follows {
            file.sha512.clear();
        }
        let offer = Offer {
            item_id,
            nonce,
            file,
            media_type: MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: Some(4000),
            priority: 0,
            sha512_follows,
            part_of: None,
        };
        self.feed(i, Event::Local(RecordBody::Offer(offer)));
        item_id
    }

    /// Carries out a pending action with a choice (accept or reject, convert or fail, …).
    pub fn act(&mut self, k: usize, choice: u8) {
        if self.pending.is_empty() {
            return;
        }
        let p = self.pending.remove(k % self.pending.len());
        let local = match p {
            Pending::Evaluate {
                node,
                item_id,
                epoch,
            } => (
                node,
                if choice.is_multiple_of(3) {
                    RecordBody::Reject {
                        item_id,
                        epoch,
                        reason: "insufficient disk: need 2 GiB, have 1 GiB".into(),
                        until_fewer: None,
                    }
                } else {
                    RecordBody::Accept { item_id, epoch }
                },
            ),
            Pending::RunJob {
                node,
                item_id,
                epoch,
            } => (
                node,
                match choice % 4 {
                    0 => RecordBody::Failed {
                        item_id,
                        epoch: Some(epoch),
                        error: "ffmpeg exited 1".into(),
                        certain: false,
                    },
                    1 => RecordBody::Progress {
                        item_id,
                        epoch,
                        progress: ProgressInfo {
                            stage: Stage::Converting,
                            fraction: (choice as f32) / 255.0,
                            fps: Some(30.0),
                            speed: Some(1.5),
                            eta_secs: Some(3),
                            segments: None,
                        },
                    },
                    _ => RecordBody::Converted {
                        item_id,
                        epoch,
                        output: file("out.mkv", choice),
                    },
                },
            ),
            Pending::Deliver {
                node,
                item_id,
                epoch,
            } => (
                node,
                match choice % 5 {
                    // The origin's check fails the result, or its converter lost it.
                    0 | 1 => RecordBody::ResultRefused {
                        item_id,
                        epoch,
                        reason: "expected video codec h264, found no video stream".into(),
                        lost: choice % 5 == 1,
                    },
                    _ => RecordBody::Delivered {
                        item_id,
                        epoch,
                        output_path: "/out/clip.mkv".into(),
                        sha512: format!("{:0128x}", choice),
                    },
                },
            ),
        };
        self.feed(local.0, Event::Local(local.1));
    }

    pub fn cancel(&mut self, i: usize, k: usize) {
        let mine: Vec<ItemId> = self.engines[i]
            .replica()
            .items()
            .filter(|it| it.origin == *self.engines[i].me())
            .map(|it| it.item_id())
            .collect();
        if mine.is_empty() {
            return;
        }
        let item_id = mine[k % mine.len()];
        self.feed(i, Event::Local(RecordBody::Cancel { item_id }));
    }

    /// Node `i` gives the SHA-512 of one of its items that lacks it (when it may: the engine
    /// decides).
    pub fn checksum(&mut self, i: usize, k: usize) {
        let lacking: Vec<ItemId> = self.engines[i]
            .replica()
            .items()
            .filter(|it| it.origin == *self.engines[i].me() && it.source_sha512().is_none())
            .map(|it| it.item_id())
            .collect();
        if lacking.is_empty() {
            return;
        }
        let item_id = lacking[k % lacking.len()];
        let sha512 = format!("{:0128x}", k + 1);
        self.feed(i, Event::Local(RecordBody::Checksum { item_id, sha512 }));
    }

    pub fn run(&mut self, op: &Op) {
        let n = self.engines.len();
        match *op {
            Op::Offer(i) => {
                self.offer(i % n);
            }
            Op::Cancel(i, k) => self.cancel(i % n, k),
            Op::Checksum(i, k) => self.checksum(i % n, k),
            Op::Tick(i) => {
                self.now += 31_000;
                self.feed(i % n, Event::Tick)
            }
            Op::Link(a, b) => self.link(a % n, b % n),
            Op::Cut(a, b) => self.cut(a % n, b % n),
            Op::Deliver(k) => self.deliver(k),
            Op::Drop(k) => {
                if !self.queue.is_empty() {
                    let l = self.queue.len();
                    self.queue.remove(k % l);
                }
            }
            Op::Act(k, c) => self.act(k, c),
            Op::Mint(i, k) => {
                self.mint(i % n, k % 4);
            }
        }
    }

    /// Heals every partition and delivers every message, with no new local decisions.
    pub fn heal(&mut self) {
        let n = self.engines.len();
        for a in 0..n {
            for b in a + 1..n {
                self.cut(a, b);
                self.link(a, b);
            }
        }
        let mut steps = 0;
        while !self.queue.is_empty() {
            self.deliver(0);
            steps += 1;
            assert!(steps < 1_000_000, "replication did not quiesce");
        }
    }

    /// Delivers every in-flight request.
    pub fn drain(&mut self) {
        let mut steps = 0;
        while !self.queue.is_empty() {
            self.deliver(0);
            steps += 1;
            assert!(steps < 1_000_000, "replication did not quiesce");
        }
    }

    /// Lets `ms` pass, then ticks node `i`.
    pub fn tick_after(&mut self, i: usize, ms: u64) {
        self.now += ms;
        self.feed(i, Event::Tick);
    }

    /// Node `i`'s view of one item, as its users see it: its records' state with the newest
    /// progress report laid over it (an ended item out of memory: its stored records' state).
    pub fn item(&self, i: usize, id: &ItemId) -> ItemState {
        let e = &self.engines[i];
        match e.replica().item(id) {
            Some(item) => e.live_item(item),
            None => self.stores[i]
                .states()
                .remove(id)
                .expect("the node knows the item"),
        }
    }

    /// Node `i` restarts: its engine is rebuilt from its store, as a node's is, and started.
    pub fn restart(&mut self, i: usize) {
        let n = self.engines.len();
        for j in (0..n).filter(|j| *j != i) {
            self.cut(i, j);
        }
        let cfg = self.engines[i].config().clone();
        self.engines[i] = Engine::restore(cfg, self.stores[i].restored());
        self.feed(i, Event::Start);
    }

    /// Node `i`'s items as its records alone give them: the times each node received them
    /// (which differ from node to node) replaced by the records' own. For an engine that
    /// drops ended items from memory, from its store.
    pub fn states(&self, i: usize) -> BTreeMap<ItemId, ItemState> {
        if self.engines[i].config().drop_ended {
            return self.stores[i].states();
        }
        let replica = self.engines[i].replica();
        replica
            .items()
            .filter_map(|s| ItemState::fold(replica.item_records(&s.item_id())))
            .map(|s| (s.item_id(), s))
            .collect()
    }
}
