//! Why a node could not start or stopped. Each variant holds the error it came from; the
//! messages are the ones the node has always printed (`dmc node` shows them with their
//! causes, so variants that add a prefix keep the inner error out of the cause chain).

use std::path::PathBuf;

use tokio::task::JoinError;

use crate::control::ControlError;
use crate::ffmpeg::{FfmpegError, MissingEncoder};
use crate::net::NetError;
use crate::network_key::NetworkKeyError;
use crate::{config, discovery, identity, store};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create data dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A converter could not list its ffmpeg's encoders.
    #[error("converter: {0}")]
    Encoders(FfmpegError),
    /// A converter's custom profile needs an encoder its ffmpeg lacks.
    #[error("converter: {0}")]
    MissingEncoder(MissingEncoder),
    /// The swarm could not start (transport, listen address).
    #[error("network: {0}")]
    Swarm(NetError),
    /// The network key could not be read or made.
    #[error("network key: {0}")]
    NetworkKey(NetworkKeyError),
    #[error(transparent)]
    Discovery(#[from] discovery::DiscoveryError),
    /// `[gui] listen` may not be served as configured (no password, no certificate).
    #[error(transparent)]
    Gui(#[from] crate::gui::ExposureError),
    /// The control socket failed.
    #[error("control socket: {0}")]
    Control(ControlError),
    /// The control socket's task panicked or was cancelled.
    #[error("control socket: {0}")]
    ControlTask(JoinError),
    /// SIGTERM or SIGINT could not be watched.
    #[error("{0}")]
    Signals(std::io::Error),
    /// The core stopped on a fatal error.
    #[error(transparent)]
    Core(#[from] crate::core::CoreFatal),
    /// The core's task panicked or was cancelled.
    #[error("{0}")]
    CoreTask(JoinError),
    #[error(
        "another dmc node is already running with data dir {}; stop it first or pass another --data-dir",
        .0.display()
    )]
    AlreadyRunning(PathBuf),
}
