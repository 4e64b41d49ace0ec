//! Bounded fuzzing of the node's request/response codec (frame header, chunk fast path, body
//! decoding) for `cargo test` on stable Rust: random frames and mutations of valid ones.
//! Reading must never panic or allocate beyond the frame limits; a response read through the
//! chunk fast path must equal what the generic decoder makes of the same body.
//!
//! `DMC_FUZZ_CASES=N` runs N cases per property instead of the default (docs/fuzzing.md).

#[path = "../../protocol/tests/alloc_count/mod.rs"]
mod alloc_count;

use alloc_count::peak_of;

use dmc_node::net::codec::{
    chunk_header, decode_request, decode_response, encode_frame, WireCodec, PROTOCOL,
};
use dmc_protocol::wire::{
    self, ErrorCode, FileRole, Request, Response, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES,
};
use dmc_protocol::{ItemId, NodeId, Summary};
use futures::executor::block_on;
use futures::io::Cursor;
use libp2p::request_response::Codec;
use proptest::prelude::*;

/// Most heap reading one frame of `n` input bytes may use: the frame limit (a body buffer is
/// sized by a header within it), plus a multiple of the input for the decoded values.
fn alloc_bound(limit: usize, n: usize) -> usize {
    limit + 64 * n + (4 << 20)
}

fn cases() -> u32 {
    std::env::var("DMC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Valid frames of every message kind, chunks also as the fast writer makes them.
fn seeds() -> Vec<Vec<u8>> {
    let item_id = ItemId::from_random([9; 16]);
    let summary = Summary(vec![(NodeId::new("NodeA"), 3), (NodeId::new("NodeB"), 1)]);
    let requests = [
        Request::Sync {
            summary: summary.clone(),
            from: None,
            to: None,
        },
        Request::Sync {
            summary: summary.clone(),
            from: Some(NodeId::new("NodeA")),
            to: Some(NodeId::new("NodeC")),
        },
        Request::SyncDigest {
            digest: summary.digest(),
        },
        Request::Push { records: vec![] },
        Request::Progress {
            report: dmc_protocol::ProgressReport {
                author: NodeId::new("NodeA"),
                item_id,
                epoch: 1,
                progress: dmc_protocol::ProgressInfo {
                    stage: dmc_protocol::Stage::Transferring,
                    fraction: 0.25,
                    fps: None,
                    speed: None,
                    eta_secs: Some(30),
                    segments: None,
                },
                created_at: 1_763_000_000_000,
                sig: dmc_protocol::Signature(vec![7; 64]),
            },
        },
        Request::Manifest {
            item_id,
            role: FileRole::Source,
            epoch: 1,
            first: 0,
            count: 100,
        },
        Request::Chunk {
            item_id,
            role: FileRole::Result,
            epoch: 2,
            index: 7,
        },
    ];
    let responses = [
        Response::Records {
            records: vec![],
            more: false,
            complete: vec![],
        },
        Response::Ack,
        Response::InSync,
        Response::Summary {
            summary: summary.clone(),
            next: None,
        },
        Response::Summary {
            summary,
            next: Some(NodeId::new("NodeC")),
        },
        Response::Manifest {
            file_size: 10,
            chunk_size: 4,
            first: 0,
            hashes: vec![3; 96],
        },
        Response::Error {
            code: ErrorCode::NotFound,
            message: "gone".into(),
        },
    ];
    let mut out: Vec<Vec<u8>> = requests
        .iter()
        .map(|r| encode_frame(r, 0, MAX_REQUEST_BYTES, "request").unwrap())
        .collect();
    out.extend(
        responses
            .iter()
            .map(|r| encode_frame(r, 0, MAX_RESPONSE_BYTES, "response").unwrap()),
    );
    for (index, len) in [(0u64, 0usize), (5, 30), (1 << 33, 300), (24, 70_000)] {
        let mut f = chunk_header(index, len, MAX_RESPONSE_BYTES).unwrap();
        f.extend((0..len).map(|i| i as u8));
        out.push(f);
    }
    out
}

/// Reads `frame` as a request and as a response, checking what comes out.
fn check_frame(frame: &[u8]) {
    let mut c = WireCodec;
    let (req, peak) = peak_of(|| block_on(c.read_request(&PROTOCOL, &mut Cursor::new(frame))));
    assert!(
        peak <= alloc_bound(MAX_REQUEST_BYTES, frame.len()),
        "{peak}"
    );
    if let Ok(req) = req {
        let body = wire::encode(&req);
        assert!(body.len() <= MAX_REQUEST_BYTES);
        let back = decode_request(&body).expect("a read request re-decodes");
        assert_eq!(wire::encode(&back), body);
    }
    let (resp, peak) = peak_of(|| block_on(c.read_response(&PROTOCOL, &mut Cursor::new(frame))));
    assert!(
        peak <= alloc_bound(MAX_RESPONSE_BYTES, frame.len()),
        "{peak}"
    );
    if let Ok(resp) = resp {
        // The body the reader consumed, through the generic decoder: the same message.
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        let generic = decode_response(&frame[4..4 + len]).expect("the body decodes generically");
        assert_eq!(wire::encode(&generic), wire::encode(&resp));
    }
}

#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    /// A new frame length header.
    Header(u32),
    /// Make the header match the (edited) body length.
    FixHeader,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..9))
            .prop_map(|(p, v)| Edit::Insert(p, v)),
        1 => (any::<usize>(), 1..16usize).prop_map(|(p, n)| Edit::Delete(p, n)),
        1 => prop_oneof![Just(u32::MAX), Just((MAX_RESPONSE_BYTES + 1) as u32), any::<u32>()]
            .prop_map(Edit::Header),
        3 => Just(Edit::FixHeader),
    ]
}

fn apply(mut f: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = f.len();
        match e {
            Edit::Set(p, b) if n > 0 => f[p % n] = *b,
            Edit::Insert(p, v) => {
                let i = p % (n + 1);
                f.splice(i..i, v.iter().copied());
            }
            Edit::Delete(p, k) if n > 0 => {
                let i = p % n;
                f.drain(i..(i + k).min(n));
            }
            Edit::Header(h) if n >= 4 => f[..4].copy_from_slice(&h.to_be_bytes()),
            Edit::FixHeader if n >= 4 => {
                let len = (n - 4) as u32;
                f[..4].copy_from_slice(&len.to_be_bytes());
            }
            _ => {}
        }
    }
    f
}

#[test]
fn seed_frames_read_back() {
    for s in seeds() {
        check_frame(&s);
    }
}

#[test]
fn a_header_claiming_4_gib_is_refused_before_allocating() {
    for frame in [u32::MAX.to_be_bytes().to_vec(), {
        let mut f = u32::MAX.to_be_bytes().to_vec();
        f.extend_from_slice(&[0xa2; 64]);
        f
    }] {
        let mut c = WireCodec;
        let (r, peak) = peak_of(|| block_on(c.read_response(&PROTOCOL, &mut Cursor::new(&frame))));
        assert!(r.is_err());
        assert!(peak < 1 << 20, "{peak} bytes allocated for a refused frame");
        let (r, peak) = peak_of(|| block_on(c.read_request(&PROTOCOL, &mut Cursor::new(&frame))));
        assert!(r.is_err());
        assert!(peak < 1 << 20, "{peak} bytes allocated for a refused frame");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_frames_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), fix in any::<bool>()) {
        let mut frame = body;
        if fix && frame.len() >= 4 {
            frame = apply(frame, &[Edit::FixHeader]);
        }
        check_frame(&frame);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(edit(), 1..6),
    ) {
        let s = seeds();
        check_frame(&apply(seed.get(&s).clone(), &edits));
    }
}
