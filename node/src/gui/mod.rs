//! The web dashboard: the control API's router served on `[gui] listen` (loopback TCP) behind
//! a login, with the page's static files, a server-sent event stream and result downloads.
//!
//! `serve.rs` binds and assembles the router; `guard.rs` is what every request passes first
//! (host, session cookie, CSRF token, security headers); `auth.rs` keeps login links and
//! sessions; `login.rs` makes links (for `dmc gui`, on the control socket) and opens sessions;
//! `api_key.rs` keeps the hash of the scripts' API key; `metrics.rs` is `/metrics`;
//! `assets.rs` serves `node/gui/`; `events.rs` is `/v1/events`; `download.rs` streams a
//! delivered result; `upload.rs` stores an uploaded file under `[gui] upload_dir` and offers it.

pub mod api_key;
mod assets;
pub mod auth;
mod download;
mod events;
mod guard;
mod login;
mod metrics;
mod serve;
mod upload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub use serve::{serve, GuiError};

/// Where the dashboard is, as far as the control socket's `/v1/gui/login-link` needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Served {
    /// `[gui] listen = ""`.
    Off,
    /// Not bound yet.
    Starting,
    At(SocketAddr),
    /// It could not start: why, for the user.
    Failed(String),
}

/// The dashboard's shared state: its login links and sessions, and where it is served.
/// Cloned into the dashboard's server and the control socket's login-link route.
#[derive(Clone)]
pub struct Gui {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Mutex<auth::Auth>,
    served: Mutex<Served>,
    /// Where the API key's hash is kept.
    data_dir: PathBuf,
    /// The API key's hash, if one was made.
    api_key: Mutex<Option<api_key::KeyHash>>,
}

impl Gui {
    /// The state of a dashboard that will be served (`on`), or that is off, with the API key
    /// kept in `data_dir`.
    pub fn new(on: bool, data_dir: PathBuf) -> Gui {
        Gui {
            inner: Arc::new(Inner {
                auth: Mutex::new(auth::Auth::default()),
                served: Mutex::new(if on { Served::Starting } else { Served::Off }),
                api_key: Mutex::new(api_key::load(&data_dir)),
                data_dir,
            }),
        }
    }

    /// The routes the control socket serves for the dashboard (`POST /v1/gui/login-link`).
    pub fn socket_routes(&self) -> axum::Router {
        login::socket_routes(self.clone())
    }

    fn auth(&self) -> MutexGuard<'_, auth::Auth> {
        // A panic while holding the lock leaves tables that are still whole.
        self.inner.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` is the API key.
    fn is_api_key(&self, key: &str) -> bool {
        let stored = *self.inner.api_key.lock().unwrap_or_else(|p| p.into_inner());
        stored
            .is_some_and(|h| auth::same_token(&hex::encode(api_key::hash_of(key)), &hex::encode(h)))
    }

    /// Makes a new API key, replacing the previous one; gives it back (it is kept only hashed).
    fn new_api_key(&self) -> Result<String, String> {
        let key = auth::new_token().map_err(|e| e.to_string())?;
        let hash = api_key::hash_of(&key);
        api_key::store(&self.inner.data_dir, &hash).map_err(|e| {
            format!(
                "cannot store the API key in {}: {e}",
                self.inner.data_dir.join(api_key::API_KEY_FILE).display()
            )
        })?;
        *self.inner.api_key.lock().unwrap_or_else(|p| p.into_inner()) = Some(hash);
        Ok(key)
    }

    fn served(&self) -> Served {
        self.inner
            .served
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_served(&self, served: Served) {
        *self.inner.served.lock().unwrap_or_else(|p| p.into_inner()) = served;
    }
}
