//! Identifiers: node ids (the text form of a libp2p peer id), item ids and epochs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest node id accepted from input (a base58 Ed25519 peer id has 52 characters).
pub const MAX_NODE_ID_LEN: usize = 128;

/// A node's identity: the text form of its libp2p peer id (`client_id` / `server_id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl NodeId {
    pub fn new(s: impl Into<String>) -> Self {
        NodeId(s.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A node id is short, printable ASCII alphanumerics only.
    pub fn is_valid(&self) -> bool {
        !self.0.is_empty()
            && self.0.len() <= MAX_NODE_ID_LEN
            && self.0.bytes().all(|b| b.is_ascii_alphanumeric())
    }
    /// The first characters, for tables.
    pub fn short(&self) -> &str {
        let n = self.0.len().min(12);
        &self.0[self.0.len() - n..]
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An item: one file offered for one conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemId(pub uuid::Uuid);

impl ItemId {
    /// Builds an item id from 16 random bytes supplied by the caller (protocol draws no randomness).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        ItemId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }
    /// The item id an origin makes from 16 random bytes: a hash of both, so that an offer
    /// for the item can be checked to come from its origin.
    pub fn for_origin(origin: &NodeId, nonce: &[u8; 16]) -> Self {
        let mut h = blake3::Hasher::new_derive_key("dmc item id v1");
        h.update(&(origin.0.len() as u64).to_le_bytes());
        h.update(origin.0.as_bytes());
        h.update(nonce);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&h.finalize().as_bytes()[..16]);
        ItemId::from_random(bytes)
    }
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s).ok().map(ItemId)
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Assignment epoch of an item: grows each time the origin assigns the item again.
pub type Epoch = u32;

/// Per-author record sequence number, starting at 1.
pub type Seq = u64;

/// Milliseconds since the Unix epoch, always passed in by the caller.
pub type Millis = u64;
