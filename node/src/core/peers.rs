//! Known peers' addresses: merging, bounds, and which stored addresses are worth dialling.

use std::collections::HashMap;

use dmc_protocol::{Millis, NodeId};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use crate::net::KNOWN_ADDRS_MAX;
use crate::store::PeerRow;

/// Most refused peers remembered for `dmc peers`.
pub const MAX_REJECTED: usize = 64;

/// What the core knows of the network around it, for `dmc peers` and `dmc info`.
#[derive(Debug, Default)]
pub(crate) struct PeerBook {
    /// Where this node listens.
    pub(crate) listen_addrs: Vec<Multiaddr>,
    /// Each peer's dialable addresses (most recent last) and when it was last seen.
    pub(crate) addrs: HashMap<NodeId, (Vec<String>, Millis)>,
    /// The address of each connected peer's first connection, as seen from here.
    pub(crate) conn_addrs: HashMap<NodeId, String>,
    /// Peers refused (another network key, not in `allowed_peers`), newest last, bounded.
    pub(crate) rejected: Vec<RejectedPeer>,
    /// Whose records are taken in (`allowed_peers`, whoever relays them).
    pub(crate) authors: super::authors::AuthorFilter,
    /// Peers whose records were refused over their per-minute budget.
    pub(crate) over_budget: super::budget::OverBudgetBook,
}

/// A peer this node refused to talk to, for `dmc peers`.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedPeer {
    /// Known when we dialled it by id or mDNS advertised it.
    pub node_id: Option<dmc_protocol::NodeId>,
    pub addr: Option<String>,
    /// "rejected: different network", …
    pub reason: &'static str,
    /// When (ms since the epoch).
    pub at: u64,
}

/// Remembers a refused peer: one entry per node id (or per address when the id is unknown),
/// newest last, at most [`MAX_REJECTED`].
pub(crate) fn note_rejected(list: &mut Vec<RejectedPeer>, r: RejectedPeer) {
    list.retain(|o| match (&o.node_id, &r.node_id) {
        (Some(a), Some(b)) => a != b,
        (None, None) => o.addr != r.addr,
        _ => true,
    });
    list.push(r);
    if list.len() > MAX_REJECTED {
        let extra = list.len() - MAX_REJECTED;
        list.drain(..extra);
    }
}

/// Adds `addr` to `addrs` (most recent last), keeping at most [`KNOWN_ADDRS_MAX`].
pub(crate) fn merge_addr(addrs: &mut Vec<String>, addr: String) {
    addrs.retain(|a| a != &addr);
    addrs.push(addr);
    if addrs.len() > KNOWN_ADDRS_MAX {
        let extra = addrs.len() - KNOWN_ADDRS_MAX;
        addrs.drain(..extra);
    }
}

/// `addr` as text without a trailing `/p2p/<id>` (the id is stored beside it).
pub(crate) fn without_p2p(addr: &Multiaddr) -> String {
    let mut a = addr.clone();
    if matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.pop();
    }
    a.to_string()
}

/// The stored peers worth redialling, with their parseable TCP addresses. Rows with a bad
/// id or no usable address are skipped.
pub fn dialable(rows: &[PeerRow]) -> Vec<(PeerId, Vec<Multiaddr>)> {
    rows.iter()
        .filter_map(|row| {
            let peer: PeerId = row.node_id.as_str().parse().ok()?;
            let addrs: Vec<Multiaddr> = row
                .addrs
                .iter()
                .filter_map(|a| a.parse::<Multiaddr>().ok())
                .filter(|a| a.iter().any(|p| matches!(p, Protocol::Tcp(_))))
                .collect();
            (!addrs.is_empty()).then_some((peer, addrs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmc_protocol::NodeId;

    #[test]
    fn merge_keeps_newest_and_bounds() {
        let mut v = Vec::new();
        for i in 0..20 {
            merge_addr(&mut v, format!("/ip4/10.0.0.{i}/tcp/1"));
        }
        merge_addr(&mut v, "/ip4/10.0.0.15/tcp/1".into());
        assert_eq!(v.len(), KNOWN_ADDRS_MAX);
        assert_eq!(v.last().map(String::as_str), Some("/ip4/10.0.0.15/tcp/1"));
        assert!(!v.contains(&"/ip4/10.0.0.0/tcp/1".to_string()));
    }

    #[test]
    fn p2p_suffix_is_dropped() {
        let peer = PeerId::random();
        let a: Multiaddr = format!("/ip4/10.0.0.1/tcp/1/p2p/{peer}").parse().unwrap();
        assert_eq!(without_p2p(&a), "/ip4/10.0.0.1/tcp/1");
    }

    #[test]
    fn dialable_skips_bad_rows() {
        let peer = PeerId::random();
        let rows = vec![
            PeerRow {
                node_id: NodeId::new(peer.to_base58()),
                addrs: vec![
                    "junk".into(),
                    "/ip4/10.0.0.1/tcp/4747".into(),
                    "/ip4/10.0.0.1".into(),
                ],
                last_seen: 1,
            },
            PeerRow {
                node_id: NodeId::new("not-a-peer-id"),
                addrs: vec!["/ip4/10.0.0.2/tcp/4747".into()],
                last_seen: 1,
            },
        ];
        let d = dialable(&rows);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, peer);
        assert_eq!(
            d[0].1,
            vec!["/ip4/10.0.0.1/tcp/4747".parse::<Multiaddr>().unwrap()]
        );
    }
}
