//! The web dashboard: the control API's router served on `[gui] listen` behind a login, with
//! the page's static files, a server-sent event stream and result downloads.
//!
//! `expose.rs` is the start-up rule (loopback: HTTP; elsewhere only with a password, over
//! HTTPS); `serve.rs` binds and assembles the router; `guard.rs` is what every request passes
//! first (host, session cookie, CSRF token, security headers); `auth.rs` keeps login links and
//! sessions; `login.rs` makes links (for `dmc gui`, on the control socket) and opens sessions;
//! `password.rs` keeps the password's argon2id hash, `password_login.rs` is the login form and
//! `throttle.rs` slows down guessing; `tls.rs` keeps the HTTPS certificate and
//! `tls_listener.rs` accepts HTTPS connections; `private_file.rs` writes secrets;
//! `api_key.rs` keeps the hash of the scripts' API key; `metrics.rs` is `/metrics` (written by
//! `metrics_text.rs`);
//! `assets.rs` serves `node/gui/`; `events.rs` is `/v1/events`; `download.rs` streams a
//! delivered result; `upload.rs` stores an uploaded file under `[gui] upload_dir` and offers it.

pub mod api_key;
mod assets;
pub mod auth;
mod download;
mod events;
pub mod expose;
mod guard;
mod login;
mod metrics;
mod metrics_text;
pub mod password;
mod password_login;
mod private_file;
mod serve;
mod throttle;
pub mod tls;
mod tls_listener;
mod upload;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

pub use expose::{prepare, Exposure, ExposureError};
pub use serve::{serve, GuiError, Parts};

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
    /// The certificate's fingerprint when served over HTTPS.
    tls_fingerprint: Option<String>,
    /// Clients that gave wrong passwords lately.
    throttle: Mutex<throttle::Throttle>,
    /// Password checks running at once (each takes 19 MiB and tens of milliseconds).
    checking: tokio::sync::Semaphore,
}

/// Password checks that may run at once.
const PASSWORD_CHECKS_AT_ONCE: usize = 2;

impl Gui {
    /// The state of a dashboard that will be served as `exposure` says, or that is off
    /// (`None`), with the API key and password kept in `data_dir`.
    pub fn new(exposure: Option<&Exposure>, data_dir: PathBuf) -> Gui {
        let served = match exposure {
            Some(_) => Served::Starting,
            None => Served::Off,
        };
        Gui {
            inner: Arc::new(Inner {
                auth: Mutex::new(auth::Auth::default()),
                served: Mutex::new(served),
                api_key: Mutex::new(api_key::load(&data_dir)),
                data_dir,
                tls_fingerprint: exposure
                    .and_then(|e| e.tls.as_ref())
                    .map(|t| t.fingerprint.clone()),
                throttle: Mutex::new(throttle::Throttle::default()),
                checking: tokio::sync::Semaphore::new(PASSWORD_CHECKS_AT_ONCE),
            }),
        }
    }

    /// Whether the dashboard is served over HTTPS (its cookies are then `Secure`).
    fn https(&self) -> bool {
        self.inner.tls_fingerprint.is_some()
    }

    fn throttle(&self) -> MutexGuard<'_, throttle::Throttle> {
        self.inner
            .throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
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
