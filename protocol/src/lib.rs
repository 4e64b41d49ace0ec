//! dmc-protocol: records, the item lifecycle, replication and scheduling rules, wire messages
//! and ffmpeg progress parsing. Pure logic: no sockets, files, clock or processes; time and
//! randomness are passed in by the caller.

pub mod engine;
pub mod ids;
pub mod item;
pub mod media;
pub mod progress;
pub mod record;
pub mod replica;
pub mod schedule;
pub mod sign;
pub mod time;
pub mod wire;

pub use ids::{Epoch, ItemId, Millis, NodeId, Seq};
pub use item::{FailedAttempt, ItemState, ItemView, Phase, Status};
pub use media::{builtin_profile, MediaType, Profile, BUILTIN_PROFILES};
pub use record::{ConverterAd, FileInfo, NodeInfo, Offer, ProgressInfo, Record, RecordBody, Stage};
pub use replica::{Replica, Summary};
pub use sign::{Signature, Signer};
