//! `dmc`: runs a node (`dmc node`) or talks to the running one over its control socket.

mod args;
mod client;
mod commands;
mod output;
mod profile_arg;
mod resolve;
mod style;
mod wait;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let label = style::paint("error:", style::Colour::Red, style::stderr());
            // Errors can quote a peer (its name, a reason it gave): made safe for a terminal.
            eprintln!("{label} {}", output::safe_lines(&format!("{e:#}"), ""));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Completions { shell } => return commands::docs::completions(shell),
        Command::Man => return commands::docs::man(),
        _ => {}
    }
    let data_dir = cli.data_dir()?;
    match cli.command {
        Command::Node { config } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(commands::node::run(&data_dir, config)),
        command => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(commands::run_client(command, &data_dir)),
    }
}
