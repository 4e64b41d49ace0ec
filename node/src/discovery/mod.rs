//! Discovery: mDNS adverts ([`mdns`]), their TXT records ([`txt`]), which advertised
//! addresses are dialled ([`subnets`]) and the interface watcher ([`watch`]) that makes a
//! node announce again and redial when a link returns.

pub mod mdns;
pub mod subnets;
pub mod txt;
pub mod watch;

use std::time::Duration;

use libp2p::PeerId;
use tokio::sync::watch as tokio_watch;
use tracing::{debug, info, warn};

use crate::net::NetClient;
use mdns::Found;
use subnets::{host_subnets, keep_on_subnets, Subnet};
use txt::{Advert, Role};
use watch::IfFilter;

/// How often the interfaces are polled.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// What discovery needs to know.
#[derive(Clone, Debug)]
pub struct DiscoveryOptions {
    pub me: PeerId,
    /// The node's name, used in the mDNS instance name.
    pub name: String,
    pub role: Role,
    /// Whether to run mDNS at all (false: no mDNS socket; the watcher still runs).
    pub mdns: bool,
    /// Fingerprint of the network key, advertised and compared with peers' adverts.
    pub network_fingerprint: String,
    pub filter: IfFilter,
}

/// Discovery failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error("mDNS: {0}; set `[discovery] mdns = false` to run without it")]
    Mdns(String),
}

/// Most peers of other networks reported (each once).
const MAX_REPORTED: usize = 1024;

/// A peer found by mDNS: of another network, reported once; else dialled at its addresses on
/// this host's subnets (an advert with none is not dialled).
async fn on_found(
    net: &NetClient,
    mut found: Found,
    subnets: &[Subnet],
    reported: &mut std::collections::HashSet<PeerId>,
) {
    if found.other_network {
        if reported.len() < MAX_REPORTED && reported.insert(found.peer) {
            net.note_rejected(found.peer, found.addrs).await;
        }
        return;
    }
    let dropped = keep_on_subnets(&mut found.addrs, subnets);
    if found.addrs.is_empty() {
        debug!(peer = %found.peer, dropped, "mDNS: not dialling a node whose advertised addresses are all off this host's subnets");
        return;
    }
    let addrs: Vec<String> = found.addrs.iter().map(|a| a.to_string()).collect();
    info!(peer = %found.peer, role = found.advert.role.as_str(), addrs = %addrs.join(","), dropped, "mDNS: found a dmc node");
    net.add_known_peer(found.peer, found.addrs).await;
}

/// Starts discovery: the mDNS daemon now (so its errors show at start), then a task that
/// registers once the swarm's listen port is known, dials what it finds, and on interface
/// changes tells the network to redial (closing possibly dead connections) and announces
/// again. Ends when `shutdown` turns true or the network stops.
pub fn spawn_discovery(
    opts: DiscoveryOptions,
    net: NetClient,
    mut shutdown: tokio_watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, DiscoveryError> {
    let ours = Advert::ours(opts.me, opts.role, opts.network_fingerprint.clone());
    let mut mdns = if opts.mdns {
        Some(mdns::Mdns::start(ours, &opts.name, opts.filter.clone())?)
    } else {
        None
    };
    let filter = opts.filter;
    Ok(tokio::spawn(async move {
        // Peers of other networks already reported (mDNS resolves them again and again).
        let mut reported = std::collections::HashSet::new();
        let mut last = watch::snapshot(&filter);
        let mut subnets = host_subnets(&filter);
        if let Some(m) = &mut mdns {
            let listen = net.listen_addrs().await;
            if let Err(e) = m.register(&listen) {
                warn!("{e}");
            }
        }
        let mut tick = tokio::time::interval(WATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let events = mdns.as_ref().map(|m| m.events());
            let next_event = async {
                match &events {
                    Some(rx) => rx.recv_async().await.ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = next_event => match (ev, &mdns) {
                    (Some(ev), Some(m)) => {
                        if let Some(found) = m.found(ev) {
                            on_found(&net, found, &subnets, &mut reported).await;
                        }
                    }
                    // The browse channel was replaced or the daemon stopped: wait for a tick.
                    _ => tokio::time::sleep(WATCH_INTERVAL).await,
                },
                _ = tick.tick() => {
                    let now = watch::snapshot(&filter);
                    let change = watch::diff(&last, &now);
                    last = now;
                    if change.any() {
                        subnets = host_subnets(&filter);
                        info!(gained = change.gained, lost = change.lost, "network interfaces changed: redialling peers");
                        net.network_changed(true).await;
                        if let Some(m) = &mut mdns {
                            if let Err(e) = m.refresh() {
                                warn!("{e}");
                            }
                        }
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
        if let Some(m) = mdns {
            m.stop();
        }
    }))
}
