//! One module per group of subcommands; `run_client` dispatches every command but `node`.

pub mod docs;
pub mod doctor;
pub mod gui;
pub mod items;
pub mod man;
pub mod network;
pub mod network_key;
pub mod node;
pub mod offer;

use std::path::Path;

use anyhow::Result;

use crate::args::Command;
use crate::client::Client;

/// Runs a command that talks to a running node.
pub async fn run_client(command: Command, data_dir: &Path) -> Result<()> {
    let client = Client::new(data_dir);
    match command {
        Command::Node { .. } | Command::Completions { .. } | Command::Man => {
            unreachable!("`node`, `completions` and `man` are run by main, not as a client")
        }
        Command::Network(cmd) => network_key::run(&client, cmd, data_dir).await,
        Command::Offer {
            files,
            profile,
            priority,
            again,
            wait,
            json,
        } => {
            let how = offer::How {
                profile: profile.as_deref(),
                priority,
                again,
            };
            offer::run(&client, &files, how, wait, json).await
        }
        Command::Status {
            item: Some(item),
            json,
            ..
        } => items::status(&client, &item, json).await,
        Command::Status {
            item: None,
            all,
            limit,
            offset,
            json,
        }
        | Command::List {
            all,
            limit,
            offset,
            json,
        } => items::list(&client, items::Page { all, limit, offset }, json).await,
        Command::Fetch {
            item,
            output,
            force,
            json,
        } => items::fetch(&client, &item, output.as_deref(), force, json).await,
        Command::Cancel { item, json } => items::cancel(&client, &item, json).await,
        Command::Priority {
            item,
            priority,
            json,
        } => items::priority(&client, &item, priority, json).await,
        Command::Peers { json } => network::peers(&client, json).await,
        Command::Profiles { json } => network::profiles(&client, json).await,
        Command::Info { json } => network::info(&client, json).await,
        Command::Gui {
            action: Some(crate::args::GuiCommand::ApiKey { json }),
            ..
        } => gui::api_key(&client, json).await,
        Command::Gui {
            action: Some(crate::args::GuiCommand::SetPassword),
            ..
        } => gui::set_password(data_dir),
        Command::Gui {
            action: None,
            no_open,
            json,
        } => gui::run(&client, gui::Open(!no_open), json).await,
        Command::Doctor { config, json } => doctor::run(&client, data_dir, config, json).await,
    }
}

/// Makes `data_dir` when it does not exist yet, private (0700) as the node makes it: it holds
/// the node's secrets (network key, dashboard password).
pub(crate) fn make_private_data_dir(data_dir: &Path) -> Result<()> {
    use anyhow::Context;
    use std::os::unix::fs::DirBuilderExt;
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
    }
    Ok(())
}
