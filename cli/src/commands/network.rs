//! `peers`, `profiles` and `info`.

use anyhow::Result;

use crate::client::Client;
use crate::output::{emit, info_block, json, peers_table, profiles_table};

pub async fn peers(client: &Client, as_json: bool) -> Result<()> {
    let peers = client.peers().await?;
    if as_json {
        return emit(&json(&peers)?);
    }
    if peers.is_empty() {
        return emit("no peers known yet: nodes with the same network key are found by mDNS on the LAN, or listed in [discovery] peers\n");
    }
    emit(&peers_table(&peers))
}

pub async fn profiles(client: &Client, as_json: bool) -> Result<()> {
    let profiles = client.profiles().await?;
    emit(&if as_json {
        json(&profiles)?
    } else {
        profiles_table(&profiles)
    })
}

pub async fn info(client: &Client, as_json: bool) -> Result<()> {
    let node = client.info().await?;
    emit(&if as_json {
        json(&node)?
    } else {
        info_block(&node)
    })
}
