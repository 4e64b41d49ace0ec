//! Identities minted by a member (keys that are no node: they never describe themselves),
//! each offering items and cancelling them at once, pushed into a node as a peer would: what
//! the tests of retired authors are made of.

use dmc_protocol::engine::Event;
use dmc_protocol::{ItemId, MediaType, NodeId, Offer, Record, RecordBody, Signature, Signer};

use super::{file, Sim};

/// The `k`-th minted identity's key (seeds apart from the simulator's nodes').
pub fn minted_signer(k: usize) -> Signer {
    let mut seed = [0xA5u8; 32];
    seed[..8].copy_from_slice(&(k as u64).to_le_bytes());
    Signer::from_seed(seed)
}

/// A signed record of `signer`'s.
pub fn signed(signer: &Signer, seq: u64, created_at: u64, body: RecordBody) -> Record {
    let mut r = Record {
        author: signer.node_id().clone(),
        seq,
        created_at,
        body,
        sig: Signature::default(),
    };
    signer.sign(&mut r);
    r
}

/// `signer`'s offer (numbered `seq`) of a small video and its cancel (`seq + 1`): an item
/// that ends as soon as it is known.
pub fn offer_and_cancel(signer: &Signer, seq: u64, created_at: u64) -> (ItemId, Vec<Record>) {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&seq.to_le_bytes());
    let item_id = ItemId::for_origin(signer.node_id(), &nonce);
    let offer = RecordBody::Offer(Offer {
        item_id,
        nonce,
        file: file("minted.mp4", (seq % 251) as u8),
        media_type: MediaType::Video,
        profile: "mkv-x264".into(),
        duration_ms: Some(4000),
        priority: 0,
        sha512_follows: false,
        part_of: None,
    });
    let records = vec![
        signed(signer, seq, created_at, offer),
        signed(signer, seq + 1, created_at, RecordBody::Cancel { item_id }),
    ];
    (item_id, records)
}

impl Sim {
    /// Minted identity `k` pushes into node `i` a new item of its own, cancelled at once.
    pub fn mint(&mut self, i: usize, k: usize) -> ItemId {
        let signer = minted_signer(k);
        let seq = self.minted_seqs.entry(k).or_insert(1);
        let (item_id, records) = offer_and_cancel(&signer, *seq, self.now);
        *seq += 2;
        let from: NodeId = signer.node_id().clone();
        self.feed(
            i,
            Event::Records {
                from,
                records,
                sync_more: None,
                complete: vec![],
            },
        );
        item_id
    }

    /// The minted identities (of the first `n`) in node `i`'s summary.
    pub fn minted_in_summary(&self, i: usize, n: usize) -> usize {
        let summary = self.engines[i].replica().summary();
        (0..n)
            .filter(|k| {
                let id = minted_signer(*k).node_id().clone();
                summary.0.iter().any(|(a, _)| *a == id)
            })
            .count()
    }
}
