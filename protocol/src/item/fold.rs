//! The fold: an item's state from its records, read as a set (any order of arrival,
//! duplicates included, gives the same state). Records from nodes with no right to them are
//! ignored. The times that timers count from (a refusal, a failure, a result, a release) are
//! when this node received each record, never the author's `created_at`: clocks differ.

use std::collections::BTreeMap;

use crate::ids::{Epoch, Millis, NodeId, Seq};
use crate::record::{Authority, FileInfo, Offer, ProgressInfo, Record, RecordBody, Stage};

use super::{
    Attempt, AttemptEnd, EndedBy, FailedAttempt, ItemState, Phase, Rejection, Release,
    FREE_LOST_RESULTS,
};

impl ItemState {
    /// Folds the records of one item (any order, duplicates allowed), each taken as received
    /// when it was made (tests, and records of this node's own). `None` until the offer itself
    /// is known. Records from nodes with no right to them are ignored.
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a Record>) -> Option<ItemState> {
        ItemState::fold_received(records.into_iter().map(|r| (r, r.created_at)))
    }

    /// Like [`ItemState::fold`], with the time this node received each record (its own
    /// clock): rejections, failures, results and releases carry that time.
    pub fn fold_received<'a>(
        records: impl IntoIterator<Item = (&'a Record, Millis)>,
    ) -> Option<ItemState> {
        let recs = sorted_unique(records);
        let (origin, mut offer, created_at) = first_offer(&recs)?;
        let said = OriginSays::collect(&recs, &origin);
        if offer.sha512_follows && offer.file.sha512.is_empty() {
            if let Some(sha512) = &said.checksum {
                offer.file.sha512 = sha512.clone();
            }
        }
        let mut done = ConvertersDid::collect(&recs, &said.holders, said.current_epoch());
        let lost_results = done.take_refusals(&said);
        let phase = phase(&said, &done);
        let attempts = attempts(&said, &mut done);

        // The result that counts: the delivered one's epoch, else the current epoch's.
        let result_epoch = said
            .delivered
            .as_ref()
            .map(|(e, _)| *e)
            .or(said.current_epoch());
        let result = done
            .results
            .iter()
            .find(|(e, _)| Some(*e) == result_epoch && !said.refused.contains_key(e))
            .map(|(_, f)| f.clone());
        let progress = match phase {
            Phase::Transferring | Phase::Converting => done.current.progress,
            _ => None,
        };
        Some(ItemState {
            priority: said.priority.unwrap_or(offer.priority),
            created_at,
            assignment: said.assignment.map(|(e, c, _)| (e, c)),
            phase,
            progress,
            result,
            output_path: said.delivered.map(|(_, p)| p),
            converted_at: done
                .current
                .converted_at
                .filter(|_| phase == Phase::Converted),
            released: done.current.released.filter(|_| phase == Phase::Offered),
            origin_error: said.failure,
            cancelled: said.cancelled,
            rejections: done.rejections,
            failures: done.failures,
            lost_results,
            attempts,
            version: recs.len() as u64,
            updated_at: recs
                .iter()
                .map(|(r, _)| r.created_at)
                .max()
                .unwrap_or(created_at),
            offer,
            origin,
        })
    }
}

/// A record with the time this node received it.
type Received<'a> = (&'a Record, Millis);

/// The records in (author, seq) order, each once (the earliest receipt of a duplicate).
fn sorted_unique<'a>(records: impl IntoIterator<Item = Received<'a>>) -> Vec<Received<'a>> {
    let mut recs: Vec<Received<'a>> = records.into_iter().collect();
    recs.sort_by(|(a, at), (b, bt)| (&a.author, a.seq, at).cmp(&(&b.author, b.seq, bt)));
    recs.dedup_by(|(a, _), (b, _)| a.author == b.author && a.seq == b.seq);
    recs
}

/// The offer: if (against the rules) several exist, the smallest (author, seq) wins.
fn first_offer(recs: &[Received<'_>]) -> Option<(NodeId, Offer, Millis)> {
    recs.iter().find_map(|(r, _)| match &r.body {
        RecordBody::Offer(o) => Some((r.author.clone(), o.clone(), r.created_at)),
        _ => None,
    })
}

/// What the item's origin recorded.
#[derive(Default)]
struct OriginSays {
    /// The latest assignment: epoch, converter and the record's seq.
    assignment: Option<(Epoch, NodeId, Seq)>,
    /// Which converter the origin assigned each epoch to (its first assignment of the epoch).
    holders: BTreeMap<Epoch, NodeId>,
    /// When this node received each epoch's (first) assignment.
    assigned_at: BTreeMap<Epoch, Millis>,
    cancelled: bool,
    /// The origin's newest priority record's priority (its records come in seq order).
    priority: Option<i32>,
    /// The origin's own failure, the first one recorded.
    failure: Option<String>,
    /// The source's SHA-512 from the origin's first `checksum` record.
    checksum: Option<String>,
    /// The delivery: epoch and output path.
    delivered: Option<(Epoch, String)>,
    /// Results the origin refused, by epoch (its first word on each).
    refused: BTreeMap<Epoch, Refused>,
}

/// The origin's refusal of an epoch's result.
struct Refused {
    reason: String,
    /// The converter answered that the result is gone (else the origin's check failed it).
    lost: bool,
    at: Millis,
}

impl OriginSays {
    fn collect(recs: &[Received<'_>], origin: &NodeId) -> OriginSays {
        let mut said = OriginSays::default();
        for &(r, received) in recs.iter().filter(|(r, _)| r.author == *origin) {
            match &r.body {
                RecordBody::Assign {
                    epoch, converter, ..
                } => {
                    said.holders
                        .entry(*epoch)
                        .or_insert_with(|| converter.clone());
                    said.assigned_at.entry(*epoch).or_insert(received);
                    let newer = match &said.assignment {
                        None => true,
                        Some((e, _, s)) => (*epoch, r.seq) > (*e, *s),
                    };
                    if newer {
                        said.assignment = Some((*epoch, converter.clone(), r.seq));
                    }
                }
                RecordBody::Cancel { .. } => said.cancelled = true,
                RecordBody::Checksum { sha512, .. } => {
                    said.checksum.get_or_insert_with(|| sha512.clone());
                }
                RecordBody::Priority { priority, .. } => said.priority = Some(*priority),
                RecordBody::Failed {
                    epoch: None, error, ..
                } => {
                    said.failure.get_or_insert_with(|| error.clone());
                }
                RecordBody::Delivered {
                    epoch, output_path, ..
                } => {
                    said.delivered
                        .get_or_insert_with(|| (*epoch, output_path.clone()));
                }
                RecordBody::ResultRefused {
                    epoch,
                    reason,
                    lost,
                    ..
                } => {
                    said.refused.entry(*epoch).or_insert_with(|| Refused {
                        reason: reason.clone(),
                        lost: *lost,
                        at: received,
                    });
                }
                _ => {}
            }
        }
        said
    }

    fn current_epoch(&self) -> Option<Epoch> {
        self.assignment.as_ref().map(|(e, _, _)| *e)
    }
}

/// What the converters recorded, each only for an epoch the origin assigned to it.
#[derive(Default)]
struct ConvertersDid {
    /// One per epoch (the first report counts), in epoch order.
    failures: Vec<FailedAttempt>,
    rejections: Vec<Rejection>,
    results: Vec<(Epoch, FileInfo)>,
    current: CurrentEpoch,
    /// When this node received each epoch's acceptance.
    accepted_at: BTreeMap<Epoch, Millis>,
    /// How each epoch ended: its converter's first word that ends it, or the origin's refusal
    /// of its result.
    ends: BTreeMap<Epoch, AttemptEnd>,
}

/// What the converter of the current epoch recorded.
#[derive(Default)]
struct CurrentEpoch {
    accepted: bool,
    rejected: bool,
    failed: bool,
    converted: bool,
    converted_at: Option<Millis>,
    released: Option<Release>,
    progress: Option<ProgressInfo>,
    /// The origin refused this epoch's result: whether that counts as a failed attempt.
    refused: Option<Counts>,
}

/// Whether a refused result counts as a failed attempt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counts {
    Yes,
    /// A lost result within [`FREE_LOST_RESULTS`]: the item is converted again for free.
    No,
}

impl ConvertersDid {
    fn collect(
        recs: &[Received<'_>],
        holders: &BTreeMap<Epoch, NodeId>,
        current: Option<Epoch>,
    ) -> ConvertersDid {
        let mut did = ConvertersDid::default();
        for &(r, received) in recs {
            let Authority::Converter(epoch) = r.body.authority() else {
                continue;
            };
            if holders.get(&epoch) != Some(&r.author) {
                continue;
            }
            did.note(r, received, epoch, current == Some(epoch));
        }
        did.failures.sort_by_key(|f| f.epoch);
        did.failures.dedup_by_key(|f| f.epoch);
        did
    }

    /// Takes in the origin's refusals of results of epochs it assigned: a refused result is a
    /// failed attempt of its epoch; a lost one is not, up to [`FREE_LOST_RESULTS`] of them
    /// (later ones count). Returns the lost results that do not count.
    fn take_refusals(&mut self, said: &OriginSays) -> Vec<FailedAttempt> {
        let mut free = Vec::new();
        for (epoch, r) in &said.refused {
            let Some(converter) = said.holders.get(epoch) else {
                continue;
            };
            let counts = if !r.lost {
                Counts::Yes
            } else if free.len() < FREE_LOST_RESULTS {
                Counts::No
            } else {
                Counts::Yes
            };
            let error = match (r.lost, counts) {
                (false, _) => format!("result refused by origin: {}", r.reason),
                (true, Counts::No) => format!("result lost by its converter: {}", r.reason),
                (true, Counts::Yes) => format!(
                    "result lost by its converter (more than {FREE_LOST_RESULTS} lost results \
                     count as attempts): {}",
                    r.reason
                ),
            };
            let how = match r.lost {
                true => EndedBy::ResultLost,
                false => EndedBy::ResultRefused,
            };
            self.ends.insert(*epoch, end(how, r.at, Some(&r.reason)));
            let attempt = FailedAttempt {
                epoch: *epoch,
                converter: converter.clone(),
                error,
                at: r.at,
                // A refused result says nothing of other converters.
                certain: false,
            };
            match counts {
                Counts::Yes => self.failures.push(attempt),
                Counts::No => free.push(attempt),
            }
            if Some(*epoch) == said.current_epoch() {
                self.current.refused = Some(counts);
            }
        }
        self.failures.sort_by_key(|f| f.epoch);
        self.failures.dedup_by_key(|f| f.epoch);
        free
    }

    /// Takes in one record of the converter that held `epoch`, received at `received`.
    fn note(&mut self, r: &Record, received: Millis, epoch: Epoch, is_current: bool) {
        self.note_times(r, received, epoch);
        let current = &mut self.current;
        match &r.body {
            RecordBody::Reject {
                reason,
                until_fewer,
                ..
            } => {
                self.rejections.push(Rejection {
                    server_id: r.author.clone(),
                    epoch,
                    reason: reason.clone(),
                    until_fewer: *until_fewer,
                    at: received,
                });
                current.rejected |= is_current;
            }
            RecordBody::Failed { error, certain, .. } => {
                self.failures.push(FailedAttempt {
                    epoch,
                    converter: r.author.clone(),
                    error: error.clone(),
                    certain: *certain,
                    at: received,
                });
                current.failed |= is_current;
            }
            RecordBody::Converted { output, .. } => {
                self.results.push((epoch, output.clone()));
                if is_current {
                    current.converted = true;
                    current.converted_at = Some(received);
                }
            }
            RecordBody::Release { reason, .. } if is_current => {
                current.released = Some((r.author.clone(), reason.clone(), received));
            }
            RecordBody::Accept { .. } if is_current => current.accepted = true,
            RecordBody::Progress { progress, .. } if is_current => {
                // Records of one author are sorted by seq: the last one is the newest.
                current.progress = Some(*progress);
            }
            _ => {}
        }
    }
}

impl ConvertersDid {
    /// Takes in when an attempt was accepted and how it ended (its first such word).
    fn note_times(&mut self, r: &Record, received: Millis, epoch: Epoch) {
        let ended = match &r.body {
            RecordBody::Accept { .. } => {
                self.accepted_at.entry(epoch).or_insert(received);
                return;
            }
            RecordBody::Reject { reason, .. } => end(EndedBy::Rejected, received, Some(reason)),
            RecordBody::Failed { error, .. } => end(EndedBy::Failed, received, Some(error)),
            RecordBody::Release { reason, .. } => end(EndedBy::Released, received, Some(reason)),
            RecordBody::Converted { .. } => end(EndedBy::Converted, received, None),
            _ => return,
        };
        self.ends.entry(epoch).or_insert(ended);
    }
}

fn end(how: EndedBy, at: Millis, reason: Option<&String>) -> AttemptEnd {
    AttemptEnd {
        how,
        at,
        reason: reason.cloned(),
    }
}

/// Every epoch the origin assigned, in epoch order, with its times and how it ended.
fn attempts(said: &OriginSays, did: &mut ConvertersDid) -> Vec<Attempt> {
    said.holders
        .iter()
        .map(|(epoch, converter)| Attempt {
            epoch: *epoch,
            converter: converter.clone(),
            assigned_at: said.assigned_at.get(epoch).copied().unwrap_or_default(),
            accepted_at: did.accepted_at.get(epoch).copied(),
            end: did.ends.remove(epoch),
        })
        .collect()
}

/// The phase: the origin's word first (delivered, cancelled, failed), then what the converter
/// of the current epoch reported.
fn phase(said: &OriginSays, did: &ConvertersDid) -> Phase {
    let current = &did.current;
    if said.delivered.is_some() {
        return Phase::Delivered;
    }
    if said.cancelled {
        return Phase::Cancelled;
    }
    if said.failure.is_some() {
        return Phase::Failed;
    }
    match &said.assignment {
        None if did.rejections.is_empty() => Phase::Offered,
        None => Phase::Rejected,
        Some(_) if current.refused == Some(Counts::Yes) => Phase::Retrying,
        Some(_) if current.refused == Some(Counts::No) => Phase::Offered,
        Some(_) if current.failed => Phase::Retrying,
        Some(_) if current.converted => Phase::Converted,
        Some(_) if current.rejected => Phase::Rejected,
        Some(_) if current.released.is_some() => Phase::Offered,
        Some(_) => running_phase(current.progress.as_ref(), current.accepted),
    }
}

/// The phase of an assigned item its converter has not finished, from the converter's newest
/// progress (a stored record of an older version, or a report laid over the records).
pub(super) fn running_phase(progress: Option<&ProgressInfo>, accepted: bool) -> Phase {
    match progress {
        Some(p) if p.stage == Stage::Converting => Phase::Converting,
        Some(p) if p.stage == Stage::Queued => Phase::Accepted,
        Some(_) => Phase::Transferring,
        None if accepted => Phase::Accepted,
        None => Phase::Assigned,
    }
}
