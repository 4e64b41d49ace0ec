//! Starting a node: load config and identity, open the store, start the swarm and the core.

use std::path::PathBuf;

/// How `dmc node` was invoked.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub data_dir: PathBuf,
    /// `--config FILE`; else `<data_dir>/config.toml`; else built-in defaults.
    pub config: Option<PathBuf>,
}

/// Runs a node until SIGINT or SIGTERM.
pub async fn run_node(opts: RunOptions) -> Result<(), RunError> {
    let _ = opts;
    Err(RunError::NotReady)
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("node runtime not wired yet")]
    NotReady,
}
