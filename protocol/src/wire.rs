//! Messages between nodes and their CBOR codec. A frame on the wire is a 4-byte big-endian
//! length followed by that many bytes of CBOR; the node's libp2p codec does the framing with
//! the limits below and calls [`encode`] and [`decode`].

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::ids::{Epoch, ItemId, NodeId, Seq};
use crate::record::Record;
use crate::report::ProgressReport;

/// Name of the request-response protocol, with its version.
pub const PROTOCOL_NAME: &str = "/dmc/req/9";
/// Largest request frame.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Largest response frame (a chunk of at most 1 MiB plus headers, or a page of records).
pub const MAX_RESPONSE_BYTES: usize = 4 << 20;
/// Most records in one message.
pub const MAX_RECORDS_PER_MESSAGE: usize = 1024;
/// Byte budget of the records in one message.
pub const MAX_RECORD_BYTES_PER_MESSAGE: usize = 512 << 10;
/// Most authors in one summary page (a `Sync` request or a `Summary` answer). A node holding
/// more authors sends its summary in pages by author range (see `Request::Sync`), so the
/// number of authors never limits replication.
pub const MAX_SUMMARY_AUTHORS: usize = 4096;
/// Most items one `Ended` question names.
pub const MAX_ENDED_ITEMS: usize = 1024;
/// Most chunk hashes in one manifest page (2 MiB of hashes).
pub const MAX_MANIFEST_PAGE: u32 = 65_536;
/// Bytes of a summary digest.
pub const DIGEST_BYTES: usize = 16;

/// Per author, the highest sequence number up to which a node holds every record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary(pub Vec<(NodeId, Seq)>);

impl Summary {
    /// A digest of the summary: equal digests mean equal summaries (BLAKE3, truncated to
    /// [`DIGEST_BYTES`]).
    pub fn digest(&self) -> Vec<u8> {
        let hash = blake3::hash(&encode(self));
        hash.as_bytes()[..DIGEST_BYTES].to_vec()
    }

    /// Whether the holder of `self` has records that the holder of `mine` lacks.
    pub fn has_more_than(&self, mine: &Summary) -> bool {
        let mine: std::collections::HashMap<&NodeId, Seq> =
            mine.0.iter().map(|(a, s)| (a, *s)).collect();
        self.0
            .iter()
            .any(|(a, s)| *s > mine.get(a).copied().unwrap_or(0))
    }

    pub fn get(&self, author: &NodeId) -> Seq {
        self.0
            .iter()
            .find(|(a, _)| a == author)
            .map(|(_, s)| *s)
            .unwrap_or(0)
    }
}

/// A range of authors in [`NodeId`] order: `from` included, `to` excluded, `None` unbounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorRange {
    pub from: Option<NodeId>,
    pub to: Option<NodeId>,
}

impl AuthorRange {
    /// Every author.
    pub fn all() -> Self {
        AuthorRange::default()
    }

    pub fn contains(&self, author: &NodeId) -> bool {
        self.from.as_ref().is_none_or(|f| author >= f)
            && self.to.as_ref().is_none_or(|t| author < t)
    }
}

/// Which file of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    /// The origin's file.
    Source,
    /// The converter's result for an epoch.
    Result,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// "Here is what I hold of the authors in `from..to`; send me a page of what I lack in
    /// that range." `from` is included, `to` excluded, `None` unbounded; an author of the
    /// range missing from `summary` counts as 0. The asker walks its authors in order, one
    /// range of at most [`MAX_SUMMARY_AUTHORS`] at a time. Without `from` and `to` (left out of
    /// the encoding when unset) the range is every author.
    Sync {
        summary: Summary,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<NodeId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<NodeId>,
    },
    /// "This is the digest of my summary": answered `InSync` when the peer's is the same,
    /// else with the peer's `Summary`. Makes an idle reconnect cost a few dozen bytes however
    /// many authors there are.
    SyncDigest {
        #[serde(with = "serde_bytes")]
        digest: Vec<u8>,
    },
    /// New records, pushed as they are made or relayed.
    Push { records: Vec<Record> },
    /// A converter's progress report (or heartbeat), from the converter or relayed once by
    /// a node that took it as news. Ephemeral: not a record, never stored. Answered `Ack`.
    Progress { report: ProgressReport },
    /// "Which of these items have you compacted?" A node asks about its open items it has
    /// heard nothing of for longer than `keep_finished` (at most [`MAX_ENDED_ITEMS`]);
    /// answered `Ended` with those the peer holds tombstones for.
    Ended { items: Vec<ItemId> },
    /// A page of a file's chunk hashes.
    Manifest {
        item_id: ItemId,
        role: FileRole,
        epoch: Epoch,
        first: u64,
        count: u32,
    },
    /// One chunk of a file.
    Chunk {
        item_id: ItemId,
        role: FileRole,
        epoch: Epoch,
        index: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// A page answering `Sync`. `complete` holds, for authors this page finishes, marks
    /// `(author, seq)`: every record of `author` up to `seq` that the asker lacks and the
    /// page does not carry was compacted here, so the asker's summary may pass over it.
    Records {
        records: Vec<Record>,
        more: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        complete: Vec<(NodeId, Seq)>,
    },
    /// Answer to `Ended`: the asked items this node compacted (holds tombstones for).
    Ended {
        items: Vec<ItemId>,
    },
    Ack,
    /// Answer to `SyncDigest`: our summaries are the same.
    InSync,
    /// Answer to `SyncDigest`: our summaries differ; this is the first page of mine (at most
    /// [`MAX_SUMMARY_AUTHORS`] authors). `next`, when set, is the first author after the
    /// page: the asker cannot tell from the page what it lacks from there on.
    Summary {
        summary: Summary,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<NodeId>,
    },
    Manifest {
        file_size: u64,
        chunk_size: u32,
        first: u64,
        /// Concatenated 32-byte BLAKE3 hashes of chunks `first..`.
        #[serde(with = "serde_bytes")]
        hashes: Vec<u8>,
    },
    Chunk {
        index: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed or over a limit.
    BadRequest,
    /// The requester has no right to this.
    Forbidden,
    /// No such item or file here (yet).
    NotFound,
    /// The source file changed or vanished since it was offered.
    SourceChanged,
    /// A passing problem: try again later.
    Unavailable,
    /// The file was here and is not any more (a converter's result deleted, or lost in a
    /// crash): asking again will not help. The origin records the result as lost.
    Gone,
}

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("message over a limit: {0}")]
    OverLimit(String),
}

/// Encodes a message as CBOR.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail; serialisation of our own types cannot fail either.
    cbor4ii::serde::to_vec(Vec::new(), msg).unwrap_or_default()
}

/// Decodes a CBOR message of at most `limit` bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, WireError> {
    if bytes.len() > limit {
        return Err(WireError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    cbor4ii::serde::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))
}

impl Request {
    /// Checks counts a decoder cannot: number of records, authors, manifest page size.
    pub fn check_limits(&self) -> Result<(), WireError> {
        match self {
            Request::Sync { summary, .. } if summary.0.len() > MAX_SUMMARY_AUTHORS => {
                Err(WireError::OverLimit(format!(
                    "summary has more than {MAX_SUMMARY_AUTHORS} authors"
                )))
            }
            Request::SyncDigest { digest } if digest.len() != DIGEST_BYTES => Err(
                WireError::OverLimit(format!("summary digest is not {DIGEST_BYTES} bytes")),
            ),
            Request::Push { records } if records.len() > MAX_RECORDS_PER_MESSAGE => Err(
                WireError::OverLimit(format!("more than {MAX_RECORDS_PER_MESSAGE} records")),
            ),
            Request::Ended { items } if items.len() > MAX_ENDED_ITEMS => Err(WireError::OverLimit(
                format!("more than {MAX_ENDED_ITEMS} items asked about"),
            )),
            Request::Manifest { count, .. } if *count > MAX_MANIFEST_PAGE => Err(
                WireError::OverLimit(format!("manifest page above {MAX_MANIFEST_PAGE} hashes")),
            ),
            _ => Ok(()),
        }
    }
}

impl Response {
    pub fn check_limits(&self) -> Result<(), WireError> {
        match self {
            Response::Records { records, .. } if records.len() > MAX_RECORDS_PER_MESSAGE => Err(
                WireError::OverLimit(format!("more than {MAX_RECORDS_PER_MESSAGE} records")),
            ),
            Response::Records { complete, .. } if complete.len() > MAX_SUMMARY_AUTHORS => Err(
                WireError::OverLimit(format!("more than {MAX_SUMMARY_AUTHORS} complete marks")),
            ),
            Response::Ended { items } if items.len() > MAX_ENDED_ITEMS => Err(
                WireError::OverLimit(format!("more than {MAX_ENDED_ITEMS} ended items")),
            ),
            Response::Summary { summary, .. } if summary.0.len() > MAX_SUMMARY_AUTHORS => {
                Err(WireError::OverLimit(format!(
                    "summary has more than {MAX_SUMMARY_AUTHORS} authors"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Counts the bytes an encoder writes, keeping none of them.
struct ByteCount(usize);

impl cbor4ii::core::enc::Write for ByteCount {
    type Error = std::convert::Infallible;

    fn push(&mut self, input: &[u8]) -> Result<(), Self::Error> {
        self.0 += input.len();
        Ok(())
    }
}

/// Exact length of [`encode`]'s output for `msg`, computed without building it.
pub fn encoded_len<T: Serialize>(msg: &T) -> usize {
    let mut ser = cbor4ii::serde::Serializer::new(ByteCount(0));
    // Counting cannot fail; serialisation of our own types cannot fail either.
    match msg.serialize(&mut ser) {
        Ok(()) => ser.into_inner().0,
        Err(_) => 0,
    }
}

/// Encoded size of a record, for paging: exact, and without allocating an encoding that
/// would be thrown away (the page is encoded once, by the codec).
pub fn record_size_estimate(r: &Record) -> usize {
    encoded_len(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_check_costs_the_same_whatever_the_number_of_authors() {
        let summary = |n: usize| {
            Summary(
                (0..n)
                    .map(|i| (NodeId::new(format!("12D3KooW{i:044}")), 1_000_000))
                    .collect(),
            )
        };
        for n in [1, 10, 1000] {
            let ask = Request::SyncDigest {
                digest: summary(n).digest(),
            };
            assert_eq!(
                encoded_len(&ask),
                encoded_len(&Request::SyncDigest {
                    digest: vec![0; 16]
                })
            );
            assert!(encoded_len(&ask) < 48, "{} bytes", encoded_len(&ask));
        }
        assert!(encoded_len(&Response::InSync) < 16);
        assert_ne!(summary(2).digest(), summary(3).digest());
    }

    #[test]
    fn chunk_round_trips_as_bytes() {
        let r = Response::Chunk {
            index: 7,
            data: vec![9u8; 1000],
        };
        let b = encode(&r);
        assert!(b.len() < 1100, "bytes are encoded as a CBOR byte string");
        let back: Response = decode(&b, MAX_RESPONSE_BYTES).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn encoded_len_is_the_encoding_length() {
        let msgs = [
            Response::Records {
                records: vec![],
                more: true,
                complete: vec![],
            },
            Response::Ack,
            Response::Error {
                code: ErrorCode::NotFound,
                message: "no such file".into(),
            },
            Response::Chunk {
                index: 1 << 40,
                data: vec![1u8; 70_000],
            },
        ];
        for m in &msgs {
            assert_eq!(encoded_len(m), encode(m).len(), "{m:?}");
        }
        let record = Record {
            author: crate::NodeId::new("12D3KooWabc"),
            seq: 1 << 33,
            created_at: 1_763_000_000_000,
            body: crate::RecordBody::Cancel {
                item_id: ItemId::from_random([3; 16]),
            },
            sig: crate::record::Signature(vec![7; 64]),
        };
        assert_eq!(record_size_estimate(&record), encode(&record).len());
    }

    #[test]
    fn refuses_oversized_and_garbage() {
        let big = vec![0u8; MAX_REQUEST_BYTES + 1];
        assert!(matches!(
            decode::<Request>(&big, MAX_REQUEST_BYTES),
            Err(WireError::TooLarge { .. })
        ));
        assert!(matches!(
            decode::<Request>(&[0xff, 0x00, 0x13], 100),
            Err(WireError::Malformed(_))
        ));
    }
}
