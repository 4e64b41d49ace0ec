//! Versioned records: every change to an item or a node is one record, authored by one node
//! and numbered by that node's own sequence. Records are immutable once made.

use serde::{Deserialize, Serialize};

use crate::ids::{Epoch, ItemId, Millis, NodeId, Seq};
use crate::media::{MediaType, MAX_PROFILE_NAME};

mod part;
pub use part::{PartOf, MAX_SEGMENT_FRAMES};

/// Longest file name carried in a record, in bytes.
pub const MAX_FILE_NAME: usize = 255;
/// Longest free text (errors, reasons) carried in a record, in bytes.
pub const MAX_TEXT: usize = 4096;
/// Most profiles or media types a converter may advertise.
pub const MAX_ADVERTISED: usize = 64;
/// Largest file dmc moves (1 TiB).
pub const MAX_FILE_SIZE: u64 = 1 << 40;
/// Longest media duration an offer may claim (7 days): converters size ffmpeg's time limit
/// by it, so an origin must not be able to claim an endless one.
pub const MAX_DURATION_MS: u64 = 7 * 24 * 3600 * 1000;
/// Size of the chunks files are moved and verified in.
pub const CHUNK_SIZE: u32 = 1 << 20;
/// Smallest chunk size accepted from a peer: with [`MAX_FILE_SIZE`], at most 2^24 chunks (and
/// 512 MiB of chunk hashes for a 1 TiB file, fetched only as pages arrive).
pub const MIN_CHUNK_SIZE: u32 = 64 << 10;
/// Largest chunk size accepted from a peer: a chunk and its headers must fit one response
/// frame (`wire::MAX_RESPONSE_BYTES`, 4 MiB).
pub const MAX_CHUNK_SIZE: u32 = 2 << 20;

/// One change, as replicated between nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub author: NodeId,
    pub seq: Seq,
    /// When the author made it (milliseconds since the Unix epoch, the author's clock).
    pub created_at: Millis,
    pub body: RecordBody,
    /// The author's signature over all of the above (made and checked by [`crate::sign`]).
    #[serde(default)]
    pub sig: Signature,
}

/// An author's signature over a record's author, sequence, time and body.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Signature(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature({} bytes)", self.0.len())
    }
}

/// What a record says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordBody {
    /// A node describes itself (the latest one by sequence counts).
    Node(NodeInfo),
    /// The origin offers a file for conversion.
    Offer(Offer),
    /// The origin assigns the item to a converter for an epoch.
    Assign {
        item_id: ItemId,
        epoch: Epoch,
        converter: NodeId,
    },
    /// The assigned converter takes the item.
    Accept { item_id: ItemId, epoch: Epoch },
    /// The assigned converter refuses the item, saying why.
    Reject {
        item_id: ItemId,
        epoch: Epoch,
        reason: String,
        /// Refused for lack of disk room while this many other items occupied the converter:
        /// it may be asked again as soon as fewer do (one of them ended and freed its room),
        /// without waiting out the cool-down. Absent in records of older versions and in
        /// refusals that waiting will not mend; left out of the encoding when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_fewer: Option<u32>,
    },
    /// The assigned converter gives the item back without failing it (it is shutting down):
    /// the item is to do again, for any converter, this one included once it is back.
    Release {
        item_id: ItemId,
        epoch: Epoch,
        reason: String,
    },
    /// The assigned converter reported progress. Made only by versions before protocol 4,
    /// which kept every report and heartbeat as a record; such stored records still decode
    /// and fold. Progress now travels as an ephemeral, signed
    /// [`ProgressReport`](crate::report::ProgressReport) and is never a record.
    Progress {
        item_id: ItemId,
        epoch: Epoch,
        progress: ProgressInfo,
    },
    /// The assigned converter has a verified result ready to be fetched.
    Converted {
        item_id: ItemId,
        epoch: Epoch,
        output: FileInfo,
    },
    /// The origin has the result, verified, in its output folder.
    Delivered {
        item_id: ItemId,
        epoch: Epoch,
        output_path: String,
        sha512: String,
    },
    /// The item failed: from the converter for its epoch, or from the origin (`epoch` none).
    Failed {
        item_id: ItemId,
        epoch: Option<Epoch>,
        error: String,
        /// The converter's failure would repeat on any converter (e.g. the output is larger
        /// than the source): the origin ends the item at once instead of trying again. Absent
        /// (false) in records of older versions; left out of the encoding when false, so
        /// such records sign and encode as before.
        #[serde(default, skip_serializing_if = "is_false")]
        certain: bool,
    },
    /// The origin withdraws the item.
    Cancel { item_id: ItemId },
    /// The SHA-512 of the source, from the origin, for an offer that left it out
    /// ([`Offer::sha512_follows`]): the origin published the offer as soon as the file's
    /// BLAKE3 manifest was known, so converters could start pulling, and read the file again
    /// for its SHA-512 meanwhile. The origin's first such record counts. Wire version 8.
    Checksum { item_id: ItemId, sha512: String },
    /// The origin changes the item's priority on its converter's queue (the offer's is the
    /// first): the origin's newest such record (by its sequence) counts. Wire version 7.
    Priority { item_id: ItemId, priority: i32 },
    /// The origin will not deliver the result of epoch `epoch`: its own check of the fetched
    /// result failed (`lost` false: a failed attempt, counted against `max_attempts`), or the
    /// converter answered that the result is gone (`lost` true: the item is converted again,
    /// not counted; see [`crate::item::FREE_LOST_RESULTS`]). Either way the epoch is over
    /// and the origin assigns the next one.
    ResultRefused {
        item_id: ItemId,
        epoch: Epoch,
        reason: String,
        lost: bool,
    },
}

/// Whether a flag is off (serde leaves such flags out of the encoding).
fn is_false(b: &bool) -> bool {
    !*b
}

/// A node's description of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub name: String,
    /// Present on converters: what they accept.
    pub converter: Option<ConverterAd>,
}

/// What a converter advertises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConverterAd {
    pub media_types: Vec<MediaType>,
    pub profiles: Vec<String>,
    pub workers: u32,
    /// It encodes segments of other converters' items (offers with [`Offer::part_of`]).
    /// Absent (false) in adverts of older versions; left out of the encoding when false.
    #[serde(default, skip_serializing_if = "is_false")]
    pub segments: bool,
}

impl ConverterAd {
    /// Whether this converter may be given `offer`: it does its profile for its media type,
    /// and segments when it is one.
    pub fn takes(&self, offer: &Offer) -> bool {
        self.supports(offer.media_type, &offer.profile)
            && (offer.part_of.is_none() || self.segments)
    }

    /// Whether this converter does `profile` for `media`.
    pub fn supports(&self, media: MediaType, profile: &str) -> bool {
        self.media_types.contains(&media) && self.profiles.iter().any(|p| p == profile)
    }

    /// Why this converter cannot do `profile` for `media`, if it cannot. The text is a
    /// converter's reason in its `Reject` record.
    pub fn unsupported(&self, media: MediaType, profile: &str) -> Option<String> {
        if !self.media_types.contains(&media) {
            return Some(format!(
                "unsupported conversion: this converter takes no {media} (it takes {})",
                join(self.media_types.iter().map(|m| m.as_str()))
            ));
        }
        if !self.profiles.iter().any(|p| p == profile) {
            return Some(format!(
                "unsupported conversion: profile `{profile}` is not offered here (profiles: {})",
                join(self.profiles.iter().map(|p| p.as_str()))
            ));
        }
        None
    }
}

fn join<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A file as the protocol knows it: size, checksums and the hash of its chunk manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub file_name: String,
    pub file_size: u64,
    /// SHA-512 of the whole file, lowercase hex.
    pub sha512: String,
    /// BLAKE3 of the whole file, lowercase hex.
    pub blake3: String,
    pub chunk_size: u32,
    /// BLAKE3 of the concatenated BLAKE3 hashes of every chunk, lowercase hex.
    pub manifest_hash: String,
}

impl FileInfo {
    pub fn chunk_count(&self) -> u64 {
        chunk_count(self.file_size, self.chunk_size)
    }
}

/// How many chunks a file of `size` bytes has (an empty file has none).
pub fn chunk_count(size: u64, chunk_size: u32) -> u64 {
    if chunk_size == 0 {
        return 0;
    }
    size.div_ceil(chunk_size as u64)
}

/// An offer: the origin's file and what to make of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// Derived from the origin's node id and `nonce` ([`ItemId::for_origin`]): only the
    /// origin can make a valid offer for an item.
    pub item_id: ItemId,
    /// The random part of the item id.
    pub nonce: [u8; 16],
    pub file: FileInfo,
    pub media_type: MediaType,
    pub profile: String,
    /// Source duration in milliseconds, when ffprobe gave one.
    pub duration_ms: Option<u64>,
    /// Higher runs first on a converter's queue (then older offers first); default 0. The
    /// origin may change it later with a `priority` record ([`RecordBody::Priority`]); any
    /// `i32` is valid, in the offer and in that record alike.
    #[serde(default)]
    pub priority: i32,
    /// `file.sha512` is left empty here and follows in the origin's
    /// [`RecordBody::Checksum`]: set on offers of large files, published once their BLAKE3
    /// manifest is known. Converters verify every chunk against the manifest (its hash is in
    /// this signed record), so none waits for the SHA-512. Absent (false) in offers that carry
    /// their SHA-512, and then left out of the encoding: such offers encode as before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sha512_follows: bool,
    /// Set when this offer is a segment of another item, made by the converter coordinating
    /// that item ([`PartOf`]); absent in every other offer, and then left out of the encoding.
    /// Wire version 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<PartOf>,
}

/// Where an assigned converter is with an item.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressInfo {
    pub stage: Stage,
    /// 0 to 1 within the stage.
    pub fraction: f32,
    pub fps: Option<f32>,
    pub speed: Option<f32>,
    pub eta_secs: Option<u32>,
    /// For an item converted in segments: how many are done (absent otherwise, and then not
    /// encoded, so a report without it is signed over the same bytes as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<SegmentProgress>,
}

/// Most segments one item is cut into (a longer video gets longer segments).
pub const MAX_SEGMENTS: u32 = 10_000;

/// Where a conversion in segments is: segments with a checked result of `total`, of which
/// `kept` were kept from an earlier run (a restart), not encoded again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentProgress {
    pub done: u32,
    pub total: u32,
    pub kept: u32,
}

impl SegmentProgress {
    /// `kept <= done <= total`, and `1 <= total <= MAX_SEGMENTS`.
    pub fn is_valid(&self) -> bool {
        (1..=MAX_SEGMENTS).contains(&self.total)
            && self.done <= self.total
            && self.kept <= self.done
    }
}

impl ProgressInfo {
    /// A fraction within 0..1, finite, non-negative rates, and consistent segment counts.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        let ok = |v: Option<f32>| v.is_none_or(|v| v.is_finite() && v >= 0.0);
        let fraction_ok = self.fraction.is_finite() && (0.0..=1.0).contains(&self.fraction);
        if !(fraction_ok && ok(self.fps) && ok(self.speed)) {
            return Err(InvalidRecord::Field {
                field: "progress",
                why: "fraction must be within 0..1 and rates finite".into(),
            });
        }
        if self.segments.is_some_and(|s| !s.is_valid()) {
            return Err(InvalidRecord::Field {
                field: "progress",
                why: format!(
                    "segment counts must keep kept <= done <= total, total 1 to {MAX_SEGMENTS}"
                ),
            });
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Accepted, waiting for a free worker (reported so the origin knows the converter lives).
    Queued,
    Transferring,
    Converting,
}

impl RecordBody {
    /// The item a record is about (none for node records).
    pub fn item_id(&self) -> Option<ItemId> {
        match self {
            RecordBody::Node(_) => None,
            RecordBody::Offer(o) => Some(o.item_id),
            RecordBody::Assign { item_id, .. }
            | RecordBody::Accept { item_id, .. }
            | RecordBody::Reject { item_id, .. }
            | RecordBody::Release { item_id, .. }
            | RecordBody::Progress { item_id, .. }
            | RecordBody::Converted { item_id, .. }
            | RecordBody::Delivered { item_id, .. }
            | RecordBody::Failed { item_id, .. }
            | RecordBody::Cancel { item_id }
            | RecordBody::Checksum { item_id, .. }
            | RecordBody::Priority { item_id, .. }
            | RecordBody::ResultRefused { item_id, .. } => Some(*item_id),
        }
    }

    /// Who may make this record: the one definition used for records received
    /// ([`crate::replica::Replica::authority`]) and for this node's own
    /// ([`crate::engine::Engine::may_author`]).
    pub fn authority(&self) -> Authority {
        match self {
            RecordBody::Node(_) => Authority::Itself,
            RecordBody::Offer(_)
            | RecordBody::Assign { .. }
            | RecordBody::Cancel { .. }
            | RecordBody::Checksum { .. }
            | RecordBody::Priority { .. }
            | RecordBody::Delivered { .. }
            | RecordBody::ResultRefused { .. }
            | RecordBody::Failed { epoch: None, .. } => Authority::Origin,
            RecordBody::Accept { epoch, .. }
            | RecordBody::Reject { epoch, .. }
            | RecordBody::Release { epoch, .. }
            | RecordBody::Progress { epoch, .. }
            | RecordBody::Converted { epoch, .. }
            | RecordBody::Failed {
                epoch: Some(epoch), ..
            } => Authority::Converter(*epoch),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            RecordBody::Node(_) => "node",
            RecordBody::Offer(_) => "offer",
            RecordBody::Assign { .. } => "assign",
            RecordBody::Accept { .. } => "accept",
            RecordBody::Reject { .. } => "reject",
            RecordBody::Release { .. } => "release",
            RecordBody::Progress { .. } => "progress",
            RecordBody::Converted { .. } => "converted",
            RecordBody::Delivered { .. } => "delivered",
            RecordBody::Failed { .. } => "failed",
            RecordBody::Cancel { .. } => "cancel",
            RecordBody::Checksum { .. } => "checksum",
            RecordBody::Priority { .. } => "priority",
            RecordBody::ResultRefused { .. } => "result_refused",
        }
    }
}

/// Who may make a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authority {
    /// Any node, about itself (node records).
    Itself,
    /// Only the item's origin: offers, assignments, cancels, source checksums, priorities,
    /// deliveries, refused results, its own failures.
    Origin,
    /// Only the converter the origin assigned for this epoch: accepts, rejects, releases,
    /// progress, results and its failures.
    Converter(Epoch),
}

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRecord {
    #[error("record author `{0}` is not a valid node id")]
    Author(String),
    #[error("record sequence must start at 1")]
    Seq,
    #[error("record field `{field}` is invalid: {why}")]
    Field { field: &'static str, why: String },
    #[error("bad signature: {0}")]
    Signature(String),
}

fn text(field: &'static str, s: &str, max: usize) -> Result<(), InvalidRecord> {
    if s.len() > max {
        return Err(InvalidRecord::Field {
            field,
            why: format!("longer than {max} bytes"),
        });
    }
    Ok(())
}

fn hex_of(field: &'static str, s: &str, bytes: usize) -> Result<(), InvalidRecord> {
    if s.len() != bytes * 2
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(InvalidRecord::Field {
            field,
            why: format!("expected {} lowercase hex digits", bytes * 2),
        });
    }
    Ok(())
}

fn node_id(field: &'static str, n: &NodeId) -> Result<(), InvalidRecord> {
    if !n.is_valid() {
        return Err(InvalidRecord::Field {
            field,
            why: "not a valid node id".into(),
        });
    }
    Ok(())
}

impl FileInfo {
    /// Checks every field; the SHA-512 must be there.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        self.validate_with(true)
    }

    /// Checks every field, the SHA-512 only when there is one: what a pull needs, which checks
    /// every chunk against the manifest, for a source whose SHA-512 may still follow
    /// ([`Offer::sha512_follows`]).
    pub fn validate_to_pull(&self) -> Result<(), InvalidRecord> {
        self.validate_with(!self.sha512.is_empty())
    }

    /// Checks every field; `with_sha512` false: the SHA-512 must be empty (it follows in a
    /// [`RecordBody::Checksum`]).
    fn validate_with(&self, with_sha512: bool) -> Result<(), InvalidRecord> {
        let name = &self.file_name;
        if name.is_empty() {
            return Err(InvalidRecord::Field {
                field: "file_name",
                why: "empty".into(),
            });
        }
        text("file_name", name, MAX_FILE_NAME)?;
        if self.file_size > MAX_FILE_SIZE {
            return Err(InvalidRecord::Field {
                field: "file_size",
                why: format!("larger than the limit of {MAX_FILE_SIZE} bytes"),
            });
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return Err(InvalidRecord::Field {
                field: "chunk_size",
                why: format!(
                    "{} bytes: must be between {MIN_CHUNK_SIZE} (64 KiB) and {MAX_CHUNK_SIZE} \
                     (2 MiB) bytes",
                    self.chunk_size
                ),
            });
        }
        if with_sha512 {
            hex_of("sha512_checksum", &self.sha512, 64)?;
        } else if !self.sha512.is_empty() {
            return Err(InvalidRecord::Field {
                field: "sha512_checksum",
                why: "must be empty in an offer whose checksum follows".into(),
            });
        }
        hex_of("blake3", &self.blake3, 32)?;
        hex_of("manifest_hash", &self.manifest_hash, 32)?;
        Ok(())
    }
}

impl Record {
    /// Checks bounds and shapes of every field; the fold ignores anything it has no right to.
    pub fn validate(&self) -> Result<(), InvalidRecord> {
        if !self.author.is_valid() {
            return Err(InvalidRecord::Author(
                self.author.0.chars().take(64).collect(),
            ));
        }
        if self.seq == 0 {
            return Err(InvalidRecord::Seq);
        }
        match &self.body {
            RecordBody::Node(n) => {
                text("name", &n.name, MAX_FILE_NAME)?;
                if let Some(ad) = &n.converter {
                    if ad.media_types.len() > MAX_ADVERTISED || ad.profiles.len() > MAX_ADVERTISED {
                        return Err(InvalidRecord::Field {
                            field: "converter",
                            why: format!("more than {MAX_ADVERTISED} entries"),
                        });
                    }
                    for p in &ad.profiles {
                        text("profiles", p, MAX_PROFILE_NAME)?;
                    }
                    if ad.workers > 1024 {
                        return Err(InvalidRecord::Field {
                            field: "workers",
                            why: "more than 1024".into(),
                        });
                    }
                }
            }
            RecordBody::Offer(o) => {
                if o.item_id != ItemId::for_origin(&self.author, &o.nonce) {
                    return Err(InvalidRecord::Field {
                        field: "item_id",
                        why: "not derived from the author's node id: only an item's origin \
                              can offer it"
                            .into(),
                    });
                }
                o.file.validate_with(!o.sha512_follows)?;
                text("conversion_type", &o.profile, MAX_PROFILE_NAME)?;
                if o.duration_ms.is_some_and(|d| d > MAX_DURATION_MS) {
                    return Err(InvalidRecord::Field {
                        field: "duration_ms",
                        why: format!("longer than {MAX_DURATION_MS} ms (7 days)"),
                    });
                }
                if let Some(part) = &o.part_of {
                    part.validate()?;
                    if o.media_type != MediaType::Video {
                        return Err(InvalidRecord::Field {
                            field: "part_of",
                            why: format!("a segment must be video, not {}", o.media_type),
                        });
                    }
                }
            }
            RecordBody::Assign { converter, .. } => node_id("server_id", converter)?,
            RecordBody::Accept { .. } | RecordBody::Cancel { .. } | RecordBody::Priority { .. } => {
            }
            RecordBody::Reject { reason, .. }
            | RecordBody::Release { reason, .. }
            | RecordBody::ResultRefused { reason, .. } => text("reason", reason, MAX_TEXT)?,
            RecordBody::Progress { progress, .. } => progress.validate()?,
            RecordBody::Converted { output, .. } => output.validate()?,
            RecordBody::Delivered {
                output_path,
                sha512,
                ..
            } => {
                text("output_path", output_path, MAX_TEXT)?;
                hex_of("sha512_checksum", sha512, 64)?;
            }
            RecordBody::Failed { error, .. } => text("error", error, MAX_TEXT)?,
            RecordBody::Checksum { sha512, .. } => hex_of("sha512_checksum", sha512, 64)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_without_segments_encodes_as_before_and_segment_counts_are_checked() {
        /// `ProgressInfo` as versions before segments had it (stored `progress` records).
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Old {
            stage: Stage,
            fraction: f32,
            fps: Option<f32>,
            speed: Option<f32>,
            eta_secs: Option<u32>,
        }
        let old = Old {
            stage: Stage::Converting,
            fraction: 0.5,
            fps: Some(25.0),
            speed: None,
            eta_secs: Some(3),
        };
        let new = |segments| ProgressInfo {
            stage: Stage::Converting,
            fraction: 0.5,
            fps: Some(25.0),
            speed: None,
            eta_secs: Some(3),
            segments,
        };
        assert_eq!(crate::wire::encode(&new(None)), crate::wire::encode(&old));
        let read: ProgressInfo = crate::wire::decode(&crate::wire::encode(&old), 1 << 16).unwrap();
        assert_eq!(read, new(None));
        let counts = |done, total, kept| Some(SegmentProgress { done, total, kept });
        let with = new(counts(5, 8, 1));
        assert!(with.validate().is_ok());
        let read: ProgressInfo = crate::wire::decode(&crate::wire::encode(&with), 1 << 16).unwrap();
        assert_eq!(read, with);
        for bad in [
            counts(9, 8, 0),
            counts(1, 8, 2),
            counts(0, 0, 0),
            counts(1, MAX_SEGMENTS + 1, 0),
        ] {
            assert!(new(bad).validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refusal_without_until_fewer_encodes_as_older_versions_did() {
        /// `Reject` as versions before `until_fewer` had it.
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Old {
            Reject {
                item_id: ItemId,
                epoch: Epoch,
                reason: String,
            },
        }
        let item_id = ItemId::from_random([4; 16]);
        let reason = "insufficient disk: need 2 GiB, have 1 GiB".to_string();
        let old = Old::Reject {
            item_id,
            epoch: 1,
            reason: reason.clone(),
        };
        let new = |until_fewer| RecordBody::Reject {
            item_id,
            epoch: 1,
            reason: reason.clone(),
            until_fewer,
        };
        assert_eq!(crate::wire::encode(&new(None)), crate::wire::encode(&old));
        let read: RecordBody = crate::wire::decode(&crate::wire::encode(&old), 1 << 16).unwrap();
        assert_eq!(read, new(None));
        let room = crate::wire::encode(&new(Some(3)));
        assert_eq!(
            crate::wire::decode::<RecordBody>(&room, 1 << 16).unwrap(),
            new(Some(3))
        );
    }

    #[test]
    fn a_failure_not_certain_encodes_as_older_versions_did() {
        /// `Failed` as versions before `certain` had it.
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Old {
            Failed {
                item_id: ItemId,
                epoch: Option<Epoch>,
                error: String,
            },
        }
        let item_id = ItemId::from_random([3; 16]);
        let (epoch, error) = (Some(2), "boom".to_string());
        let old = Old::Failed {
            item_id,
            epoch,
            error: error.clone(),
        };
        let new = |certain| RecordBody::Failed {
            item_id,
            epoch,
            error: error.clone(),
            certain,
        };
        // Same bytes, so signatures made by older versions still verify, and back.
        assert_eq!(crate::wire::encode(&new(false)), crate::wire::encode(&old));
        let read: RecordBody = crate::wire::decode(&crate::wire::encode(&old), 1 << 16).unwrap();
        assert_eq!(read, new(false));
        let certain = crate::wire::encode(&new(true));
        assert_eq!(
            crate::wire::decode::<RecordBody>(&certain, 1 << 16).unwrap(),
            new(true)
        );
    }

    fn file(file_size: u64, chunk_size: u32) -> FileInfo {
        FileInfo {
            file_name: "clip.mkv".into(),
            file_size,
            sha512: "a".repeat(128),
            blake3: "b".repeat(64),
            chunk_size,
            manifest_hash: "c".repeat(64),
        }
    }

    /// Issue 13, point 6: a chunk size from a peer is bounded, so a claimed size cannot make
    /// a node allocate per-chunk state for 2^40 chunks.
    #[test]
    fn chunk_sizes_outside_64_kib_to_2_mib_are_refused() {
        for bad in [0, 1, 4096, MIN_CHUNK_SIZE - 1, MAX_CHUNK_SIZE + 1, 16 << 20] {
            let err = file(1 << 40, bad).validate().unwrap_err();
            assert!(err.to_string().contains("chunk_size"), "{bad}: {err}");
        }
        for good in [MIN_CHUNK_SIZE, CHUNK_SIZE, MAX_CHUNK_SIZE] {
            file(1 << 40, good).validate().unwrap();
        }
        // The worst case a valid record allows: 2^24 chunks.
        assert_eq!(chunk_count(MAX_FILE_SIZE, MIN_CHUNK_SIZE), 1 << 24);
        // A chunk and its headers fit one response frame.
        assert!(MAX_CHUNK_SIZE as usize + 4096 <= crate::wire::MAX_RESPONSE_BYTES);
    }

    /// A segment's offer: checked bounds, video only, and an offer without `part_of`
    /// encodes as before it existed (no new key).
    #[test]
    fn a_segment_offer_is_checked_and_other_offers_encode_as_before() {
        let author = NodeId::new("Coordinator");
        let nonce = [5; 16];
        let offer = |part_of: Option<PartOf>, media_type| Record {
            author: author.clone(),
            seq: 1,
            created_at: 1,
            body: RecordBody::Offer(Offer {
                item_id: ItemId::for_origin(&author, &nonce),
                nonce,
                file: file(10, CHUNK_SIZE),
                media_type,
                profile: "mkv-x265".into(),
                duration_ms: Some(4000),
                priority: 0,
                sha512_follows: false,
                part_of,
            }),
            sig: Default::default(),
        };
        let part = |index, count, frames| PartOf {
            item_id: ItemId::from_random([1; 16]),
            epoch: 1,
            index,
            count,
            frames,
        };
        offer(Some(part(1, 2, 100)), MediaType::Video)
            .validate()
            .unwrap();
        for bad in [part(2, 2, 100), part(0, MAX_SEGMENTS + 1, 1), part(0, 2, 0)] {
            let err = offer(Some(bad), MediaType::Video).validate().unwrap_err();
            assert!(err.to_string().contains("part_of"), "{err}");
        }
        let audio = offer(Some(part(0, 2, 1)), MediaType::Audio).validate();
        assert!(audio.unwrap_err().to_string().contains("video"));
        let plain = crate::wire::encode(&offer(None, MediaType::Video).body);
        assert!(!plain.windows(7).any(|w| w == b"part_of"));
    }
}
