//! mDNS with mdns-sd: registers this node's `_dmc._tcp.local.` service, browses for others
//! and turns their adverts into addresses to dial.

use std::net::IpAddr;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use mdns_sd::{IfKind, IfPredicate, Receiver, ServiceDaemon, ServiceEvent, ServiceInfo};
use tracing::{debug, info};

use super::txt::{dial_addrs, Advert, TxtError};
use super::watch::IfFilter;
use super::DiscoveryError;

/// The DNS-SD service type of dmc nodes.
pub const SERVICE_TYPE: &str = "_dmc._tcp.local.";
/// Longest part of the node name used in the instance name (DNS labels are at most 63 bytes).
const MAX_INSTANCE_NAME: usize = 40;
/// Refreshes before the daemon is rebuilt (each one adds an interface selection to it).
const MAX_REFRESHES: u32 = 256;

/// A peer found by mDNS, ready to dial.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub peer: PeerId,
    pub advert: Advert,
    pub addrs: Vec<Multiaddr>,
    /// It advertises another network (another key): not to be dialled, only reported.
    pub other_network: bool,
}

/// The running mDNS daemon with our service and browse.
pub struct Mdns {
    daemon: ServiceDaemon,
    events: Receiver<ServiceEvent>,
    ours: Advert,
    name: String,
    filter: IfFilter,
    service: Option<ServiceInfo>,
    refreshes: u32,
}

impl Mdns {
    /// Starts the daemon on the interfaces `filter` allows and browses for dmc nodes.
    pub fn start(ours: Advert, name: &str, filter: IfFilter) -> Result<Mdns, DiscoveryError> {
        let (daemon, events) = start_daemon(&filter)?;
        Ok(Mdns {
            daemon,
            events,
            ours,
            name: name.to_string(),
            filter,
            service: None,
            refreshes: 0,
        })
    }

    /// The browse events (cloneable receiver; replaced by [`Mdns::refresh`]).
    pub fn events(&self) -> Receiver<ServiceEvent> {
        self.events.clone()
    }

    /// Registers our service at the TCP port of the first listen address that has one.
    pub fn register(&mut self, listen: &[Multiaddr]) -> Result<(), DiscoveryError> {
        let Some(port) = listen.iter().find_map(tcp_port) else {
            info!("mDNS: not listening on TCP, so only browsing");
            return Ok(());
        };
        let instance = instance_name(&self.name, &self.ours.id);
        let host = format!("dmc-{}.local.", host_label(&self.ours.id));
        let info = ServiceInfo::new(SERVICE_TYPE, &instance, &host, (), port, self.ours.encode())
            .map_err(|e| DiscoveryError::Mdns(format!("cannot describe our service: {e}")))?
            .enable_addr_auto();
        self.daemon
            .register(info.clone())
            .map_err(|e| DiscoveryError::Mdns(format!("cannot register our service: {e}")))?;
        info!(instance = %instance, port, "mDNS: announcing {SERVICE_TYPE}");
        self.service = Some(info);
        Ok(())
    }

    /// After an interface change: bind new interfaces, announce again and query again (the
    /// answers already cached come back as resolved services too).
    pub fn refresh(&mut self) -> Result<(), DiscoveryError> {
        self.refreshes += 1;
        if self.refreshes >= MAX_REFRESHES {
            let _ = self.daemon.shutdown();
            let (daemon, events) = start_daemon(&self.filter)?;
            self.daemon = daemon;
            self.events = events;
            self.refreshes = 0;
        } else {
            self.daemon
                .enable_interface(predicate(&self.filter))
                .map_err(mdns_err)?;
            self.events = self.daemon.browse(SERVICE_TYPE).map_err(mdns_err)?;
        }
        if let Some(info) = &self.service {
            self.daemon.register(info.clone()).map_err(mdns_err)?;
        }
        Ok(())
    }

    /// What to dial for a browse event, if anything (others are logged at debug).
    pub fn found(&self, ev: ServiceEvent) -> Option<Found> {
        let ServiceEvent::ServiceResolved(r) = ev else {
            return None;
        };
        let advert = match Advert::decode(|k| r.get_property_val_str(k)) {
            Ok(a) => a,
            Err(e) => {
                debug!(service = %r.fullname, "mDNS: ignoring service: {e}");
                return None;
            }
        };
        let (peer, other_network) = match advert.check(&self.ours) {
            Ok(p) => (p, false),
            Err(TxtError::OtherNetwork(_)) if advert.id != self.ours.id => {
                match advert.id.parse::<PeerId>() {
                    Ok(p) => (p, true),
                    Err(_) => return None,
                }
            }
            Err(e) => {
                debug!(service = %r.fullname, "mDNS: ignoring service: {e}");
                return None;
            }
        };
        let ips: Vec<IpAddr> = r.addresses.iter().map(|a| a.to_ip_addr()).collect();
        let addrs = dial_addrs(ips, r.port, self.filter.loopback);
        if addrs.is_empty() {
            debug!(service = %r.fullname, "mDNS: no usable address advertised");
            return None;
        }
        Some(Found {
            peer,
            advert,
            addrs,
            other_network,
        })
    }

    /// Says goodbye on the LAN and stops the daemon.
    pub fn stop(self) {
        if let Some(info) = &self.service {
            let _ = self.daemon.unregister(info.get_fullname());
        }
        let _ = self.daemon.shutdown();
    }
}

fn mdns_err(e: mdns_sd::Error) -> DiscoveryError {
    DiscoveryError::Mdns(e.to_string())
}

fn predicate(filter: &IfFilter) -> IfKind {
    let f = filter.clone();
    IfKind::Predicate(IfPredicate::new(move |i| {
        f.allows(&i.name, i.ip(), i.is_p2p())
    }))
}

fn start_daemon(
    filter: &IfFilter,
) -> Result<(ServiceDaemon, Receiver<ServiceEvent>), DiscoveryError> {
    let daemon = ServiceDaemon::new()
        .map_err(|e| DiscoveryError::Mdns(format!("cannot start the mDNS daemon: {e}")))?;
    daemon.disable_interface(IfKind::All).map_err(mdns_err)?;
    daemon
        .enable_interface(predicate(filter))
        .map_err(mdns_err)?;
    let events = daemon.browse(SERVICE_TYPE).map_err(mdns_err)?;
    Ok((daemon, events))
}

fn tcp_port(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        Protocol::Tcp(port) if port != 0 => Some(port),
        _ => None,
    })
}

/// `<name> <last 6 of id>`: readable, and unique among nodes of one name.
pub fn instance_name(name: &str, id: &str) -> String {
    let mut cut = name.len().min(MAX_INSTANCE_NAME);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let clean: String = name[..cut]
        .chars()
        .map(|c| if c == '.' || c.is_control() { '-' } else { c })
        .collect();
    let tail = &id[id.len().saturating_sub(6)..];
    format!("{clean} {tail}")
}

fn host_label(id: &str) -> String {
    id.chars()
        .rev()
        .take(12)
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_bounded_and_unique_per_id() {
        let long = "é".repeat(100);
        let n = instance_name(&long, "12D3KooWabcdef");
        assert!(n.len() <= MAX_INSTANCE_NAME + 7);
        assert!(n.ends_with(" abcdef"));
        assert_eq!(instance_name("a.b", "xy"), "a-b xy");
        assert_eq!(host_label("12D3KooWABCDEFGHIJKL").len(), 12);
    }

    #[test]
    fn tcp_port_skips_port_zero() {
        let a: Multiaddr = "/ip4/0.0.0.0/tcp/0".parse().unwrap();
        let b: Multiaddr = "/ip4/10.0.0.1/tcp/4747".parse().unwrap();
        assert_eq!(tcp_port(&a), None);
        assert_eq!(tcp_port(&b), Some(4747));
    }
}
