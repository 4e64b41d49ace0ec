//! The web dashboard: the control API's router served on `[gui] listen` (loopback TCP) behind
//! a login, with the page's static files, a server-sent event stream and result downloads.
//!
//! `serve.rs` binds and assembles the router; `guard.rs` is what every request passes first
//! (host, session cookie, CSRF token, security headers); `auth.rs` keeps login links and
//! sessions; `login.rs` makes links (for `dmc gui`, on the control socket) and opens sessions;
//! `assets.rs` serves `node/gui/`; `events.rs` is `/v1/events`; `download.rs` streams a
//! delivered result.

mod assets;
pub mod auth;
mod download;
mod events;
mod guard;
mod login;
mod serve;

use std::net::SocketAddr;
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
}

impl Gui {
    /// The state of a dashboard that will be served (`on`), or that is off.
    pub fn new(on: bool) -> Gui {
        Gui {
            inner: Arc::new(Inner {
                auth: Mutex::new(auth::Auth::default()),
                served: Mutex::new(if on { Served::Starting } else { Served::Off }),
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
