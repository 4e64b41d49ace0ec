//! An attempt as `status --json` and the dashboard show it: the protocol's
//! [`Attempt`](dmc_protocol::Attempt) with its converter's name, times and outcome in words.

use dmc_protocol::time::rfc3339;
use dmc_protocol::{Attempt, EndedBy, Epoch, NodeId};
use serde::{Deserialize, Serialize};

use super::Names;

/// One attempt at an item: an epoch its origin assigned to a converter. Times are when this
/// node learnt of each step (RFC 3339, UTC).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    pub epoch: Epoch,
    pub server_id: NodeId,
    /// The converter's name as [`Names`] gives it.
    pub server_name: String,
    pub assigned_at: String,
    pub accepted_at: Option<String>,
    pub ended_at: Option<String>,
    /// `assigned`, `running` (accepted), `rejected`, `failed`, `released`, `converted`,
    /// `result_refused`, `result_lost`, or `lease_expired` (taken back by a later attempt
    /// without a word from its converter).
    pub outcome: String,
    /// The refusal's, failure's or release's reason.
    pub reason: Option<String>,
}

impl AttemptView {
    /// `attempt`, of an item whose current epoch is `current`, naming nodes as `names` does.
    pub fn of(attempt: &Attempt, current: Option<Epoch>, names: &Names) -> AttemptView {
        let end = attempt.end.as_ref();
        let outcome = match end.map(|e| e.how) {
            Some(how) => ended_word(how),
            None if current != Some(attempt.epoch) => "lease_expired",
            None if attempt.accepted_at.is_some() => "running",
            None => "assigned",
        };
        AttemptView {
            epoch: attempt.epoch,
            server_id: attempt.converter.clone(),
            server_name: names.label(&attempt.converter),
            assigned_at: rfc3339(attempt.assigned_at),
            accepted_at: attempt.accepted_at.map(rfc3339),
            ended_at: end.map(|e| rfc3339(e.at)),
            outcome: outcome.to_string(),
            reason: end.and_then(|e| e.reason.clone()),
        }
    }

    /// The attempt in one line, as `status ITEM` prints it (names escaped by the caller).
    pub fn line(&self, number: usize) -> String {
        let mut line = format!(
            "{number}. {} on {}: assigned {}",
            self.outcome.replace('_', " "),
            self.server_name,
            self.assigned_at
        );
        if let Some(at) = &self.accepted_at {
            line += &format!(", accepted {at}");
        }
        if let Some(at) = &self.ended_at {
            line += &format!(", ended {at}");
        }
        if let Some(reason) = &self.reason {
            line += &format!(": {reason}");
        }
        line
    }
}

fn ended_word(how: EndedBy) -> &'static str {
    match how {
        EndedBy::Rejected => "rejected",
        EndedBy::Failed => "failed",
        EndedBy::Released => "released",
        EndedBy::Converted => "converted",
        EndedBy::ResultRefused => "result_refused",
        EndedBy::ResultLost => "result_lost",
    }
}
