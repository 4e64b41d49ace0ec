//! Binding `[gui] listen` and serving the dashboard: the control API's router with the
//! dashboard's own routes, all behind the guard, over HTTP on loopback and HTTPS elsewhere
//! (`expose.rs`). A dashboard that cannot bind is logged and reported to `dmc gui`; the node
//! goes on converting without it.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::events::Events;
use super::guard::{guard, Guard};
use super::tls_listener::{Client, TlsListener};
use super::upload::{self, Uploads};
use super::{assets, download, events, login, metrics, password_login, Exposure, Gui, Served};

/// Largest body of a password login form.
const LOGIN_FORM_LIMIT: usize = 8 * 1024;
use crate::core::{ChangeSender, CoreHandle};
use crate::store::Store;

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum GuiError {
    #[error(
        "[gui] listen {0} is in use by another program (another dmc node?); set [gui] listen to \
         a free port, or to \"\" to turn the dashboard off, and restart the node"
    )]
    InUse(SocketAddr),
    #[error("[gui] listen {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
}

/// What the dashboard serves from.
pub struct Parts {
    /// The control API's router.
    pub api: Router,
    pub core: CoreHandle,
    pub store: Store,
    pub changes: ChangeSender,
    /// Where uploads go.
    pub upload_dir: PathBuf,
}

/// Serves the dashboard as `exposure` says until `shutdown` turns true: the control API's
/// router and the dashboard's routes, behind the guard.
pub async fn serve(
    gui: Gui,
    exposure: Exposure,
    parts: Parts,
    shutdown: watch::Receiver<bool>,
) -> Result<(), GuiError> {
    let Parts {
        api,
        core,
        store,
        changes,
        upload_dir,
    } = parts;
    let listen = exposure.listen;
    let listener = match bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("the dashboard is not served: {e}");
            gui.set_served(Served::Failed(e.to_string()));
            return Err(e);
        }
    };
    let at = listener.local_addr().unwrap_or(listen);
    gui.set_served(Served::At(at));
    match &exposure.tls {
        Some(tls) => tracing::info!(
            address = %at,
            fingerprint = %tls.fingerprint,
            "dashboard listening over HTTPS (log in with the password, or `dmc gui`)"
        ),
        None => tracing::info!(address = %at, "dashboard listening (`dmc gui` opens it)"),
    }
    let events = Events {
        core: core.clone(),
        changes,
        shutdown: shutdown.clone(),
    };
    let uploads = Arc::new(Uploads {
        core: core.clone(),
        dir: upload_dir,
    });
    let hosts = exposure.tls.is_none().then(|| hosts_of(at));
    let metrics = metrics::Sources {
        core: core.clone(),
        store,
    };
    let router = dashboard_router(gui, hosts, api, core, metrics, events, uploads);
    let app = router.into_make_service_with_connect_info::<Client>();
    let mut stop = shutdown;
    let stopped = async move {
        let _ = stop.wait_for(|stopping| *stopping).await;
    };
    let result = match exposure.tls {
        Some(tls) => {
            axum::serve(TlsListener::new(listener, tls.server), app)
                .with_graceful_shutdown(stopped)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
        }
    };
    result.map_err(|source| GuiError::Bind { addr: at, source })
}

async fn bind(listen: SocketAddr) -> Result<TcpListener, GuiError> {
    TcpListener::bind(listen).await.map_err(|source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            GuiError::InUse(listen)
        } else {
            GuiError::Bind {
                addr: listen,
                source,
            }
        }
    })
}

/// Every route of the dashboard: the control API, the page, login, events and downloads;
/// `hosts`: the `Host` values the guard lets through (`None`: any).
fn dashboard_router(
    gui: Gui,
    hosts: Option<Vec<String>>,
    api: Router,
    core: CoreHandle,
    metrics: metrics::Sources,
    events: Events,
    uploads: Arc<Uploads>,
) -> Router {
    let own = Router::new()
        .route(
            "/login",
            get(login::login)
                .post(password_login::log_in)
                .layer(DefaultBodyLimit::max(LOGIN_FORM_LIMIT)),
        )
        .with_state(gui.clone())
        .route("/v1/gui/session", get(login::session))
        .merge(
            Router::new()
                .route("/v1/events", get(events::events))
                .with_state(events),
        )
        .merge(
            Router::new()
                .route("/v1/uploads", post(upload::upload))
                .with_state(uploads),
        )
        .merge(
            Router::new()
                .route("/v1/items/{item_id}/result", get(download::result))
                .with_state(core),
        )
        .merge(
            Router::new()
                .route("/metrics", get(metrics::metrics))
                .with_state(metrics),
        )
        .merge(assets::routes());
    let guard_state = Arc::new(Guard { gui, hosts });
    api.merge(own)
        .layer(axum::middleware::from_fn_with_state(guard_state, guard))
}

/// The `Host` values that name the dashboard at `at`.
fn hosts_of(at: SocketAddr) -> Vec<String> {
    let port = at.port();
    let mut hosts = vec![at.to_string(), format!("localhost:{port}")];
    if at.ip().is_loopback() && at.is_ipv4() {
        hosts.push(format!("127.0.0.1:{port}"));
    }
    hosts.dedup();
    hosts
}
