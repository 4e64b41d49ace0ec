//! The mDNS check, passive: which interfaces mDNS would use (`[discovery] interfaces`,
//! `loopback`), whether each is up and multicast-capable, read from the interface flags in
//! /sys/class/net. No mDNS query is sent.

use std::net::IpAddr;
use std::path::Path;

use super::Check;
use crate::config::DiscoveryConfig;
use crate::discovery::watch::IfFilter;

const IFF_UP: u32 = 0x1;
const IFF_POINTOPOINT: u32 = 0x10;
const IFF_MULTICAST: u32 = 0x1000;
/// Most interfaces looked at.
const MAX_INTERFACES: usize = 1024;
/// Where Linux lists interfaces.
const SYS_NET: &str = "/sys/class/net";

/// The fix when multicast does not get through.
const STATIC_PEERS: &str = "Wi-Fi access points, guest networks and VPNs often block \
    multicast: list the other nodes in [discovery] peers (e.g. \"/ip4/192.168.1.20/tcp/4747\"); \
    `dmc info` on each prints its addresses";

/// One interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfInfo {
    pub name: String,
    pub addrs: Vec<IpAddr>,
    /// `IFF_*` flags (administrative: `IFF_UP`, `IFF_MULTICAST`, …); `None` when unreadable.
    pub flags: Option<u32>,
    /// Whether the link is operational (`operstate` up, or unknown as for loopback).
    pub link: bool,
    /// A Wi-Fi interface.
    pub wireless: bool,
}

impl IfInfo {
    fn flag(&self, f: u32) -> bool {
        self.flags.is_some_and(|v| v & f != 0)
    }
}

/// Reads a `0x…` flags file.
fn read_flags(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join("flags")).ok()?;
    u32::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// Whether `operstate` says the link works (`unknown`: drivers that do not report it).
fn read_link(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("operstate"))
        .map(|s| matches!(s.trim(), "up" | "unknown"))
        .unwrap_or(true)
}

/// The host's interfaces, their addresses and flags, sorted by name.
pub fn read_interfaces() -> Vec<IfInfo> {
    let mut out: Vec<IfInfo> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(SYS_NET) {
        for e in entries.flatten().take(MAX_INTERFACES) {
            let name = e.file_name().to_string_lossy().into_owned();
            let dir = e.path();
            out.push(IfInfo {
                flags: read_flags(&dir),
                link: read_link(&dir),
                wireless: dir.join("wireless").exists() || dir.join("phy80211").exists(),
                addrs: Vec::new(),
                name,
            });
        }
    }
    for a in if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .take(MAX_INTERFACES)
    {
        match out.iter_mut().find(|i| i.name == a.name) {
            Some(i) => i.addrs.push(a.ip()),
            None => out.push(IfInfo {
                addrs: vec![a.ip()],
                flags: None,
                link: a.is_oper_up(),
                wireless: false,
                name: a.name,
            }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn list(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One interface mDNS would use.
fn interface_check(i: &IfInfo, used: &[IpAddr]) -> Check {
    let name = format!("mdns: {}", i.name);
    let addrs = list(used);
    if i.flags.is_none() {
        return Check::ok(name, format!("{addrs} (flags unreadable; assumed usable)"));
    }
    if !i.flag(IFF_UP) || !i.link {
        return Check::warn(
            name,
            format!("{addrs}: the interface is down (no link)"),
            format!(
                "connect it (cable, Wi-Fi), or if it is not the LAN, name the LAN interfaces \
                 in [discovery] interfaces; `ip link show {}` shows its state",
                i.name
            ),
        );
    }
    if !i.flag(IFF_MULTICAST) {
        return Check::warn(
            name,
            format!("{addrs}: up, but without multicast: mDNS cannot find peers over it"),
            STATIC_PEERS,
        );
    }
    if i.wireless {
        return Check::ok(
            name,
            format!(
                "{addrs}: up, multicast; Wi-Fi: if peers are not found, the access point may \
                 drop multicast ({STATIC_PEERS})"
            ),
        );
    }
    Check::ok(name, format!("{addrs}: up, multicast"))
}

/// The mDNS checks for the `[discovery]` settings and the host's interfaces `ifaces`.
pub fn checks(d: &DiscoveryConfig, ifaces: &[IfInfo]) -> Vec<Check> {
    if !d.mdns {
        return vec![if d.peers.is_empty() {
            Check::warn(
                "mdns",
                "mDNS is off in the config ([discovery] mdns = false) and [discovery] peers is \
                 empty: this node finds only peers it reached before or that dial it",
                "list the other nodes in [discovery] peers, or set [discovery] mdns = true",
            )
        } else {
            Check::ok(
                "mdns",
                format!(
                    "mDNS is off in the config ([discovery] mdns = false); {} static peer(s) \
                     in [discovery] peers",
                    d.peers.len()
                ),
            )
        }];
    }
    let filter = IfFilter {
        names: d.interfaces.clone(),
        loopback: d.loopback,
    };
    let mut out = Vec::new();
    for wanted in &d.interfaces {
        match ifaces.iter().find(|i| &i.name == wanted) {
            None => out.push(Check::warn(
                format!("mdns: {wanted}"),
                format!("[discovery] interfaces names {wanted}, which this machine does not have"),
                "correct [discovery] interfaces; `ip -br link` lists the interfaces",
            )),
            Some(i) if i.addrs.is_empty() => out.push(Check::warn(
                format!("mdns: {wanted}"),
                format!("{wanted} has no IP address: mDNS cannot use it"),
                format!("connect it or configure an address (`ip addr show {wanted}`)"),
            )),
            Some(_) => {}
        }
    }
    for i in ifaces {
        let p2p = i.flag(IFF_POINTOPOINT);
        let used: Vec<IpAddr> = i
            .addrs
            .iter()
            .copied()
            .filter(|ip| filter.allows(&i.name, *ip, p2p))
            .collect();
        if !used.is_empty() {
            out.push(interface_check(i, &used));
        }
    }
    if !out.iter().any(|c| c.status == super::Status::Ok) {
        out.push(Check::warn(
            "mdns",
            "mDNS has no usable interface: it will find no peer",
            format!(
                "connect this machine to the LAN, or check [discovery] interfaces; {STATIC_PEERS}"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn discovery(toml: &str) -> DiscoveryConfig {
        let dir = tempfile::tempdir().expect("tempdir");
        crate::config::Config::from_toml(dir.path(), toml, None)
            .expect("config")
            .discovery
    }

    /// Bit of `iface` flags standing for the link (operstate), not a kernel flag.
    const LINK: u32 = 1 << 31;

    fn iface(name: &str, ip: &str, flags: u32, wireless: bool) -> IfInfo {
        IfInfo {
            name: name.into(),
            addrs: vec![ip.parse().expect("ip")],
            flags: Some(flags & !LINK),
            link: flags & LINK != 0,
            wireless,
        }
    }

    const UP_MC: u32 = IFF_UP | LINK | IFF_MULTICAST;

    #[test]
    fn off_in_the_config_says_so() {
        let c = checks(&discovery("[discovery]\nmdns = false\n"), &[]);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status, Status::Warn, "{c:?}");
        assert!(
            c[0].detail.starts_with("mDNS is off in the config"),
            "{c:?}"
        );
        let c = checks(
            &discovery("[discovery]\nmdns = false\npeers = [\"/ip4/10.0.0.2/tcp/4747\"]\n"),
            &[],
        );
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
        assert!(c[0].detail.contains("1 static peer"), "{c:?}");
    }

    #[test]
    fn interfaces_are_judged_by_their_flags() {
        let ifaces = [
            iface("eth0", "10.0.0.5", UP_MC, false),
            iface("eth1", "10.1.0.5", IFF_MULTICAST, false),
            iface("lo", "127.0.0.1", IFF_UP | LINK | 0x8, false),
            iface("tun0", "10.8.0.2", IFF_UP | LINK | IFF_POINTOPOINT, false),
            iface("wg0", "10.9.0.2", IFF_UP | LINK, false),
            iface("wlan0", "192.168.1.7", UP_MC, true),
        ];
        let c = checks(&discovery(""), &ifaces);
        let names: Vec<&str> = c.iter().map(|c| c.check.as_str()).collect();
        // Loopback and point-to-point interfaces are left out, as mDNS leaves them out.
        assert_eq!(
            names,
            vec!["mdns: eth0", "mdns: eth1", "mdns: wg0", "mdns: wlan0"]
        );
        assert_eq!(c[0].status, Status::Ok);
        assert_eq!(c[1].status, Status::Warn);
        assert!(c[1].detail.contains("down"), "{c:?}");
        assert_eq!(c[2].status, Status::Warn);
        assert!(c[2].detail.contains("without multicast"), "{c:?}");
        assert!(c[2]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("[discovery] peers")));
        assert_eq!(c[3].status, Status::Ok);
        assert!(c[3].detail.contains("Wi-Fi"), "{c:?}");
    }

    #[test]
    fn named_interfaces_missing_or_unusable() {
        let ifaces = [
            iface("eth0", "10.0.0.5", UP_MC, false),
            iface("wg0", "10.9.0.2", IFF_UP | LINK, false),
        ];
        let c = checks(
            &discovery("[discovery]\ninterfaces = [\"wg0\", \"eth9\"]\n"),
            &ifaces,
        );
        let names: Vec<&str> = c.iter().map(|c| c.check.as_str()).collect();
        assert_eq!(names, vec!["mdns: eth9", "mdns: wg0", "mdns"]);
        assert!(c[0].detail.contains("does not have"), "{c:?}");
        assert_eq!(c[2].status, Status::Warn);
        assert!(c[2].detail.contains("no usable interface"), "{c:?}");
    }

    #[test]
    fn reads_the_real_loopback_flags() {
        let ifaces = read_interfaces();
        let lo = ifaces.iter().find(|i| i.name == "lo").expect("lo");
        assert!(lo.flag(IFF_UP), "{lo:?}");
        assert!(lo.addrs.iter().any(IpAddr::is_loopback), "{lo:?}");
        let c = checks(
            &discovery("[discovery]\ninterfaces = [\"lo\"]\nloopback = true\n"),
            &ifaces,
        );
        assert_eq!(c[0].check, "mdns: lo", "{c:?}");
        let expected = if lo.flag(IFF_MULTICAST) {
            Status::Ok
        } else {
            Status::Warn
        };
        assert_eq!(c[0].status, expected, "{c:?}");
    }
}
