//! Bounded fuzzing of the wire messages and records that peers send, for `cargo test` on
//! stable Rust: random bytes, and mutations of valid encodings taken from a simulated network.
//! Decoding must never panic or allocate beyond the limits; whatever decodes must pass (or be
//! refused by) the limit checks, validate or be refused, and encode back stably.
//!
//! `DMC_FUZZ_CASES=N` runs N cases per property instead of the default (see docs/fuzzing.md);
//! the nightly, coverage-guided targets live in `fuzz/`.

mod alloc_count;
mod sim;

use std::sync::OnceLock;

use alloc_count::peak_of;
use dmc_protocol::wire::{self, Request, Response, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use dmc_protocol::{ProgressInfo, ProgressReport, Record, RecordBody, Replica, Stage, Summary};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sim::Sim;

/// Most heap one decode of `n` input bytes may use: a small multiple of the input (Rust
/// values are larger than their CBOR) plus a constant, far below any length a header claims.
fn alloc_bound(n: usize) -> usize {
    64 * n + (4 << 20)
}

/// Cases per property: `DMC_FUZZ_CASES`, default 256.
fn cases() -> u32 {
    std::env::var("DMC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Valid encodings of every kind of message and record, from a small simulated network that
/// offered, assigned, converted and failed items.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut sim = Sim::new(3, 2);
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            sim.link(a, b);
        }
        for i in [0, 0, 1, 2] {
            sim.offer(i);
        }
        for step in 0..400usize {
            sim.deliver(step);
            sim.act(step, (step * 7 % 256) as u8);
            if step % 10 == 0 {
                sim.tick_after(step % 3, 5_000);
            }
        }
        sim.drain();
        let mut out = Vec::new();
        let mut records: Vec<Record> = Vec::new();
        for e in &sim.engines {
            if let Response::Records { records: page, .. } =
                e.answer_sync(&Summary::default(), &wire::AuthorRange::all())
            {
                records.extend(page);
            }
            let summary = e.replica().summary();
            out.push(wire::encode(&Request::SyncDigest {
                digest: summary.digest(),
            }));
            let first = summary.0.first().map(|(a, _)| a.clone());
            out.push(wire::encode(&Response::Summary {
                summary: summary.clone(),
                next: first.clone(),
            }));
            out.push(wire::encode(&Request::Sync {
                summary: summary.clone(),
                from: None,
                to: None,
            }));
            out.push(wire::encode(&Request::Sync {
                summary,
                from: first.clone(),
                to: first,
            }));
        }
        let kinds: std::collections::BTreeSet<&str> =
            records.iter().map(|r| r.body.kind()).collect();
        assert!(
            kinds.len() >= 4,
            "the simulation made few kinds of records: {kinds:?}"
        );
        for r in &records {
            out.push(wire::encode(r));
        }
        out.push(wire::encode(&records));
        out.push(wire::encode(&Request::Push {
            records: records.iter().take(8).cloned().collect(),
        }));
        out.push(wire::encode(&Response::Records {
            records: records.clone(),
            more: true,
            complete: vec![(records[0].author.clone(), 9)],
        }));
        let item_id = records.iter().find_map(|r| r.body.item_id()).unwrap();
        out.push(wire::encode(&Request::Ended {
            items: vec![item_id],
        }));
        out.push(wire::encode(&Response::Ended {
            items: vec![item_id],
        }));
        out.push(wire::encode(&Request::Manifest {
            item_id,
            role: wire::FileRole::Source,
            epoch: 2,
            first: 0,
            count: 64,
        }));
        out.push(wire::encode(&Request::Chunk {
            item_id,
            role: wire::FileRole::Result,
            epoch: 1,
            index: 300,
        }));
        out.push(wire::encode(&Response::Manifest {
            file_size: 3 << 20,
            chunk_size: 1 << 20,
            first: 0,
            hashes: vec![7; 96],
        }));
        out.push(wire::encode(&Response::Chunk {
            index: 2,
            data: vec![1; 100],
        }));
        // A progress report (ephemeral since protocol 4) and a progress record as versions
        // before it stored (still decoded and folded).
        let progress = ProgressInfo {
            stage: Stage::Converting,
            fraction: 0.5,
            fps: Some(25.0),
            speed: Some(1.5),
            eta_secs: Some(60),
            segments: None,
        };
        let mut report = ProgressReport {
            author: sim::node_id(0),
            item_id,
            epoch: 1,
            progress,
            created_at: 1_763_000_000_000,
            sig: Default::default(),
        };
        sim::signer(0).sign_report(&mut report);
        out.push(wire::encode(&Request::Progress { report }));
        let mut legacy = Record {
            author: sim::node_id(0),
            seq: 9,
            created_at: 1_763_000_000_000,
            body: RecordBody::Progress {
                item_id,
                epoch: 1,
                progress,
            },
            sig: Default::default(),
        };
        sim::signer(0).sign(&mut legacy);
        out.push(wire::encode(&legacy));
        out.push(wire::encode(&Response::Ack));
        out.push(wire::encode(&Response::InSync));
        out.push(wire::encode(&Response::Error {
            code: wire::ErrorCode::Forbidden,
            message: "no".into(),
        }));
        out.push(wire::encode(&Response::Error {
            code: wire::ErrorCode::Gone,
            message: "the result is gone".into(),
        }));
        out
    })
}

/// One edit of a valid encoding.
#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the byte at (position modulo length).
    Set(usize, u8),
    /// Flip one bit.
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
    /// Put a CBOR header of major type `major` claiming a huge length (up to 2^64 - 1).
    HugeHeader(usize, u8, u64),
    /// Copy a slice of the input elsewhere (structure reuse).
    Splice(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        3 => (any::<usize>(), 0..8u8).prop_map(|(p, b)| Mutation::Flip(p, b)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..9))
            .prop_map(|(p, v)| Mutation::Insert(p, v)),
        1 => (any::<usize>(), 1..16usize).prop_map(|(p, n)| Mutation::Delete(p, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), 2..6u8, prop_oneof![Just(u64::MAX), Just(1u64 << 32), Just(u32::MAX as u64), any::<u64>()])
            .prop_map(|(p, m, n)| Mutation::HugeHeader(p, m, n)),
        1 => (any::<usize>(), any::<usize>(), 1..32usize)
            .prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
        match m {
            Mutation::Set(p, v) if !b.is_empty() => {
                let i = at(*p, b.len());
                b[i] = *v;
            }
            Mutation::Flip(p, bit) if !b.is_empty() => {
                let i = at(*p, b.len());
                b[i] ^= 1 << bit;
            }
            Mutation::Insert(p, v) => {
                let i = at(*p, b.len() + 1);
                b.splice(i..i, v.iter().copied());
            }
            Mutation::Delete(p, n) if !b.is_empty() => {
                let i = at(*p, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Mutation::Truncate(p) => {
                let i = at(*p, b.len() + 1);
                b.truncate(i);
            }
            Mutation::HugeHeader(p, major, n) => {
                let i = at(*p, b.len() + 1);
                let mut h = vec![(major << 5) | 27];
                h.extend_from_slice(&n.to_be_bytes());
                b.splice(i..i, h);
            }
            Mutation::Splice(from, to, n) if !b.is_empty() => {
                let s = at(*from, b.len());
                let piece: Vec<u8> = b[s..(s + n).min(b.len())].to_vec();
                let d = at(*to, b.len() + 1);
                b.splice(d..d, piece);
            }
            _ => {}
        }
    }
    b
}

/// What a node does with a message's bytes, checked: decode within `limit`, then the limits;
/// anything accepted re-encodes to bytes that decode to the same encoding.
fn check_message<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    limit: usize,
    limits: impl Fn(&T) -> Result<(), wire::WireError>,
    records: impl Fn(&T) -> Vec<Record>,
) {
    let (decoded, peak) = peak_of(|| wire::decode::<T>(bytes, limit));
    assert!(
        peak <= alloc_bound(bytes.len()),
        "decoding {} bytes allocated {peak} bytes",
        bytes.len()
    );
    let Ok(msg) = decoded else { return };
    if limits(&msg).is_err() {
        return;
    }
    let again = wire::encode(&msg);
    let back: T = wire::decode(&again, usize::MAX).expect("a re-encoded message decodes");
    assert!(
        limits(&back).is_ok(),
        "a re-encoded message breaks the limits"
    );
    assert_eq!(wire::encode(&back), again, "encoding is not stable");
    ingest(records(&msg));
}

/// Validates records as a node receiving them does, and folds the valid ones.
fn ingest(records: Vec<Record>) {
    let mut replica = Replica::new();
    for r in records {
        if r.validate().is_ok() {
            let _ = replica.insert(r);
        }
    }
    let _ = replica.summary();
}

fn check_all(bytes: &[u8]) {
    check_message::<Request>(
        bytes,
        MAX_REQUEST_BYTES,
        Request::check_limits,
        |m| match m {
            Request::Push { records } => records.clone(),
            Request::Progress { report } => {
                // Checked as a node receiving it does; never a record.
                if report.validate().is_ok() {
                    let _ = dmc_protocol::sign::verify_report(report);
                }
                Vec::new()
            }
            _ => Vec::new(),
        },
    );
    check_message::<Response>(
        bytes,
        MAX_RESPONSE_BYTES,
        Response::check_limits,
        |m| match m {
            Response::Records { records, .. } => records.clone(),
            _ => Vec::new(),
        },
    );
    let (record, peak) = peak_of(|| cbor4ii::serde::from_slice::<Record>(bytes));
    assert!(
        peak <= alloc_bound(bytes.len()),
        "record decode allocated {peak}"
    );
    if let Ok(r) = record {
        ingest(vec![r]);
    }
    let (batch, peak) = peak_of(|| cbor4ii::serde::from_slice::<Vec<Record>>(bytes));
    assert!(
        peak <= alloc_bound(bytes.len()),
        "batch decode allocated {peak}"
    );
    if let Ok(rs) = batch {
        ingest(rs);
    }
}

#[test]
fn seeds_decode_and_are_within_limits() {
    for s in seeds() {
        check_all(s);
    }
    // `DMC_FUZZ_SEED_DIR=fuzz/corpus` writes the seeds as starting corpora of the cargo-fuzz
    // targets (fuzz/README.md).
    if let Some(dir) = std::env::var_os("DMC_FUZZ_SEED_DIR") {
        write_corpora(std::path::Path::new(&dir));
    }
}

/// `record_validate` takes the bytes as they are; `wire_decode` a mode byte first (0/1: a
/// request/response body, 2/3: a request/response frame with its length header).
fn write_corpora(dir: &std::path::Path) {
    let (rec, wire_dir) = (dir.join("record_validate"), dir.join("wire_decode"));
    std::fs::create_dir_all(&rec).unwrap();
    std::fs::create_dir_all(&wire_dir).unwrap();
    for (i, s) in seeds().iter().enumerate() {
        std::fs::write(rec.join(format!("seed-{i}")), s).unwrap();
        for mode in 0u8..4 {
            let mut b = vec![mode];
            if mode >= 2 {
                b.extend_from_slice(&(s.len() as u32).to_be_bytes());
            }
            b.extend_from_slice(s);
            std::fs::write(wire_dir.join(format!("seed-{i}-{mode}")), b).unwrap();
        }
    }
}

/// A header claiming far more than the message holds is refused before anything that large is
/// allocated (array of records, byte string of a chunk, text, summary).
#[test]
fn huge_length_claims_are_refused_without_allocating_them() {
    // The counter sees a large allocation (or this test would prove nothing).
    let (_, peak) = peak_of(|| vec![1u8; 8 << 20]);
    assert!(peak >= 8 << 20, "{peak}");
    let huge = |major: u8, n: u64| {
        let mut h = vec![(major << 5) | 27];
        h.extend_from_slice(&n.to_be_bytes());
        h
    };
    // Push { records: [] } ends with the empty array 0x80; Chunk { data: b"" } with 0x40.
    let push = wire::encode(&Request::Push { records: vec![] });
    let chunk = wire::encode(&Response::Chunk {
        index: 0,
        data: vec![],
    });
    assert_eq!(push.last(), Some(&0x80));
    assert_eq!(chunk.last(), Some(&0x40));
    for n in [
        u64::MAX,
        1 << 32,
        u32::MAX as u64,
        (MAX_RESPONSE_BYTES as u64) + 1,
    ] {
        let mut p = push[..push.len() - 1].to_vec();
        p.extend(huge(4, n));
        let (r, peak) = peak_of(|| wire::decode::<Request>(&p, MAX_REQUEST_BYTES));
        assert!(r.is_err(), "array of {n} records accepted");
        assert!(peak <= alloc_bound(p.len()), "array of {n}: {peak} bytes");
        let mut c = chunk[..chunk.len() - 1].to_vec();
        c.extend(huge(2, n));
        let (r, peak) = peak_of(|| wire::decode::<Response>(&c, MAX_RESPONSE_BYTES));
        assert!(r.is_err(), "byte string of {n} accepted");
        assert!(
            peak <= alloc_bound(c.len()),
            "byte string of {n}: {peak} bytes"
        );
    }
    // Over the message limit: refused before decoding.
    let big = vec![0u8; MAX_REQUEST_BYTES + 1];
    assert!(matches!(
        wire::decode::<Request>(&big, MAX_REQUEST_BYTES),
        Err(wire::WireError::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_all(&bytes);
    }

    #[test]
    fn mutated_valid_encodings_never_panic(
        seed in any::<prop::sample::Index>(),
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let s = seeds();
        let bytes = apply(seed.get(s).clone(), &muts);
        check_all(&bytes);
    }
}
