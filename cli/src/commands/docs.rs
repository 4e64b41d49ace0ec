//! `dmc completions SHELL` and `dmc man`: shell completions and the roff man page
//! (`man.rs`), generated from the clap definition so they never drift from the real options.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::Cli;
use crate::output::emit;

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "dmc", &mut buf);
    emit(&String::from_utf8(buf).context("the completion script is not UTF-8")?)
}

/// Prints the man page to stdout.
pub fn man() -> Result<()> {
    emit(&super::man::man_page())
}
