//! Rate limit for refusals: a peer that keeps dialling with another key (or while not allowed)
//! is logged and reported to the core at most once per [`REFUSAL_REPORT_EVERY`], by its id
//! when known, else by its IP address (an inbound connection's port is ephemeral).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::time::Instant;

/// At most one log line and one report per refused peer (or address) in this time.
pub(crate) const REFUSAL_REPORT_EVERY: Duration = Duration::from_secs(60);
/// Most peers and addresses whose last report is remembered; when full, those reported
/// longer ago than [`REFUSAL_REPORT_EVERY`] are forgotten, then the oldest.
pub(crate) const MAX_REFUSALS_TRACKED: usize = 256;

/// Who was refused, as far as known.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Refused {
    Peer(PeerId),
    Ip(IpAddr),
    Addr(Multiaddr),
    Unknown,
}

impl Refused {
    /// By id when known, else by the address's IP, else by the whole address.
    pub(crate) fn of(peer: Option<PeerId>, addr: Option<&Multiaddr>) -> Refused {
        match (peer, addr) {
            (Some(p), _) => Refused::Peer(p),
            (None, Some(a)) => ip_of(a).map_or_else(|| Refused::Addr(a.clone()), Refused::Ip),
            (None, None) => Refused::Unknown,
        }
    }
}

/// The IP address of `/ip4/…` or `/ip6/…`, if it starts so.
pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    }
}

/// `addr` cut to its IP address (`/ip4/192.168.1.9`): what is listed for a peer that dialled
/// in, whose port is ephemeral and whose id is not known before the handshake.
pub(crate) fn host_only(addr: &Multiaddr) -> Multiaddr {
    match ip_of(addr) {
        Some(ip) => Multiaddr::empty().with(ip.into()),
        None => addr.clone(),
    }
}

/// When each refused peer or address was last reported.
#[derive(Default)]
pub(crate) struct RefusalLog {
    last: HashMap<Refused, Instant>,
}

impl RefusalLog {
    /// Whether a refusal of `who` is to be logged and reported now (and if so, notes it).
    pub(crate) fn due(&mut self, who: Refused, now: Instant) -> bool {
        if let Some(at) = self.last.get(&who) {
            if now.duration_since(*at) < REFUSAL_REPORT_EVERY {
                return false;
            }
        } else if self.last.len() >= MAX_REFUSALS_TRACKED {
            self.last
                .retain(|_, at| now.duration_since(*at) < REFUSAL_REPORT_EVERY);
            if self.last.len() >= MAX_REFUSALS_TRACKED {
                let oldest = self.last.iter().min_by_key(|(_, at)| **at);
                if let Some(k) = oldest.map(|(k, _)| k.clone()) {
                    self.last.remove(&k);
                }
            }
        }
        self.last.insert(who, now);
        true
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_report_per_minute_per_address_whatever_the_port() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        let a = |p: u16| Refused::of(None, Some(&addr(&format!("/ip4/10.0.0.9/tcp/{p}"))));
        assert!(log.due(a(40000), t0));
        assert!(!log.due(a(40001), t0 + Duration::from_secs(30)));
        assert!(log.due(Refused::of(None, Some(&addr("/ip4/10.0.0.8/tcp/1"))), t0));
        assert!(log.due(a(40002), t0 + REFUSAL_REPORT_EVERY));
        let p = PeerId::random();
        assert!(log.due(Refused::of(Some(p), None), t0));
        assert!(!log.due(Refused::of(Some(p), Some(&addr("/ip4/10.0.0.9/tcp/1"))), t0));
    }

    #[test]
    fn the_log_is_bounded() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        for i in 0..(MAX_REFUSALS_TRACKED as u32 * 4) {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            assert!(log.due(Refused::Ip(ip.into()), t0 + Duration::from_millis(i.into())));
            assert!(log.len() <= MAX_REFUSALS_TRACKED);
        }
    }

    #[test]
    fn host_only_drops_the_port() {
        assert_eq!(
            host_only(&addr("/ip4/127.0.0.1/tcp/53882")).to_string(),
            "/ip4/127.0.0.1"
        );
        assert_eq!(host_only(&addr("/ip6/::1/tcp/1")).to_string(), "/ip6/::1");
    }
}
