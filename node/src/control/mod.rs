//! The control API: HTTP/JSON over a Unix socket in the data dir, served to the `dmc` CLI.

pub mod api;
mod error;
mod group;
mod routes;
mod socket;

pub(crate) use socket::Bound;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::{Path, PathBuf};

use crate::core::CoreHandle;

pub(crate) use error::ApiError;
pub(crate) use routes::{offer_file, ItemParam, QueryOf};
pub use socket::ControlError;

/// File name of the control socket inside the data dir.
pub const SOCKET_FILE_NAME: &str = "control.sock";

/// The control socket of the node that uses `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE_NAME)
}

/// Serves the control API on `socket_path` until `shutdown` completes, then removes the socket.
///
/// The socket is created with mode 0600. A stale socket file (nothing answers on it) is removed
/// first; if another node answers on it, this refuses with [`ControlError::AlreadyRunning`].
pub async fn serve(
    socket_path: &Path,
    core: CoreHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    serve_for(socket_path, None, core, shutdown).await
}

/// [`serve`], with `group` (`[control] group`) also allowed to use the socket: it is then mode
/// 0660 and owned by that group, and its directory gets the group and `g+x`. A group that does
/// not exist is refused with [`ControlError::NoSuchGroup`].
pub async fn serve_for(
    socket_path: &Path,
    group: Option<&str>,
    core: CoreHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    serve_node(socket_path, group, core, None, shutdown).await
}

/// [`serve_for`], also answering `GET /v1/config` with `running`: the configuration the node
/// runs with (what `dmc doctor` checks).
pub async fn serve_node(
    socket_path: &Path,
    group: Option<&str>,
    core: CoreHandle,
    running: Option<api::ConfigView>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    serve_router(socket_path, group, router(core, running), shutdown).await
}

/// Every route of the control API, answering `GET /v1/config` with `running` when given: the
/// one router the socket serves and the dashboard (`gui/`) serves behind its login.
pub fn router(core: CoreHandle, running: Option<api::ConfigView>) -> axum::Router {
    routes::router(core, running)
}

/// Serves `router` (the control API's, perhaps with more routes) on the control socket, as
/// [`serve_for`] does.
pub async fn serve_router(
    socket_path: &Path,
    group: Option<&str>,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    let bound = bind(socket_path, group).await?;
    serve_bound(socket_path, bound, router, shutdown).await
}

/// Binds the control socket as [`serve_for`] does, to serve it with [`serve_bound`] (the
/// node binds it before the long parts of its start, so it answers from then on).
pub(crate) async fn bind(
    socket_path: &Path,
    group: Option<&str>,
) -> Result<socket::Bound, ControlError> {
    let bound = socket::bind(socket_path, group).await?;
    // Connections wait in the listen backlog from here on.
    tracing::info!(socket = %socket_path.display(), "control API listening");
    Ok(bound)
}

/// Serves `router` on the socket [`bind`] bound at `socket_path` until `shutdown`.
pub(crate) async fn serve_bound(
    socket_path: &Path,
    bound: socket::Bound,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ControlError> {
    let result = axum::serve(bound.listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    bound.guard.remove();
    result.map_err(|source| ControlError::Io {
        path: socket_path.to_path_buf(),
        action: "serving",
        source,
    })
}
