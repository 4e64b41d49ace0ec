//! `[network]`: which peers may connect besides holding the network key, and what one peer
//! may make this node store per minute.

use dmc_protocol::engine::RecordBudget;
use dmc_protocol::NodeId;

use super::error::{fault, Fault};
use super::raw::RawNetwork;

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

/// Smallest `[network] peer_records_per_minute`: below it a node would take minutes to learn
/// a handful of items.
pub const MIN_PEER_RECORDS_PER_MINUTE: u32 = 100;
/// Smallest `[network] peer_bytes_per_minute`: the largest frame, so that any record a peer
/// can send fits in one minute's budget.
pub const MIN_PEER_BYTES_PER_MINUTE: u64 = dmc_protocol::wire::MAX_REQUEST_BYTES as u64;

/// Checks `[network] peer_records_per_minute` and `peer_bytes_per_minute`.
pub(super) fn budget(raw: &RawNetwork) -> Result<RecordBudget, Fault> {
    let records = u32::try_from(raw.peer_records_per_minute)
        .ok()
        .filter(|n| *n >= MIN_PEER_RECORDS_PER_MINUTE)
        .ok_or_else(|| {
            fault(
                "network.peer_records_per_minute",
                None,
                format!(
                    "must be between {MIN_PEER_RECORDS_PER_MINUTE} and {}",
                    u32::MAX
                ),
            )
        })?;
    let bytes = u64::try_from(raw.peer_bytes_per_minute)
        .ok()
        .filter(|n| *n >= MIN_PEER_BYTES_PER_MINUTE)
        .ok_or_else(|| {
            fault(
                "network.peer_bytes_per_minute",
                None,
                format!(
                    "must be at least {MIN_PEER_BYTES_PER_MINUTE} (1 MiB, the largest message)"
                ),
            )
        })?;
    Ok(RecordBudget { records, bytes })
}
