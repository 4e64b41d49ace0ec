//! An item as `status --json` and `list --json` show it, made from the protocol's folded
//! state.

use dmc_protocol::item::Rejection;
use dmc_protocol::time::rfc3339;
use dmc_protocol::{Epoch, ItemId, ItemState, MediaType, NodeId, Phase, SegmentProgress, Status};
use serde::{Deserialize, Serialize};

use super::{waiting_text, AttemptView, Names};

/// An item as `status --json` and `list --json` show it. The node also keeps it as JSON in its
/// `item_summaries` table and reads it back for items no longer in memory: a field added
/// later needs `#[serde(default)]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemView {
    pub item_id: ItemId,
    pub created_at: String,
    pub updated_at: String,
    pub client_id: NodeId,
    pub server_id: Option<NodeId>,
    /// The converter's name as this node knew it when the view was made, with its id ending
    /// when another node has the same name; its id ending when it has no name.
    #[serde(default)]
    pub server_name: Option<String>,
    pub file_name: String,
    pub media_type: MediaType,
    pub conversion_type: String,
    /// The source's SHA-512; empty while the origin still reads it (an offer of a large file
    /// is published before: `Offer::sha512_follows`).
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
    /// For an item converted in segments, while it converts: segments done of all, and how
    /// many were kept from before a restart of its converter.
    #[serde(default)]
    pub segments: Option<SegmentProgress>,
    /// For an item converted in segments given to the farm: the converters encoding or
    /// having encoded its segments in this attempt (labels, sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_converters: Vec<String>,
    pub epoch: Option<Epoch>,
    pub waiting_reason: Option<String>,
    pub errors: Vec<String>,
    pub rejections: Vec<RejectionView>,
    /// Every attempt, oldest first, with its converter and times (empty in summaries stored
    /// by older versions).
    #[serde(default)]
    pub attempts: Vec<AttemptView>,
    /// Its place on its converter's queue (higher first): the origin's latest change, else
    /// the offer's.
    #[serde(default)]
    pub priority: i32,
    /// While accepted and waiting for a free worker of its converter: its place in that
    /// queue, 1 for the next to start (`dmc_protocol::schedule::queue_positions`); `null` otherwise.
    #[serde(default)]
    pub queue_position: Option<u32>,
    pub version: u64,
    pub output_file_name: Option<String>,
    pub output_file_size: Option<u64>,
    pub output_sha512_checksum: Option<String>,
    pub output_path: Option<String>,
}

impl ItemView {
    /// The view of an item as its records tell it, naming nodes as `names` does (the node
    /// adds what only it knows).
    pub fn of(item: &ItemState, names: &Names) -> ItemView {
        let phase = item.phase;
        let result = item.result.as_ref();
        ItemView {
            item_id: item.item_id(),
            created_at: rfc3339(item.created_at),
            updated_at: rfc3339(item.updated_at),
            client_id: item.origin.clone(),
            server_id: item.converter().cloned(),
            server_name: item.converter().map(|c| names.label(c)),
            file_name: item.offer.file.file_name.clone(),
            media_type: item.offer.media_type,
            conversion_type: item.offer.profile.clone(),
            sha512_checksum: item.offer.file.sha512.clone(),
            file_size: item.offer.file.file_size,
            duration_ms: item.offer.duration_ms,
            status: phase.status(),
            phase,
            progress: match phase {
                Phase::Delivered | Phase::Converted => 1.0,
                _ => item.progress.map(|p| p.fraction as f64).unwrap_or(0.0),
            },
            fps: item.progress.and_then(|p| p.fps),
            speed: item.progress.and_then(|p| p.speed),
            eta_secs: item.progress.and_then(|p| p.eta_secs),
            segments: item.progress.and_then(|p| p.segments),
            segment_converters: Vec::new(),
            epoch: item.epoch(),
            waiting_reason: item.waiting().map(|w| waiting_text(&w, names)),
            errors: errors(item, names),
            rejections: item
                .rejections
                .iter()
                .map(|r| RejectionView::of(r, names))
                .collect(),
            attempts: item
                .attempts
                .iter()
                .map(|a| AttemptView::of(a, item.epoch(), names))
                .collect(),
            priority: item.priority,
            queue_position: None,
            version: item.version,
            output_file_name: result.map(|r| r.file_name.clone()),
            output_file_size: result.map(|r| r.file_size),
            output_sha512_checksum: result.map(|r| r.sha512.clone()),
            output_path: item.output_path.clone(),
        }
    }
}

impl ItemView {
    /// The segment counts as people read them, `5 of 8 done, 1 kept from before a restart`
    /// (`status ITEM`; the dashboard says the same), or `None` when not converted in segments.
    pub fn segments_text(&self) -> Option<String> {
        self.segments.map(|s| {
            let done = format!("{} of {} done", s.done, s.total);
            let done = match s.kept {
                0 => done,
                k => format!("{done}, {k} kept from before a restart"),
            };
            match self.segment_converters.as_slice() {
                [] => done,
                on => format!("{done}; encoded on {}", on.join(", ")),
            }
        })
    }

    /// Its queue place in words, `3rd in queue` (`status ITEM`; the dashboard's list says the
    /// same), or `None` when it does not wait in a converter's queue.
    pub fn queue_text(&self) -> Option<String> {
        self.queue_position.map(|n| {
            let suffix = match (n % 10, n % 100) {
                (_, 11..=13) => "th",
                (1, _) => "st",
                (2, _) => "nd",
                (3, _) => "rd",
                _ => "th",
            };
            format!("{n}{suffix} in queue")
        })
    }

    /// The segment counts in a few characters, `seg 5/8 (1 kept)` (progress lines).
    pub fn segments_short(&self) -> Option<String> {
        self.segments.map(|s| {
            let done = format!("seg {}/{}", s.done, s.total);
            match s.kept {
                0 => done,
                k => format!("{done} ({k} kept)"),
            }
        })
    }
}

#[cfg(test)]
impl ItemView {
    /// A video item in `phase` that nobody converts yet, for tests.
    pub(crate) fn sample(item_id: ItemId, phase: Phase) -> ItemView {
        ItemView {
            item_id,
            created_at: "2025-11-25T20:43:17.123Z".into(),
            updated_at: "2025-11-25T20:44:00.000Z".into(),
            client_id: NodeId::new("12D3KooWClientAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            server_id: None,
            server_name: None,
            file_name: "clip.mp4".into(),
            media_type: MediaType::Video,
            conversion_type: "mkv-x265".into(),
            sha512_checksum: "ab".repeat(64),
            file_size: 12345,
            duration_ms: None,
            status: phase.status(),
            phase,
            progress: 0.0,
            fps: None,
            speed: None,
            eta_secs: None,
            segments: None,
            epoch: None,
            waiting_reason: None,
            errors: vec![],
            rejections: vec![],
            attempts: vec![],
            priority: 0,
            queue_position: None,
            version: 1,
            output_file_name: None,
            output_file_size: None,
            output_sha512_checksum: None,
            output_path: None,
            segment_converters: Vec::new(),
        }
    }
}

/// A converter's refusal as `status` shows it: the protocol's [`Rejection`] with the
/// converter's name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RejectionView {
    #[serde(flatten)]
    pub rejection: Rejection,
    /// The converter's name as [`Names`] gives it (with its id ending when another node has
    /// the same name; its id ending when it has none). Absent in summaries stored by older
    /// versions.
    #[serde(default)]
    pub server_name: Option<String>,
}

impl RejectionView {
    /// `rejection`, naming its converter as `names` does.
    pub fn of(rejection: &Rejection, names: &Names) -> RejectionView {
        RejectionView {
            server_name: Some(names.label(&rejection.server_id)),
            rejection: rejection.clone(),
        }
    }

    /// The converter as a text names it: its name, else its id ending.
    pub fn converter_label(&self) -> String {
        self.server_name
            .clone()
            .unwrap_or_else(|| self.rejection.server_id.short().to_string())
    }
}

/// Every error of an item, oldest first: each failed attempt, the origin's own failure, a
/// cancel.
fn errors(item: &ItemState, names: &Names) -> Vec<String> {
    let attempts = item.failures.iter().enumerate().map(|(n, f)| {
        format!(
            "attempt {} on {}: {}",
            n + 1,
            names.label(&f.converter),
            f.error
        )
    });
    attempts
        .chain(item.origin_error.clone())
        .chain(
            item.cancelled
                .then(|| "cancelled by its origin".to_string()),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_counts_read_as_done_of_all_and_kept() {
        let mut v = ItemView::sample(ItemId::from_random([1; 16]), Phase::Converting);
        assert_eq!(v.segments_text(), None);
        v.segments = Some(SegmentProgress {
            done: 5,
            total: 8,
            kept: 1,
        });
        assert_eq!(
            v.segments_text().as_deref(),
            Some("5 of 8 done, 1 kept from before a restart")
        );
        assert_eq!(v.segments_short().as_deref(), Some("seg 5/8 (1 kept)"));
        v.segments = Some(SegmentProgress {
            done: 2,
            total: 8,
            kept: 0,
        });
        assert_eq!(v.segments_text().as_deref(), Some("2 of 8 done"));
        // Views stored before segments existed read as none.
        let mut json = serde_json::to_value(&v).unwrap();
        json.as_object_mut().unwrap().remove("segments");
        let old: ItemView = serde_json::from_value(json).unwrap();
        assert_eq!(old.segments, None);
    }
    #[test]
    fn queue_places_read_as_ordinals_and_old_views_have_none() {
        let mut v = ItemView::sample(ItemId::from_random([1; 16]), Phase::Accepted);
        assert_eq!(v.queue_text(), None);
        let text = |v: &mut ItemView, n| {
            v.queue_position = Some(n);
            v.queue_text().unwrap()
        };
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 103, 111]
            .into_iter()
            .map(|n| text(&mut v, n))
            .collect();
        assert_eq!(
            words.join(", "),
            "1st in queue, 2nd in queue, 3rd in queue, 4th in queue, 11th in queue, \
             12th in queue, 13th in queue, 21st in queue, 22nd in queue, 103rd in queue, \
             111th in queue"
        );
        let mut json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["queue_position"], 111);
        for field in ["queue_position", "priority", "attempts"] {
            json.as_object_mut().unwrap().remove(field);
        }
        let old: ItemView = serde_json::from_value(json).unwrap();
        assert_eq!((old.queue_position, old.priority), (None, 0));
        assert!(old.attempts.is_empty());
    }
    use dmc_protocol::{FileInfo, Offer, Record, RecordBody};

    fn record(author: &str, seq: u64, body: RecordBody) -> Record {
        Record {
            author: NodeId::new(author),
            seq,
            created_at: 1_764_103_397_123,
            body,
            sig: Default::default(),
        }
    }

    #[test]
    fn errors_list_attempts_then_the_origins_failure_then_a_cancel() {
        let item_id = ItemId::from_random([4; 16]);
        let offer = Offer {
            item_id,
            nonce: [0; 16],
            file: FileInfo {
                file_name: "a.mov".into(),
                file_size: 10,
                sha512: "0".repeat(128),
                blake3: "0".repeat(64),
                chunk_size: 1 << 20,
                manifest_hash: "0".repeat(64),
            },
            media_type: MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: None,
            priority: 0,
            sha512_follows: false,
            part_of: None,
        };
        let converter = "12D3KooWconverterABCDEF";
        let records = [
            record("Origin", 1, RecordBody::Offer(offer)),
            record(
                "Origin",
                2,
                RecordBody::Assign {
                    item_id,
                    epoch: 1,
                    converter: NodeId::new(converter),
                },
            ),
            record(
                converter,
                1,
                RecordBody::Failed {
                    item_id,
                    epoch: Some(1),
                    error: "ffmpeg exited 1".into(),
                    certain: false,
                },
            ),
            record(
                "Origin",
                3,
                RecordBody::Failed {
                    item_id,
                    epoch: None,
                    error: "gave up after 1 attempts".into(),
                    certain: false,
                },
            ),
            record("Origin", 4, RecordBody::Cancel { item_id }),
        ];
        let item = ItemState::fold(&records).expect("an item");
        let named = NodeId::new(converter);
        let view = ItemView::of(&item, &Names::new([(&named, "studio")]));
        assert_eq!(view.server_name.as_deref(), Some("studio"));
        assert_eq!(
            view.errors,
            [
                "attempt 1 on studio: ffmpeg exited 1",
                "gave up after 1 attempts",
                "cancelled by its origin"
            ]
        );
        assert_eq!(view.created_at, "2025-11-25T20:43:17.123Z");
        assert_eq!(view.phase, Phase::Cancelled);
    }
}
