//! `network show` and `network join`: the network key, read and written in the data dir
//! directly, so both work whether or not the node runs.

use std::path::Path;

use anyhow::{bail, Context, Result};
use dmc_node::network_key::{self, NetworkKey, NetworkKeyError};

use crate::args::NetworkCommand;
use crate::client::Client;
use crate::output::emit;

pub async fn run(client: &Client, cmd: NetworkCommand, data_dir: &Path) -> Result<()> {
    match cmd {
        NetworkCommand::Show { json, code } => show(data_dir, json, code),
        NetworkCommand::Join { code } => join(client, data_dir, &code).await,
        NetworkCommand::New { force } => new(client, data_dir, force).await,
    }
}

async fn new(client: &Client, data_dir: &Path, force: bool) -> Result<()> {
    if load(data_dir)?.is_some() && !force {
        bail!(
            "{} already holds a network key; `dmc network new --force` replaces it (this \
             machine then leaves its network until the others join the new one)",
            data_dir.display()
        );
    }
    let key = NetworkKey::generate()?;
    install(client, data_dir, &key, Installed::Created).await
}

/// How this machine got the key it installs.
#[derive(PartialEq)]
enum Installed {
    Created,
    Joined,
}

/// Writes `key` and says what happens next.
async fn install(client: &Client, data_dir: &Path, key: &NetworkKey, how: Installed) -> Result<()> {
    super::make_private_data_dir(data_dir)?;
    network_key::store(data_dir, key).with_context(|| {
        format!(
            "installing the key in {} (for the system service run this as its user: sudo -u dmc dmc --data-dir /var/lib/dmc network …)",
            data_dir.display()
        )
    })?;
    let running = client.info().await.is_ok();
    let what = match how {
        Installed::Created => "created network",
        Installed::Joined => "joined network",
    };
    let mut msg = format!(
        "{what} {}: the key is in {}\n",
        key.fingerprint(),
        network_key::key_path(data_dir).display()
    );
    if running {
        msg.push_str(
            "the running node still uses the old key: restart it to use the new one \
             (`systemctl restart dmc`, `systemctl --user restart dmc`, or stop and start \
             `dmc node`)\n",
        );
    } else {
        msg.push_str("the node uses it from its next start\n");
    }
    if how == Installed::Created {
        msg.push_str(&format!(
            "join the other machines with: {}\n",
            join_command(data_dir, key)
        ));
    }
    emit(&msg)
}

fn load(data_dir: &Path) -> Result<Option<NetworkKey>> {
    network_key::load(data_dir).map_err(|e| match e {
        NetworkKeyError::Read { ref source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            anyhow::anyhow!(
                "{e}; the key belongs to the user the node runs as: for the system service run \
                 `sudo -u dmc dmc --data-dir {} network …`",
                data_dir.display()
            )
        }
        e => e.into(),
    })
}

/// The command that joins another node to `key`'s network. A node kept in a data dir of its own
/// (`--data-dir`, as two nodes on one machine are) is joined with its own `--data-dir`, so the
/// hint says so rather than naming the default one.
fn join_command(data_dir: &Path, key: &NetworkKey) -> String {
    let default = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".local/share/dmc"))
        .is_some_and(|d| d == data_dir)
        || data_dir == Path::new(crate::args::SYSTEM_DATA_DIR);
    if default {
        format!("dmc network join {}", key.join_code())
    } else {
        format!(
            "dmc network join {} (a node with a data dir of its own: dmc --data-dir ITS_DIR network join …)",
            key.join_code()
        )
    }
}

fn show(data_dir: &Path, json: bool, code_only: bool) -> Result<()> {
    let Some(key) = load(data_dir)? else {
        bail!(
            "no network key in {} yet: a node creates one on its first start (`dmc node`), or \
             join an existing network with `dmc network join CODE`",
            data_dir.display()
        );
    };
    if code_only {
        return emit(&format!("{}\n", key.join_code()));
    }
    if json {
        return emit(&format!(
            "{}\n",
            serde_json::json!({
                "fingerprint": key.fingerprint(),
                "join_code": key.join_code(),
            })
        ));
    }
    emit(&format!(
        "network fingerprint: {}\njoin code:           {}\n\nOn each machine that should join this network, run:\n  {}\nKeep the code secret: whoever has it can join.\n",
        key.fingerprint(),
        key.join_code(),
        join_command(data_dir, &key)
    ))
}

async fn join(client: &Client, data_dir: &Path, code: &str) -> Result<()> {
    let key = NetworkKey::from_join_code(code)?;
    if load(data_dir)?.as_ref() == Some(&key) {
        return emit(&format!(
            "this machine is already in network {}\n",
            key.fingerprint()
        ));
    }
    install(client, data_dir, &key, Installed::Joined).await
}
