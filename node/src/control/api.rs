//! Request and response bodies of the control API, shared by the server and the `dmc` CLI:
//! the requests here, items in [`item`] (with the words for why one waits in [`waiting`],
//! their attempts in [`attempt`]),
//! pages of items in [`list`] (their filters in [`filters`]), offers, peers, profiles and this node in [`views`], the running
//! configuration in [`config`], the dashboard's login link and session in [`gui`]; how texts
//! name a node in [`names`]; when the queue should be done in [`queue`].

mod attempt;
mod config;
mod filters;
mod gui;
mod item;
mod list;
mod names;
mod no_result;
mod queue;
mod views;
mod waiting;

use serde::{Deserialize, Serialize};

pub use attempt::AttemptView;
pub use config::ConfigView;
pub use filters::ListFilters;
pub use gui::{ApiKey, GuiSession, LoginLink};
pub use item::{ItemView, RejectionView};
pub use list::{
    CheckedList, ItemPage, ListQuery, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_LIST_OFFSET,
};
pub use names::Names;
pub use no_result::{no_result_text, NoResult};
pub use queue::{estimate as queue_estimate, QueueEstimate, SpeedSource, ASSUMED_SPEEDS};
pub use views::{NodeView, OfferOutcome, OverBudgetView, PeerView, ProfileView, UpgradingView};
pub use waiting::{waiting_text, waiting_text_at};

/// Longest path accepted in a request, in bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest profile name accepted in a request, in bytes.
pub const MAX_PROFILE_LEN: usize = 64;
/// Largest request body the server reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// `POST /v1/offer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    /// Absolute path of the file, as the node sees it.
    pub path: String,
    /// A profile name; `None` lets the node pick its default for the file's media type.
    #[serde(default)]
    pub profile: Option<String>,
    /// Higher runs first on a converter's queue (then older offers first); default 0.
    #[serde(default)]
    pub priority: i32,
    /// A new item even when this content was offered with this profile before (by default the
    /// answer is that item, unless its result is gone from the output folder).
    #[serde(default)]
    pub again: bool,
}

/// `POST /v1/items/{item_id}/priority`: the item's new queue priority (higher runs first);
/// any 32-bit signed integer, as an offer's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityRequest {
    pub priority: i32,
}

/// `POST /v1/items/{item_id}/fetch`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchRequest {
    /// Absolute destination: a folder (the result keeps its name) or a file; an existing file
    /// is never replaced (the copy gets `name (1).ext`, …) unless `force`. `None`: the result
    /// where it was delivered, checked to be still there.
    #[serde(default)]
    pub output: Option<String>,
    /// Replace an existing destination file.
    #[serde(default)]
    pub force: bool,
}

/// Answer to `POST /v1/items/{item_id}/fetch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// Where the result now is.
    pub path: String,
}

/// The body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    /// Set where a client can act on the kind of problem (say what to do next).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
}

/// Kinds of error answers a client decides on, never by the message's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A file named in the request does not exist (as the node sees the path).
    FileNotFound,
    /// The node may not read a file named in the request.
    FilePermissionDenied,
}

impl ErrorKind {
    /// The kind of an I/O error on a file named in a request, where a client can act on it.
    pub fn of_file_error(e: &std::io::Error) -> Option<ErrorKind> {
        match e.kind() {
            std::io::ErrorKind::NotFound => Some(ErrorKind::FileNotFound),
            std::io::ErrorKind::PermissionDenied => Some(ErrorKind::FilePermissionDenied),
            _ => None,
        }
    }
}
