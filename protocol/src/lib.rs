//! dmc-protocol: the replicated state machine. Records and their signatures, the item
//! lifecycle folded from them, replication and scheduling rules, wire messages. Pure logic: no
//! sockets, files, clock or processes; time and randomness are passed in by the caller.
//!
//! Imports between its modules run one way (`tests/imports.rs` checks it): `ids`, `time` and
//! `media` are leaves; `record` uses them; `report`, `wire` and `item` use `record`; `wire` uses `report`;
//! `sign` uses `wire` and `report`;
//! `replica` uses `item` and `wire`; `schedule` uses `item`; `engine` uses them all.

pub mod engine;
pub mod ids;
pub mod item;
pub mod media;
pub mod record;
pub mod replica;
pub mod report;
pub mod schedule;
pub mod sign;
pub mod time;
pub mod wire;

pub use ids::{Epoch, ItemId, Millis, NodeId, Seq};
pub use item::{
    Attempt, AttemptEnd, EndedBy, FailedAttempt, ItemState, NextAttempt, Phase, Status, Waiting,
};
pub use media::MediaType;
pub use record::{
    ConverterAd, FileInfo, NodeInfo, Offer, PartOf, ProgressInfo, Record, RecordBody,
    SegmentProgress, Signature, Stage, MAX_SEGMENTS,
};
pub use replica::Replica;
pub use report::ProgressReport;
pub use sign::Signer;
pub use wire::Summary;
