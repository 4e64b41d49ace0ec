//! `dmc node`: logging to stderr, then the node runtime until SIGINT/SIGTERM.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use dmc_node::run::{run_node, RunOptions};
use tracing_subscriber::EnvFilter;

/// Log filter from `DMC_LOG`, else `RUST_LOG`, else `info`.
fn filter() -> EnvFilter {
    EnvFilter::try_from_env("DMC_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"))
}

pub async fn run(data_dir: &Path, config: Option<PathBuf>) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let config = match config {
        Some(c) => Some(
            std::path::absolute(&c)
                .with_context(|| format!("cannot make {} absolute", c.display()))?,
        ),
        None => None,
    };
    run_node(RunOptions {
        data_dir: data_dir.to_path_buf(),
        config,
    })
    .await
    .with_context(|| format!("the node with data dir {} stopped", data_dir.display()))
}
