//! Binding `[gui] listen` and serving the dashboard: the control API's router with the
//! dashboard's own routes, all behind the guard. A dashboard that cannot start is logged and
//! reported to `dmc gui`; the node goes on converting without it.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::events::Events;
use super::guard::{guard, Guard};
use super::upload::{self, Uploads};
use super::{assets, download, events, login, metrics, Gui, Served};
use crate::core::{ChangeSender, CoreHandle};

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

/// Serves the dashboard on `listen` until `shutdown` turns true: `api` (the control API's
/// router) and the dashboard's routes, behind the guard; uploads go to `upload_dir`.
pub async fn serve(
    gui: Gui,
    listen: SocketAddr,
    upload_dir: PathBuf,
    api: Router,
    core: CoreHandle,
    changes: ChangeSender,
    shutdown: watch::Receiver<bool>,
) -> Result<(), GuiError> {
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
    tracing::info!(address = %at, "dashboard listening (`dmc gui` opens it)");
    let events = Events {
        core: core.clone(),
        changes,
        shutdown: shutdown.clone(),
    };
    let uploads = Arc::new(Uploads {
        core: core.clone(),
        dir: upload_dir,
    });
    let router = dashboard_router(gui, at, api, core, events, uploads);
    let mut stop = shutdown;
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        })
        .await;
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

/// Every route of the dashboard: the control API, the page, login, events and downloads.
fn dashboard_router(
    gui: Gui,
    at: SocketAddr,
    api: Router,
    core: CoreHandle,
    events: Events,
    uploads: Arc<Uploads>,
) -> Router {
    let own = Router::new()
        .route("/login", get(login::login))
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
                .route("/metrics", get(metrics::metrics))
                .with_state(core),
        )
        .merge(assets::routes());
    let guard_state = Arc::new(Guard {
        gui,
        hosts: hosts_of(at),
    });
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
