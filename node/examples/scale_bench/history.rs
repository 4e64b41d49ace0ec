//! A busy household's year, as records: five nodes (two laptops that offer, three converters),
//! `items` items offered over 365 days, conversions from seconds to two hours, 10 % of items
//! with one or two failed attempts before the one that succeeds. Every record is signed by its
//! author, as nodes sign them; the measured node ("laptop") signs with the key in its data dir.

use dmc_protocol::{
    ConverterAd, Epoch, FileInfo, ItemId, MediaType, Millis, NodeId, NodeInfo, Offer, Record,
    RecordBody, Seq, Signer,
};

pub use crate::rng::Rng;

/// One year, in milliseconds.
pub const YEAR_MS: Millis = 365 * 24 * 3600 * 1000;

/// One author's next records.
pub struct Author {
    pub signer: Signer,
    seq: Seq,
}

impl Author {
    pub fn new(signer: Signer) -> Self {
        Author { signer, seq: 0 }
    }
    /// Continues after `seq` (records this author already made).
    pub fn resume_after(&mut self, seq: Seq) {
        self.seq = self.seq.max(seq);
    }
    pub fn id(&self) -> NodeId {
        self.signer.node_id().clone()
    }
    pub fn rec(&mut self, at: Millis, body: RecordBody) -> Record {
        self.seq += 1;
        let mut r = Record {
            author: self.id(),
            seq: self.seq,
            created_at: at,
            body,
            sig: Default::default(),
        };
        self.signer.sign(&mut r);
        r
    }
}

/// Index of the authors: the measured laptop, a second laptop, three converters.
pub const LAPTOP: usize = 0;
const CONVERTERS: [usize; 3] = [2, 3, 4];
const NAMES: [&str; 5] = ["laptop", "study-laptop", "nas", "desktop", "attic-server"];

/// The five authors; the measured laptop signs with `laptop`.
pub fn authors(laptop: Signer, rng: &mut Rng) -> Vec<Author> {
    let mut v = vec![Author::new(laptop)];
    for _ in 1..5 {
        v.push(Author::new(Signer::from_seed(rng.seed())));
    }
    v
}

/// Each author's node record, at `at`.
pub fn node_records(authors: &mut [Author], at: Millis) -> Vec<Record> {
    let ad = ConverterAd {
        media_types: vec![MediaType::Video, MediaType::Audio, MediaType::Image],
        profiles: vec!["mkv-x264".into(), "mkv-x265".into(), "webp".into()],
        workers: 2,
        segments: false,
    };
    (0..authors.len())
        .map(|k| {
            let info = NodeInfo {
                name: NAMES[k].into(),
                converter: CONVERTERS.contains(&k).then(|| ad.clone()),
            };
            authors[k].rec(at, RecordBody::Node(info))
        })
        .collect()
}

fn file_info(rng: &mut Rng, name: String, size: u64) -> FileInfo {
    FileInfo {
        file_name: name,
        file_size: size,
        sha512: rng.hex(128),
        blake3: rng.hex(64),
        chunk_size: 1 << 20,
        manifest_hash: rng.hex(64),
    }
}

/// The whole history of item `i`, offered at `at` by laptop `origin` (0 or 1).
pub fn item_records(rng: &mut Rng, authors: &mut [Author], i: usize, at: Millis) -> Vec<Record> {
    let origin = if i % 5 < 2 { LAPTOP } else { 1 };
    // Conversions from a few seconds (photos) to two hours (films).
    let convert_ms = if i.is_multiple_of(3) {
        2_000 + rng.below(8_000)
    } else {
        60_000 + rng.below(7_140_000)
    };
    let failures = match rng.below(100) {
        0..=6 => 1,
        7..=9 => 2,
        _ => 0,
    };
    let name = format!("clip-{:06}-{}.mov", i, rng.hex(6));
    let nonce = rng.bytes16();
    let item_id = ItemId::for_origin(&authors[origin].id(), &nonce);
    let size = 5_000_000 + rng.below(4_000_000_000);
    let offer = Offer {
        item_id,
        nonce,
        file: file_info(rng, name.clone(), size),
        media_type: MediaType::Video,
        profile: "mkv-x264".into(),
        duration_ms: Some(convert_ms * 3),
        priority: 0,
        sha512_follows: false,
        part_of: None,
    };
    let mut out = vec![authors[origin].rec(at, RecordBody::Offer(offer))];
    let mut t = at + 5;
    for attempt in 0..=failures {
        let epoch = attempt as Epoch + 1;
        let conv = CONVERTERS[(i + attempt) % CONVERTERS.len()];
        t = attempt_records(
            rng,
            authors,
            &mut out,
            (origin, conv),
            item_id,
            epoch,
            t,
            convert_ms,
        );
        if attempt < failures {
            let error = "ffmpeg exited with status 1: Conversion failed!".to_string();
            out.push(authors[conv].rec(
                t,
                RecordBody::Failed {
                    item_id,
                    epoch: Some(epoch),
                    error,
                    certain: false,
                },
            ));
            t += 30_000 << attempt;
        }
    }
    let epoch = failures as Epoch + 1;
    let conv = CONVERTERS[(i + failures) % CONVERTERS.len()];
    let output = file_info(rng, name.replace(".mov", ".mkv"), size / 3);
    let sha512 = output.sha512.clone();
    out.push(authors[conv].rec(
        t,
        RecordBody::Converted {
            item_id,
            epoch,
            output,
        },
    ));
    let output_path = format!("/home/me/converted/{}", name.replace(".mov", ".mkv"));
    out.push(authors[origin].rec(
        t + 4_000,
        RecordBody::Delivered {
            item_id,
            epoch,
            output_path,
            sha512,
        },
    ));
    out
}

/// Assign and accept of one attempt; returns when the attempt's conversion ends.
#[allow(clippy::too_many_arguments)]
fn attempt_records(
    rng: &mut Rng,
    authors: &mut [Author],
    out: &mut Vec<Record>,
    (origin, conv): (usize, usize),
    item_id: ItemId,
    epoch: Epoch,
    t: Millis,
    convert_ms: Millis,
) -> Millis {
    let converter = authors[conv].id();
    out.push(authors[origin].rec(
        t,
        RecordBody::Assign {
            item_id,
            epoch,
            converter,
        },
    ));
    out.push(authors[conv].rec(t + 40, RecordBody::Accept { item_id, epoch }));
    t + 40 + rng.below(60_000) + convert_ms
}
