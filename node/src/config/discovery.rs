//! `[discovery]`: mDNS, static peers, and the interfaces discovery uses.

use super::error::{fault, Fault};
use super::node::multiaddrs;
use super::raw::RawDiscovery;
use super::DiscoveryConfig;

/// Most entries in `[discovery] interfaces`.
pub const MAX_INTERFACES: usize = 64;
/// Longest interface name on Linux (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// Validates `[discovery]`.
pub(super) fn resolve_discovery(raw: RawDiscovery) -> Result<DiscoveryConfig, Fault> {
    Ok(DiscoveryConfig {
        mdns: raw.mdns,
        peers: multiaddrs("discovery.peers", &raw.peers)?,
        interfaces: interface_names(&raw.interfaces)?,
        loopback: raw.loopback,
    })
}

fn interface_names(raw: &[String]) -> Result<Vec<String>, Fault> {
    const KEY: &str = "discovery.interfaces";
    if raw.len() > MAX_INTERFACES {
        return Err(fault(
            KEY,
            None,
            format!("at most {MAX_INTERFACES} interfaces"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        let ok = !name.is_empty()
            && name.len() <= MAX_INTERFACE_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '/' && c != ':');
        if !ok {
            return Err(fault(
                KEY,
                Some(i),
                format!(
                    "`{name}` is not an interface name (1 to {MAX_INTERFACE_NAME} printable \
                     characters, no `/` or `:`); see `ip link` for names, e.g. \"eth0\""
                ),
            ));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}
