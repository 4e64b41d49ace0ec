//! The dashboard's answers: the one-time login link `dmc gui` asks for, and the session's
//! CSRF token the page asks for.

use serde::{Deserialize, Serialize};

/// Answer to `POST /v1/gui/login-link` (control socket only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginLink {
    /// Opens the dashboard once: `http://127.0.0.1:8747/login?token=…`.
    pub url: String,
    /// The dashboard's address, without a token.
    pub dashboard: String,
    /// The link is refused after this many seconds, and after its first use.
    pub expires_in_secs: u64,
    /// The SHA-256 fingerprint of the dashboard's certificate (`AB:CD:…`) when it is served
    /// over HTTPS (a `[gui] listen` that is not loopback); absent on plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// Answer to `GET /v1/gui/session` (dashboard only): what the page sends back in the
/// `X-CSRF-Token` header of every state-changing request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuiSession {
    pub csrf_token: String,
}

/// Answer to `POST /v1/gui/api-key` (control socket only): a new key for
/// `Authorization: Bearer`, replacing the previous one. It is shown only here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub api_key: String,
}
