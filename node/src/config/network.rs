//! `[network]`: which peers may connect besides holding the network key.

use dmc_protocol::NodeId;

use super::error::{fault, Fault};

/// Most entries in `[network] allowed_peers`.
pub const MAX_ALLOWED_PEERS: usize = 1024;

/// Checks `[network] allowed_peers`: each a peer id (what `dmc info` prints as node id).
pub(super) fn allowed_peers(raw: &[String]) -> Result<Vec<NodeId>, Fault> {
    const KEY: &str = "network.allowed_peers";
    if raw.len() > MAX_ALLOWED_PEERS {
        return Err(fault(
            KEY,
            None,
            format!("more than {MAX_ALLOWED_PEERS} entries"),
        ));
    }
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        if s.parse::<libp2p::PeerId>().is_err() {
            return Err(fault(
                KEY,
                Some(i),
                format!(
                    "`{}` is not a node id; `dmc info` on that machine prints its node id",
                    s.chars().take(80).collect::<String>()
                ),
            ));
        }
        let id = NodeId::new(s.clone());
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}
