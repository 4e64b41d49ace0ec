//! The interface watcher: polls the host's interfaces and tells when links or addresses
//! changed, so the node announces again and redials at once instead of waiting for timers.

use std::net::IpAddr;

/// Which interfaces discovery uses: `[discovery] interfaces` and `loopback`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IfFilter {
    /// Interface names; empty means every one (but loopback and point-to-point).
    pub names: Vec<String>,
    /// Also use loopback interfaces.
    pub loopback: bool,
}

impl IfFilter {
    /// Whether an interface address is used.
    pub fn allows(&self, name: &str, ip: IpAddr, p2p: bool) -> bool {
        if ip.is_loopback() && !self.loopback {
            return false;
        }
        if self.names.is_empty() {
            !p2p
        } else {
            self.names.iter().any(|n| n == name)
        }
    }
}

/// One interface address and whether its link is up.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct IfState {
    pub name: String,
    pub ip: IpAddr,
    pub up: bool,
}

/// The host's interface addresses that `filter` allows, sorted.
pub fn snapshot(filter: &IfFilter) -> Vec<IfState> {
    let mut v: Vec<IfState> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| filter.allows(&i.name, i.ip(), i.is_p2p()))
        .map(|i| IfState {
            up: i.is_oper_up(),
            ip: i.ip(),
            name: i.name,
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What changed between two snapshots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// A link came up or an address appeared.
    pub gained: bool,
    /// A link went down or an address went away.
    pub lost: bool,
}

impl Change {
    pub fn any(self) -> bool {
        self.gained || self.lost
    }
}

/// Compares two snapshots (each sorted or not).
pub fn diff(old: &[IfState], new: &[IfState]) -> Change {
    let up = |list: &[IfState], s: &IfState| {
        list.iter()
            .any(|o| o.name == s.name && o.ip == s.ip && o.up)
    };
    Change {
        gained: new.iter().filter(|s| s.up).any(|s| !up(old, s)),
        lost: old.iter().filter(|s| s.up).any(|s| !up(new, s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, ip: &str, up: bool) -> IfState {
        IfState {
            name: name.into(),
            ip: ip.parse().unwrap(),
            up,
        }
    }

    #[test]
    fn link_down_up_and_addresses() {
        let a = vec![st("eth0", "10.99.0.1", true)];
        let down = vec![st("eth0", "10.99.0.1", false)];
        assert_eq!(diff(&a, &a), Change::default());
        assert_eq!(
            diff(&a, &down),
            Change {
                gained: false,
                lost: true
            }
        );
        assert_eq!(
            diff(&down, &a),
            Change {
                gained: true,
                lost: false
            }
        );
        let moved = vec![st("eth0", "10.99.0.7", true)];
        assert_eq!(
            diff(&a, &moved),
            Change {
                gained: true,
                lost: true
            }
        );
        assert_eq!(
            diff(&[], &a),
            Change {
                gained: true,
                lost: false
            }
        );
        assert_eq!(
            diff(&a, &[]),
            Change {
                gained: false,
                lost: true
            }
        );
        // A down interface appearing or vanishing changes nothing usable.
        assert!(!diff(&a, &[a[0].clone(), st("eth1", "10.0.0.1", false)]).any());
    }

    #[test]
    fn filter_names_loopback_p2p() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let ip: IpAddr = "10.99.0.1".parse().unwrap();
        let all = IfFilter::default();
        assert!(all.allows("eth0", ip, false));
        assert!(!all.allows("lo", lo, false));
        assert!(!all.allows("tun0", ip, true));
        let named = IfFilter {
            names: vec!["eth0".into()],
            loopback: false,
        };
        assert!(named.allows("eth0", ip, false));
        assert!(!named.allows("wlan0", ip, false));
        let with_lo = IfFilter {
            names: vec![],
            loopback: true,
        };
        assert!(with_lo.allows("lo", lo, false));
    }

    #[test]
    fn snapshot_is_sorted_and_filtered() {
        let s = snapshot(&IfFilter::default());
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        assert!(s.iter().all(|i| !i.ip.is_loopback()));
    }
}
