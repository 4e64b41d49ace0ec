//! An item's state as the fold of its records. The fold reads the records as a set, so any
//! order of arrival, duplicates included, gives the same state.

use serde::{Deserialize, Serialize};

use crate::ids::{Epoch, ItemId, Millis, NodeId};
use crate::media::MediaType;
use crate::record::{FileInfo, Offer, ProgressInfo, Record, RecordBody, Stage};
use crate::time::rfc3339;

/// The broker states users see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    ToDo,
    InProgress,
    FinishedSuccessful,
    FinishedWithErrors,
}

/// The finer phase within a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Offered, waiting for a converter.
    Offered,
    /// Refused by the assigned converter; waiting for another.
    Rejected,
    /// The current attempt failed on its converter; the origin tries another converter after
    /// a backoff, or gives up after its `max_attempts`.
    Retrying,
    Assigned,
    Accepted,
    Transferring,
    Converting,
    /// The converter holds a verified result; the origin has yet to fetch it.
    Converted,
    /// The origin is fetching the result (set by the origin's node, not by the fold).
    Delivering,
    Delivered,
    Failed,
    Cancelled,
}

impl Phase {
    pub fn status(self) -> Status {
        match self {
            Phase::Offered | Phase::Rejected | Phase::Retrying => Status::ToDo,
            Phase::Assigned
            | Phase::Accepted
            | Phase::Transferring
            | Phase::Converting
            | Phase::Converted
            | Phase::Delivering => Status::InProgress,
            Phase::Delivered => Status::FinishedSuccessful,
            Phase::Failed | Phase::Cancelled => Status::FinishedWithErrors,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Offered => "offered",
            Phase::Rejected => "rejected",
            Phase::Retrying => "retrying",
            Phase::Assigned => "assigned",
            Phase::Accepted => "accepted",
            Phase::Transferring => "transferring",
            Phase::Converting => "converting",
            Phase::Converted => "converted",
            Phase::Delivering => "delivering",
            Phase::Delivered => "delivered",
            Phase::Failed => "failed",
            Phase::Cancelled => "cancelled",
        }
    }

    /// The item will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, Phase::Delivered | Phase::Failed | Phase::Cancelled)
    }
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::ToDo => "to_do",
            Status::InProgress => "in_progress",
            Status::FinishedSuccessful => "finished_successful",
            Status::FinishedWithErrors => "finished_with_errors",
        }
    }
}

/// A converter giving an item back: (converter, reason, when by its clock).
pub type Release = (NodeId, String, Millis);

/// A converter's failed attempt at an item: one per epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedAttempt {
    pub epoch: Epoch,
    pub converter: NodeId,
    pub error: String,
    /// When the converter reported it (its clock).
    pub at: Millis,
}

/// A converter's refusal, kept so `status` can say why an item waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub server_id: NodeId,
    pub epoch: Epoch,
    pub reason: String,
    /// When the converter refused (its clock).
    pub at: Millis,
}

/// Everything known about an item, folded from its records.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemState {
    pub offer: Offer,
    pub origin: NodeId,
    pub created_at: Millis,
    /// The latest assignment: epoch and converter.
    pub assignment: Option<(Epoch, NodeId)>,
    pub phase: Phase,
    pub progress: Option<ProgressInfo>,
    pub result: Option<FileInfo>,
    pub output_path: Option<String>,
    /// While `Converted`: when the converter made its result (the converter's clock).
    pub converted_at: Option<Millis>,
    /// While `Offered` after a converter gave the item back: who, why and when (its clock).
    pub released: Option<Release>,
    pub errors: Vec<String>,
    pub rejections: Vec<Rejection>,
    /// Failed attempts by converters, in epoch order (refusals are not attempts).
    pub failures: Vec<FailedAttempt>,
    /// How many distinct records the item has: grows with every change.
    pub version: u64,
    /// The newest record's time.
    pub updated_at: Millis,
}

impl ItemState {
    /// Folds the records of one item (any order, duplicates allowed). `None` until the offer
    /// itself is known. Records from nodes with no right to them are ignored.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Record>) -> Option<ItemState> {
        let mut recs: Vec<&Record> = records.into_iter().collect();
        recs.sort_by(|a, b| (&a.author, a.seq).cmp(&(&b.author, b.seq)));
        recs.dedup_by(|a, b| a.author == b.author && a.seq == b.seq);

        // The offer: if (against the rules) several exist, the smallest (author, seq) wins.
        let (origin, offer, created_at) = recs.iter().find_map(|r| match &r.body {
            RecordBody::Offer(o) => Some((r.author.clone(), o.clone(), r.created_at)),
            _ => None,
        })?;
        let item_id = offer.item_id;
        let from_origin = |r: &Record| r.author == origin;

        // The latest assignment by the origin.
        let mut assignment: Option<(Epoch, NodeId, u64)> = None;
        let mut cancelled = false;
        let mut origin_failure: Option<String> = None;
        let mut delivered: Option<(Epoch, String)> = None;
        for r in recs.iter().filter(|r| from_origin(r)) {
            match &r.body {
                RecordBody::Assign {
                    epoch, converter, ..
                } => {
                    let newer = match &assignment {
                        None => true,
                        Some((e, _, s)) => (*epoch, r.seq) > (*e, *s),
                    };
                    if newer {
                        assignment = Some((*epoch, converter.clone(), r.seq));
                    }
                }
                RecordBody::Cancel { .. } => cancelled = true,
                RecordBody::Failed {
                    epoch: None, error, ..
                } => {
                    origin_failure.get_or_insert_with(|| error.clone());
                }
                RecordBody::Delivered {
                    epoch, output_path, ..
                } => {
                    delivered.get_or_insert_with(|| (*epoch, output_path.clone()));
                }
                _ => {}
            }
        }

        // Which converter held which epoch, as the origin assigned it.
        let holder = |epoch: Epoch| -> Option<&NodeId> {
            recs.iter().find_map(|r| match &r.body {
                RecordBody::Assign {
                    epoch: e,
                    converter,
                    ..
                } if from_origin(r) && *e == epoch => Some(converter),
                _ => None,
            })
        };

        let mut failures: Vec<FailedAttempt> = Vec::new();
        let mut rejections = Vec::new();
        let mut results: Vec<(Epoch, FileInfo)> = Vec::new();
        let mut current = CurrentEpoch::default();
        for r in &recs {
            let (epoch, body) = match &r.body {
                RecordBody::Accept { epoch, .. }
                | RecordBody::Reject { epoch, .. }
                | RecordBody::Release { epoch, .. }
                | RecordBody::Progress { epoch, .. }
                | RecordBody::Converted { epoch, .. } => (*epoch, &r.body),
                RecordBody::Failed {
                    epoch: Some(epoch), ..
                } => (*epoch, &r.body),
                _ => continue,
            };
            if holder(epoch) != Some(&r.author) {
                continue;
            }
            let is_current = assignment.as_ref().is_some_and(|(e, _, _)| *e == epoch);
            match body {
                RecordBody::Reject { reason, .. } => {
                    rejections.push(Rejection {
                        server_id: r.author.clone(),
                        epoch,
                        reason: reason.clone(),
                        at: r.created_at,
                    });
                    if is_current {
                        current.rejected = true;
                    }
                }
                RecordBody::Failed { error, .. } => {
                    failures.push(FailedAttempt {
                        epoch,
                        converter: r.author.clone(),
                        error: error.clone(),
                        at: r.created_at,
                    });
                    if is_current {
                        current.failed = true;
                    }
                }
                RecordBody::Converted { output, .. } => {
                    results.push((epoch, output.clone()));
                    if is_current {
                        current.converted = true;
                        current.converted_at = Some(r.created_at);
                    }
                }
                RecordBody::Release { reason, .. } if is_current => {
                    current.released = Some((r.author.clone(), reason.clone(), r.created_at));
                }
                RecordBody::Accept { .. } if is_current => current.accepted = true,
                RecordBody::Progress { progress, .. } if is_current => {
                    // Records of one author are sorted by seq: the last one is the newest.
                    current.progress = Some(*progress);
                }
                _ => {}
            }
        }
        // One attempt per epoch (the first report counts), numbered in epoch order.
        failures.sort_by_key(|f| f.epoch);
        failures.dedup_by_key(|f| f.epoch);
        let mut errors: Vec<String> = failures
            .iter()
            .enumerate()
            .map(|(n, f)| format!("attempt {} on {}: {}", n + 1, f.converter.short(), f.error))
            .collect();
        if let Some(e) = &origin_failure {
            errors.push(e.clone());
        }
        if cancelled {
            errors.push("cancelled by its origin".into());
        }

        let phase = if delivered.is_some() {
            Phase::Delivered
        } else if cancelled {
            Phase::Cancelled
        } else if origin_failure.is_some() {
            Phase::Failed
        } else {
            match &assignment {
                None if rejections.is_empty() => Phase::Offered,
                None => Phase::Rejected,
                Some(_) if current.failed => Phase::Retrying,
                Some(_) if current.converted => Phase::Converted,
                Some(_) if current.rejected => Phase::Rejected,
                Some(_) if current.released.is_some() => Phase::Offered,
                Some(_) => match current.progress {
                    Some(p) if p.stage == Stage::Converting => Phase::Converting,
                    Some(p) if p.stage == Stage::Queued => Phase::Accepted,
                    Some(_) => Phase::Transferring,
                    None if current.accepted => Phase::Accepted,
                    None => Phase::Assigned,
                },
            }
        };

        // The result that counts: the delivered one's epoch, else the current epoch's.
        let result_epoch = delivered
            .as_ref()
            .map(|(e, _)| *e)
            .or(assignment.as_ref().map(|a| a.0));
        let result = results
            .iter()
            .find(|(e, _)| Some(*e) == result_epoch)
            .map(|(_, f)| f.clone());
        let progress = match phase {
            Phase::Transferring | Phase::Converting => current.progress,
            _ => None,
        };
        let _ = item_id;
        Some(ItemState {
            created_at,
            assignment: assignment.map(|(e, c, _)| (e, c)),
            phase,
            progress,
            result,
            output_path: delivered.map(|(_, p)| p),
            converted_at: current.converted_at.filter(|_| phase == Phase::Converted),
            released: current.released.filter(|_| phase == Phase::Offered),
            errors,
            rejections,
            failures,
            version: recs.len() as u64,
            updated_at: recs
                .iter()
                .map(|r| r.created_at)
                .max()
                .unwrap_or(created_at),
            offer,
            origin,
        })
    }

    pub fn item_id(&self) -> ItemId {
        self.offer.item_id
    }

    pub fn media_type(&self) -> MediaType {
        self.offer.media_type
    }

    /// The converter of the current epoch.
    pub fn converter(&self) -> Option<&NodeId> {
        self.assignment.as_ref().map(|(_, c)| c)
    }

    pub fn epoch(&self) -> Option<Epoch> {
        self.assignment.as_ref().map(|(e, _)| *e)
    }

    /// Why an item waits, for `status`.
    pub fn waiting_reason(&self) -> Option<String> {
        match self.phase {
            Phase::Offered => Some(match &self.released {
                Some((by, reason, _)) => format!(
                    "converter {} gave it back ({reason}); waiting for a converter",
                    by.short()
                ),
                None => "waiting for a converter that accepts this item".into(),
            }),
            Phase::Rejected => self
                .rejections
                .iter()
                .max_by_key(|r| (r.epoch, r.at))
                .map(|r| {
                    format!(
                        "converter {} rejected it: {}; waiting for another converter",
                        r.server_id.short(),
                        r.reason
                    )
                }),
            Phase::Retrying => self
                .last_failure_note()
                .map(|n| format!("{n}; waiting for a converter")),
            _ => None,
        }
    }

    /// "attempt N failed on <converter>: <error>" for the latest failed attempt.
    pub fn last_failure_note(&self) -> Option<String> {
        self.failures.last().map(|f| {
            format!(
                "attempt {} failed on {}: {}",
                self.failures.len(),
                f.converter.short(),
                f.error
            )
        })
    }

    /// The JSON view that `status` and `list` print.
    pub fn view(&self) -> ItemView {
        let phase = self.phase;
        ItemView {
            item_id: self.item_id(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            client_id: self.origin.clone(),
            server_id: self.converter().cloned(),
            file_name: self.offer.file.file_name.clone(),
            media_type: self.offer.media_type,
            conversion_type: self.offer.profile.clone(),
            sha512_checksum: self.offer.file.sha512.clone(),
            file_size: self.offer.file.file_size,
            duration_ms: self.offer.duration_ms,
            status: phase.status(),
            phase,
            progress: match phase {
                Phase::Delivered | Phase::Converted => 1.0,
                _ => self.progress.map(|p| p.fraction as f64).unwrap_or(0.0),
            },
            fps: self.progress.and_then(|p| p.fps),
            speed: self.progress.and_then(|p| p.speed),
            eta_secs: self.progress.and_then(|p| p.eta_secs),
            epoch: self.epoch(),
            waiting_reason: self.waiting_reason(),
            errors: self.errors.clone(),
            rejections: self.rejections.clone(),
            version: self.version,
            output_file_name: self.result.as_ref().map(|r| r.file_name.clone()),
            output_file_size: self.result.as_ref().map(|r| r.file_size),
            output_sha512_checksum: self.result.as_ref().map(|r| r.sha512.clone()),
            output_path: self.output_path.clone(),
        }
    }
}

#[derive(Default)]
struct CurrentEpoch {
    accepted: bool,
    rejected: bool,
    failed: bool,
    converted: bool,
    converted_at: Option<Millis>,
    released: Option<Release>,
    progress: Option<ProgressInfo>,
}

/// An item as `status --json` and `list --json` show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    pub item_id: ItemId,
    pub created_at: String,
    pub updated_at: String,
    pub client_id: NodeId,
    pub server_id: Option<NodeId>,
    pub file_name: String,
    pub media_type: MediaType,
    pub conversion_type: String,
    pub sha512_checksum: String,
    pub file_size: u64,
    /// The source's duration from the origin's probe (video and audio).
    #[serde(default)]
    pub duration_ms: Option<u64>,
    pub status: Status,
    pub phase: Phase,
    pub progress: f64,
    pub fps: Option<f32>,
    pub speed: Option<f32>,
    pub eta_secs: Option<u32>,
    pub epoch: Option<Epoch>,
    pub waiting_reason: Option<String>,
    pub errors: Vec<String>,
    pub rejections: Vec<Rejection>,
    pub version: u64,
    pub output_file_name: Option<String>,
    pub output_file_size: Option<u64>,
    pub output_sha512_checksum: Option<String>,
    pub output_path: Option<String>,
}
