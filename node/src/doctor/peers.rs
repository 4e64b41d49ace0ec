//! The peers check: each peer the running node knows, online, offline or rejected (another
//! network, or not in `[network] allowed_peers`), from the node's own peer list.

use super::Check;
use crate::control::api::PeerView;

/// The checks when no node runs to ask.
pub fn no_node() -> Check {
    Check::warn(
        "peers",
        "not checked: no node running to ask",
        "start the node (see the control socket check), then run dmc doctor again",
    )
}

/// The checks when asking the node for its peers failed.
pub fn failed(error: &str) -> Check {
    Check::warn(
        "peers",
        format!("the node did not list its peers: {error}"),
        "try `dmc peers`; check the node's log (journalctl -u dmc)",
    )
}

/// How a peer is named in the checklist: its name and its id ending, as wide as in every
/// table ([`dmc_protocol::NodeId::short`]).
fn label(p: &PeerView) -> String {
    let short = p.node_id.short();
    match &p.name {
        Some(n) => format!("peer {} ({short})", n.chars().take(64).collect::<String>()),
        None => format!("peer {short}"),
    }
}

/// One check per known peer; a warning when there is none. `key_changed`: the data dir holds
/// a network key the running node does not use yet (a peer of another network may be one of
/// the new network's: the node must restart, not join again).
pub fn checks(peers: &[PeerView], key_changed: bool) -> Vec<Check> {
    if peers.is_empty() {
        return vec![Check::warn(
            "peers",
            "the node knows no peer yet",
            "start dmc on the other machines with the same network key (`dmc network show` \
             here, `dmc network join CODE` there); where mDNS does not reach them, list them \
             in [discovery] peers, e.g. \"/ip4/192.168.1.20/tcp/4747\"",
        )];
    }
    peers.iter().map(|p| check(p, key_changed)).collect()
}

/// The check of one peer.
fn check(p: &PeerView, key_changed: bool) -> Check {
    let name = label(p);
    let addrs = if p.addresses.is_empty() {
        "no known address".to_string()
    } else {
        p.addresses
            .iter()
            .take(4)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(why) = &p.rejected {
        return Check::warn(
            name,
            format!("{why} ({addrs})"),
            rejected_fix(p, key_changed),
        );
    }
    if p.online {
        return Check::ok(name, format!("online, {} ({addrs})", p.role));
    }
    let seen = p
        .last_seen
        .as_deref()
        .map(|t| format!("last seen {t}"))
        .unwrap_or_else(|| "never connected".into());
    if p.addresses.is_empty() {
        // Known only through records other nodes relayed (a laptop that was online through
        // another node, listening elsewhere): nothing here could dial it, and it dials in
        // when it runs. Not a problem.
        return Check::ok(
            name,
            format!(
                "offline, {seen}, a {}; known through its records only, with no address to \
                 dial: it connects when it runs",
                p.role
            ),
        );
    }
    Check::warn(
        name,
        format!("offline, {seen} ({addrs})"),
        "check that the machine is on and runs dmc node, and that the port in the address \
         above (its [node] listen, 4747 by default) is reachable from here (firewall, VPN, \
         Wi-Fi client isolation)",
    )
}

/// What to do about a refused peer.
fn rejected_fix(p: &PeerView, key_changed: bool) -> String {
    if p.rejected
        .as_deref()
        .is_some_and(|w| w.contains("allowed_peers"))
    {
        format!(
            "add its node id {} to [network] allowed_peers here if it belongs",
            p.node_id
        )
    } else if key_changed {
        format!(
            "this node still runs with its old network key; a new one waits in the data dir: \
             {}",
            super::key::RESTART
        )
    } else {
        "different network: run `dmc network show` here and `dmc network join CODE` there (or \
         the other way round) if it should be one of yours"
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use dmc_protocol::NodeId;

    fn peer(name: &str, online: bool, rejected: Option<&str>) -> PeerView {
        PeerView {
            node_id: NodeId::new(format!("12D3KooW{name}xxxxxxxxxxx")),
            name: Some(name.into()),
            addresses: vec!["/ip4/10.0.0.2/tcp/4747".into()],
            online,
            last_seen: Some("2026-11-26T01:00:00Z".into()),
            seen_secs_ago: Some(60),
            role: "converter".into(),
            media_types: vec![],
            profiles: vec![],
            workers: None,
            free_slots: None,
            measured_speed: None,
            rejected: rejected.map(str::to_string),
            over_budget: None,
        }
    }

    #[test]
    fn online_offline_rejected_and_none() {
        let c = checks(
            &[
                peer("box", true, None),
                peer("nas", false, None),
                peer("neighbour", false, Some("rejected: different network")),
                peer("stranger", true, Some("rejected: not in allowed_peers")),
            ],
            false,
        );
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
        assert!(c[0].check.starts_with("peer box ("), "{c:?}");
        assert_eq!(c[1].status, Status::Warn);
        assert!(c[1].detail.contains("last seen 2026-11-26"), "{c:?}");
        assert_eq!(c[2].status, Status::Warn);
        assert!(c[2]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("dmc network join")));
        assert!(c[3]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("allowed_peers")));

        let none = checks(&[], false);
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].status, Status::Warn);
        assert_eq!(no_node().status, Status::Warn);
    }

    #[test]
    fn a_peer_known_only_through_records_is_no_problem() {
        let mut laptop = peer("laptop", false, None);
        laptop.addresses.clear();
        laptop.role = "client".into();
        let c = checks(&[laptop], false);
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
        assert!(c[0].detail.contains("no address to dial"), "{c:?}");
        assert!(c[0].fix.is_none());
    }

    #[test]
    fn a_key_joined_since_start_asks_for_a_restart_not_a_join() {
        let c = checks(
            &[peer(
                "neighbour",
                false,
                Some("rejected: different network"),
            )],
            true,
        );
        let fix = c[0].fix.clone().unwrap_or_default();
        assert!(fix.contains("restart the node"), "{fix}");
        assert!(!fix.contains("network join"), "{fix}");
    }
}
