//! The reconnect scenario shared by the reconciliation benchmark and its test: two engines
//! that share many items, and the exact message exchange they produce when they reconnect,
//! every frame encoded and decoded by the node's real codec and counted with its framing.

#![allow(dead_code)]

#[path = "exchange.rs"]
mod exchange;
pub use exchange::{exchange, Traffic};

#[path = "rng.rs"]
mod rng;
pub use rng::Rng;

use std::time::{Duration, Instant};

use dmc_protocol::engine::{Engine, EngineConfig, Event};
use dmc_protocol::{
    ConverterAd, Epoch, FileInfo, ItemId, MediaType, Millis, NodeId, NodeInfo, Offer, ProgressInfo,
    Record, RecordBody, Seq, Signer, Stage,
};

/// When the shared history starts (milliseconds since the Unix epoch).
pub const T0: Millis = 1_763_000_000_000;
/// Items of the shared history still converting on the third node when the pair splits; the
/// changed case finishes 8 of them and offers 2 new items: 10 items changed.
pub const IN_FLIGHT: usize = 8;
/// New items offered while the pair is apart.
pub const NEW_OFFERS: usize = 2;

/// A node key drawn from `rng` (records are signed, as nodes sign them).
fn signer(rng: &mut Rng) -> Signer {
    let mut seed = [0u8; 32];
    for c in seed.chunks_mut(8) {
        c.copy_from_slice(&rng.next().to_le_bytes());
    }
    Signer::from_seed(seed)
}

/// One author's next records.
struct Author {
    id: NodeId,
    signer: Signer,
    seq: Seq,
}

impl Author {
    fn rec(&mut self, at: Millis, body: RecordBody) -> Record {
        self.seq += 1;
        let mut r = Record {
            author: self.id.clone(),
            seq: self.seq,
            created_at: at,
            body,
            sig: Default::default(),
        };
        self.signer.sign(&mut r);
        r
    }
}

fn converter_ad() -> ConverterAd {
    ConverterAd {
        media_types: vec![MediaType::Video, MediaType::Audio, MediaType::Image],
        profiles: vec!["mkv-x264".into(), "mkv-x265".into(), "webp".into()],
        workers: 2,
        segments: false,
    }
}

fn file_info(rng: &mut Rng, name: String) -> FileInfo {
    FileInfo {
        file_name: name,
        file_size: 50_000_000 + rng.below(4_000_000_000),
        sha512: rng.hex(128),
        blake3: rng.hex(64),
        chunk_size: 1 << 20,
        manifest_hash: rng.hex(64),
    }
}

fn progress(stage: Stage, fraction: f32) -> ProgressInfo {
    ProgressInfo {
        stage,
        fraction,
        fps: Some(87.5),
        speed: Some(3.6),
        eta_secs: Some(41),
        segments: None,
    }
}

/// The records of one node's work on an item, in order of making.
struct ItemPlan {
    item_id: ItemId,
    nonce: [u8; 16],
    name: String,
    converter: usize,
}

/// Three nodes: `origin` offers every item; `conv1` and `conv2` convert them, half each.
/// The pair that reconnects is the origin (engine 0) and `conv1` (engine 1); `conv2` is a
/// third node whose records both hold.
pub struct World {
    /// [origin, conv1].
    pub engines: [Engine; 2],
    pub conv2: NodeId,
    /// Records held by both at the split.
    pub shared_records: usize,
    rng: Rng,
    authors: [Author; 3],
    in_flight: Vec<ItemPlan>,
    now: Millis,
}

fn offer_records(
    rng: &mut Rng,
    authors: &mut [Author; 3],
    plan: &ItemPlan,
    at: Millis,
) -> Vec<Record> {
    let offer = Offer {
        item_id: plan.item_id,
        nonce: plan.nonce,
        file: file_info(rng, plan.name.clone()),
        media_type: MediaType::Video,
        profile: "mkv-x264".into(),
        duration_ms: Some(60_000 + rng.below(3_600_000)),
        priority: 0,
        sha512_follows: false,
        part_of: None,
    };
    let epoch: Epoch = 1;
    let conv = authors[plan.converter].id.clone();
    vec![
        authors[0].rec(at, RecordBody::Offer(offer)),
        authors[0].rec(
            at + 5,
            RecordBody::Assign {
                item_id: plan.item_id,
                epoch,
                converter: conv,
            },
        ),
        authors[plan.converter].rec(
            at + 30,
            RecordBody::Accept {
                item_id: plan.item_id,
                epoch,
            },
        ),
        authors[plan.converter].rec(
            at + 2_000,
            RecordBody::Progress {
                item_id: plan.item_id,
                epoch,
                progress: progress(Stage::Transferring, 1.0),
            },
        ),
        authors[plan.converter].rec(
            at + 20_000,
            RecordBody::Progress {
                item_id: plan.item_id,
                epoch,
                progress: progress(Stage::Converting, 0.5),
            },
        ),
    ]
}

fn finish_records(
    rng: &mut Rng,
    authors: &mut [Author; 3],
    plan: &ItemPlan,
    at: Millis,
) -> Vec<Record> {
    let epoch: Epoch = 1;
    let stem = plan.name.trim_end_matches(".mov");
    let output = file_info(rng, format!("{stem}.mkv"));
    let sha512 = output.sha512.clone();
    vec![
        authors[plan.converter].rec(
            at,
            RecordBody::Converted {
                item_id: plan.item_id,
                epoch,
                output,
            },
        ),
        authors[0].rec(
            at + 3_000,
            RecordBody::Delivered {
                item_id: plan.item_id,
                epoch,
                output_path: format!("/srv/media/converted/{stem}.mkv"),
                sha512,
            },
        ),
    ]
}

fn plan(rng: &mut Rng, origin: &NodeId, i: usize, converter: usize) -> ItemPlan {
    // Of one length, so that which items are in flight does not change the byte counts.
    const PLACES: [&str; 6] = [
        "holiday", "concert", "wedding", "balcony", "harbour", "meadows",
    ];
    let name = format!(
        "{}-{}-{:02}-{:02}-clip-{:06}.mov",
        PLACES[i % PLACES.len()],
        2018 + i % 8,
        1 + i % 12,
        1 + i % 28,
        i
    );
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&rng.next().to_le_bytes());
    b[8..].copy_from_slice(&rng.next().to_le_bytes());
    ItemPlan {
        item_id: ItemId::for_origin(origin, &b),
        nonce: b,
        name,
        converter,
    }
}

impl World {
    /// Two engines holding the same history of `items` items: every item offered, assigned,
    /// accepted, with two progress records; all but the last [`IN_FLIGHT`] converted and
    /// delivered (those are still converting on the third node). 7 records per finished item.
    pub fn build(items: usize) -> World {
        let mut rng = Rng::new(0x5eed);
        let mut authors = [0, 1, 2].map(|_| {
            let signer = signer(&mut rng);
            Author {
                id: signer.node_id().clone(),
                signer,
                seq: 0,
            }
        });
        let mut records = Vec::with_capacity(items * 7 + 3);
        for (k, a) in authors.iter_mut().enumerate() {
            let info = NodeInfo {
                name: ["living-room-nas", "office-desktop", "attic-server"][k].into(),
                converter: (k > 0).then(converter_ad),
            };
            records.push(a.rec(T0, RecordBody::Node(info)));
        }
        let mut in_flight = Vec::new();
        for i in 0..items {
            let at = T0 + 1_000 + i as Millis * 60_000;
            let last = i + IN_FLIGHT >= items;
            let p = plan(
                &mut rng,
                &authors[0].id,
                i,
                if last { 2 } else { 1 + i % 2 },
            );
            records.extend(offer_records(&mut rng, &mut authors, &p, at));
            if last {
                in_flight.push(p);
            } else {
                records.extend(finish_records(&mut rng, &mut authors, &p, at + 40_000));
            }
        }
        let now = T0 + 1_000 + items as Millis * 60_000;
        let shared_records = records.len();
        let cfg = |k: usize, a: &Author| {
            EngineConfig::new(
                a.signer.clone(),
                format!("node{k}"),
                (k > 0).then(converter_ad),
            )
        };
        let a = Engine::new(cfg(0, &authors[0]), records.iter().cloned());
        let b = Engine::new(cfg(1, &authors[1]), records);
        World {
            engines: [a, b],
            conv2: authors[2].id.clone(),
            shared_records,
            rng,
            authors,
            in_flight,
            now,
        }
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    /// While the pair is apart, the origin and the third node change 10 items: the
    /// [`IN_FLIGHT`] items still converting get their result and are delivered (3 records
    /// each), and [`NEW_OFFERS`] new items are offered, assigned to the third node, accepted
    /// and progress (5 records each). The origin receives them as the node would: its own
    /// and the third node's, over a link to the third node. Returns the records made.
    pub fn change_while_apart(&mut self) -> usize {
        self.now += 60_000;
        let at = self.now;
        // The same sizes and hashes whatever the history before.
        self.rng = Rng::new(0x0c4a_96ed);
        let mut made = Vec::new();
        for p in std::mem::take(&mut self.in_flight) {
            made.push(self.authors[2].rec(
                at,
                RecordBody::Progress {
                    item_id: p.item_id,
                    epoch: 1,
                    progress: progress(Stage::Converting, 1.0),
                },
            ));
            made.extend(finish_records(
                &mut self.rng,
                &mut self.authors,
                &p,
                at + 10,
            ));
        }
        for k in 0..NEW_OFFERS {
            let p = plan(&mut self.rng, &self.authors[0].id.clone(), 1_000_000 + k, 2);
            made.extend(offer_records(
                &mut self.rng,
                &mut self.authors,
                &p,
                at + 100,
            ));
        }
        let n = made.len();
        let conv2 = self.conv2.clone();
        self.engines[0].handle(Event::PeerConnected(conv2.clone()), self.now);
        self.engines[0].handle(
            Event::Records {
                from: conv2.clone(),
                records: made,
                sync_more: None,
                complete: vec![],
            },
            self.now,
        );
        self.engines[0].handle(Event::PeerDisconnected(conv2), self.now);
        self.now += 60_000;
        n
    }

    /// Both sides see the connection drop.
    pub fn disconnect(&mut self) {
        let ids = self.ids();
        for (k, e) in self.engines.iter_mut().enumerate() {
            e.handle(Event::PeerDisconnected(ids[1 - k].clone()), self.now);
        }
    }

    pub fn ids(&self) -> [NodeId; 2] {
        [self.engines[0].me().clone(), self.engines[1].me().clone()]
    }

    /// Whether both engines hold the same records.
    pub fn in_sync(&self) -> bool {
        let (a, b) = (self.engines[0].replica(), self.engines[1].replica());
        a.len() == b.len() && a.summary() == b.summary()
    }

    /// Reconnects the pair and runs the exchange their engines produce until quiescent.
    pub fn reconnect(&mut self) -> Traffic {
        exchange(&mut self.engines, self.now)
    }
}

/// Time of one `Engine::handle(Event::Tick)` with no peer connected: the cost of
/// re-deriving the schedule over every item, which every event pays.
pub fn schedule_cost(engine: &mut Engine, now: Millis, runs: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..runs {
        std::hint::black_box(engine.handle(Event::Tick, now));
    }
    start.elapsed() / runs.max(1)
}
