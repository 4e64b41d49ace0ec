//! Which advertised addresses are dialled: only those on the subnets of this host's own
//! interfaces (the ones discovery uses). An mDNS advert is anyone's word; without this, a
//! device on the LAN could make every node dial any address on the internet, or elsewhere.
//! Static peers (`[discovery] peers`) are the operator's word and are not filtered.

use std::net::IpAddr;

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

use super::watch::IfFilter;

/// One interface's network: its address and netmask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub ip: IpAddr,
    pub netmask: IpAddr,
}

impl Subnet {
    /// Whether `ip` is on this network (same family, same bits under the mask).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.ip, self.netmask, ip) {
            (IpAddr::V4(a), IpAddr::V4(m), IpAddr::V4(b)) => {
                let m = u32::from(m);
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(m), IpAddr::V6(b)) => {
                let m = u128::from(m);
                u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }
}

/// The subnets of the host's interfaces that `filter` allows.
pub fn host_subnets(filter: &IfFilter) -> Vec<Subnet> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| filter.allows(&i.name, i.ip(), i.is_p2p()))
        .map(|i| match i.addr {
            if_addrs::IfAddr::V4(a) => Subnet {
                ip: a.ip.into(),
                netmask: a.netmask.into(),
            },
            if_addrs::IfAddr::V6(a) => Subnet {
                ip: a.ip.into(),
                netmask: a.netmask.into(),
            },
        })
        .collect()
}

/// Keeps the addresses whose IP is on one of `subnets`; returns how many were dropped.
pub fn keep_on_subnets(addrs: &mut Vec<Multiaddr>, subnets: &[Subnet]) -> usize {
    let before = addrs.len();
    addrs.retain(|a| ip_of(a).is_some_and(|ip| subnets.iter().any(|s| s.contains(ip))));
    before - addrs.len()
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(ip: &str, mask: &str) -> Subnet {
        Subnet {
            ip: ip.parse().unwrap(),
            netmask: mask.parse().unwrap(),
        }
    }

    #[test]
    fn only_addresses_on_our_subnets_are_kept() {
        let ours = [
            net("192.168.1.20", "255.255.255.0"),
            net("2001:db8:1::20", "ffff:ffff:ffff:ffff::"),
        ];
        let mut addrs: Vec<Multiaddr> = [
            "/ip4/192.168.1.7/tcp/4747",
            "/ip4/192.168.2.7/tcp/4747",
            "/ip4/8.8.8.8/tcp/4747",
            "/ip4/127.0.0.1/tcp/4747",
            "/ip6/2001:db8:1::9/tcp/4747",
            "/ip6/2001:db8:2::9/tcp/4747",
            "/dns4/example.com/tcp/4747",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(keep_on_subnets(&mut addrs, &ours), 5);
        let kept: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(
            kept,
            vec!["/ip4/192.168.1.7/tcp/4747", "/ip6/2001:db8:1::9/tcp/4747"]
        );
    }

    #[test]
    fn no_interfaces_no_addresses() {
        let mut addrs: Vec<Multiaddr> = vec!["/ip4/10.0.0.2/tcp/1".parse().unwrap()];
        assert_eq!(keep_on_subnets(&mut addrs, &[]), 1);
        assert!(addrs.is_empty());
    }

    #[test]
    fn the_host_has_its_loopback_subnet_when_asked() {
        let filter = IfFilter {
            names: Vec::new(),
            loopback: true,
        };
        let subnets = host_subnets(&filter);
        assert!(
            subnets
                .iter()
                .any(|s| s.contains("127.0.0.1".parse().unwrap())),
            "{subnets:?}"
        );
    }
}
