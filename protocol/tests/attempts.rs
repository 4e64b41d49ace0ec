//! An item's attempts (issue 15 point 3): every epoch its origin assigned, with when this node
//! received the assignment, the acceptance and the word that ended it, and the reason given.

mod sim;

use dmc_protocol::{EndedBy, FileInfo, ItemState, Record, RecordBody, Signature};
use sim::{file, node_id, video_offer};

const ORIGIN: usize = 1;

fn rec(author: usize, seq: u64, body: RecordBody) -> Record {
    Record {
        author: node_id(author),
        seq,
        created_at: 5,
        body,
        sig: Signature::default(),
    }
}

fn output() -> FileInfo {
    file("clip.mkv", 2)
}

#[test]
fn each_epoch_is_an_attempt_with_its_times_and_how_it_ended() {
    let (item_id, offer) = video_offer(&node_id(ORIGIN), [9; 16], 0);
    let assign = |epoch, converter: usize| RecordBody::Assign {
        item_id,
        epoch,
        converter: node_id(converter),
    };
    let (a, b, c, d) = (2, 3, 4, 5);
    // (record, when this node received it)
    let recs: Vec<(Record, u64)> = vec![
        (rec(ORIGIN, 1, offer), 100),
        (rec(ORIGIN, 2, assign(1, a)), 110),
        (
            rec(
                a,
                1,
                RecordBody::Reject {
                    item_id,
                    epoch: 1,
                    reason: "insufficient disk".into(),
                    until_fewer: None,
                },
            ),
            120,
        ),
        (rec(ORIGIN, 3, assign(2, b)), 130),
        (rec(b, 1, RecordBody::Accept { item_id, epoch: 2 }), 140),
        (
            rec(
                b,
                2,
                RecordBody::Failed {
                    item_id,
                    epoch: Some(2),
                    error: "ffmpeg exited 1".into(),
                    certain: false,
                },
            ),
            150,
        ),
        (rec(ORIGIN, 4, assign(3, c)), 160),
        (rec(c, 1, RecordBody::Accept { item_id, epoch: 3 }), 170),
        (
            rec(
                c,
                2,
                RecordBody::Converted {
                    item_id,
                    epoch: 3,
                    output: output(),
                },
            ),
            180,
        ),
        (
            rec(
                ORIGIN,
                5,
                RecordBody::ResultRefused {
                    item_id,
                    epoch: 3,
                    reason: "duration 1 s, expected 4 s".into(),
                    lost: false,
                },
            ),
            190,
        ),
        // Epoch 4's converter never said anything; epoch 5 runs.
        (rec(ORIGIN, 6, assign(4, d)), 200),
        (rec(ORIGIN, 7, assign(5, a)), 210),
        (rec(a, 2, RecordBody::Accept { item_id, epoch: 5 }), 220),
        // A word about epoch 5 from a node that does not hold it is ignored.
        (
            rec(
                b,
                3,
                RecordBody::Converted {
                    item_id,
                    epoch: 5,
                    output: output(),
                },
            ),
            230,
        ),
    ];
    let mut shuffled: Vec<(&Record, u64)> = recs.iter().map(|(r, t)| (r, *t)).collect();
    shuffled.reverse();
    let item = ItemState::fold_received(shuffled).unwrap();
    let summary: Vec<_> = item
        .attempts
        .iter()
        .map(|t| {
            (
                t.epoch,
                t.converter.clone(),
                t.assigned_at,
                t.accepted_at,
                t.end
                    .as_ref()
                    .map(|e| (e.how, e.at, e.reason.clone().unwrap_or_default())),
            )
        })
        .collect();
    let s = |t: &str| t.to_string();
    assert_eq!(
        summary,
        vec![
            (
                1,
                node_id(a),
                110,
                None,
                Some((EndedBy::Rejected, 120, s("insufficient disk")))
            ),
            (
                2,
                node_id(b),
                130,
                Some(140),
                Some((EndedBy::Failed, 150, s("ffmpeg exited 1")))
            ),
            (
                3,
                node_id(c),
                160,
                Some(170),
                Some((EndedBy::ResultRefused, 190, s("duration 1 s, expected 4 s")))
            ),
            (4, node_id(d), 200, None, None),
            (5, node_id(a), 210, Some(220), None),
        ]
    );
}
