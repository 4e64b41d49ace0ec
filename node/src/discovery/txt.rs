//! The TXT record of a dmc node's mDNS service: encoding, decoding with bounds, and which
//! adverts to dial.

use std::collections::HashMap;
use std::net::IpAddr;

use dmc_protocol::wire::PROTOCOL_NAME;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// Longest TXT value read, in bytes (a peer id is about 52).
pub const MAX_TXT_VALUE: usize = 128;
/// Most addresses taken from one advert.
pub const MAX_ADVERT_ADDRS: usize = 16;

/// Role of a node as advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Converter,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Converter => "converter",
            Role::Client => "client",
        }
    }
}

/// What a node advertises in its TXT record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    /// Its libp2p peer id.
    pub id: String,
    /// Fingerprint of its network key ([`crate::network_key::NetworkKey::fingerprint`]).
    pub net: String,
    /// Its wire protocol version.
    pub ver: String,
    pub role: Role,
}

/// Why an advert is not dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxtError {
    #[error("TXT key `{0}` is missing")]
    Missing(&'static str),
    #[error("TXT key `{0}` is longer than {MAX_TXT_VALUE} bytes")]
    TooLong(&'static str),
    #[error("TXT `role` is `{0}`, not `converter` or `client`")]
    BadRole(String),
    #[error("TXT `id` is not a peer id")]
    BadId,
    #[error("another dmc network (fingerprint {0})")]
    OtherNetwork(String),
    #[error("another protocol version ({0})")]
    OtherVersion(String),
    #[error("our own advert")]
    Ourselves,
}

impl Advert {
    /// This node's advert in the network of fingerprint `net`, with the current protocol
    /// version.
    pub fn ours(me: PeerId, role: Role, net: String) -> Advert {
        Advert {
            id: me.to_base58(),
            net,
            ver: PROTOCOL_NAME.to_string(),
            role,
        }
    }

    /// The TXT properties.
    pub fn encode(&self) -> HashMap<String, String> {
        HashMap::from([
            ("id".to_string(), self.id.clone()),
            ("net".to_string(), self.net.clone()),
            ("ver".to_string(), self.ver.clone()),
            ("role".to_string(), self.role.as_str().to_string()),
        ])
    }

    /// Reads an advert from TXT values looked up by key; unknown keys are ignored.
    pub fn decode<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Advert, TxtError> {
        let field = |key: &'static str| -> Result<String, TxtError> {
            let v = get(key).ok_or(TxtError::Missing(key))?;
            if v.len() > MAX_TXT_VALUE {
                return Err(TxtError::TooLong(key));
            }
            Ok(v.to_string())
        };
        let role = match field("role")?.as_str() {
            "converter" => Role::Converter,
            "client" => Role::Client,
            other => return Err(TxtError::BadRole(other.to_string())),
        };
        Ok(Advert {
            id: field("id")?,
            net: field("net")?,
            ver: field("ver")?,
            role,
        })
    }

    /// Whether `self` (a peer's advert) is one to dial from `ours`: same network and
    /// version, a valid peer id that is not ours.
    pub fn check(&self, ours: &Advert) -> Result<PeerId, TxtError> {
        if self.net != ours.net {
            return Err(TxtError::OtherNetwork(self.net.clone()));
        }
        if self.ver != ours.ver {
            return Err(TxtError::OtherVersion(self.ver.clone()));
        }
        let peer: PeerId = self.id.parse().map_err(|_| TxtError::BadId)?;
        if self.id == ours.id {
            return Err(TxtError::Ourselves);
        }
        Ok(peer)
    }
}

/// TCP multiaddrs for `ips` at `port`, skipping loopback, link-local, unspecified and
/// multicast addresses unless `local` allows loopback and link-local. At most
/// [`MAX_ADVERT_ADDRS`], sorted for stable output.
pub fn dial_addrs(ips: impl IntoIterator<Item = IpAddr>, port: u16, local: bool) -> Vec<Multiaddr> {
    let mut ips: Vec<IpAddr> = ips
        .into_iter()
        .filter(|ip| !ip.is_unspecified() && !ip.is_multicast())
        .filter(|ip| local || !(ip.is_loopback() || is_link_local(ip)))
        .collect();
    ips.sort();
    ips.dedup();
    ips.truncate(MAX_ADVERT_ADDRS);
    ips.into_iter()
        .map(|ip| {
            let base = match ip {
                IpAddr::V4(v4) => Multiaddr::empty().with(Protocol::Ip4(v4)),
                IpAddr::V6(v6) => Multiaddr::empty().with(Protocol::Ip6(v6)),
            };
            base.with(Protocol::Tcp(port))
        })
        .collect()
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprint of network `n`'s key.
    fn net(n: u8) -> String {
        crate::network_key::NetworkKey::from_bytes([n; 32]).fingerprint()
    }

    fn ours() -> Advert {
        Advert::ours(PeerId::random(), Role::Client, net(1))
    }

    fn decode_map(m: &HashMap<String, String>) -> Result<Advert, TxtError> {
        Advert::decode(|k| m.get(k).map(String::as_str))
    }

    #[test]
    fn round_trip_and_accept() {
        let a = Advert::ours(PeerId::random(), Role::Converter, net(1));
        let back = decode_map(&a.encode()).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.check(&ours()).unwrap().to_base58(), a.id);
    }

    #[test]
    fn refuses_ourselves_other_network_other_version_bad_id() {
        let me = ours();
        assert_eq!(me.check(&me), Err(TxtError::Ourselves));
        let mut other = Advert::ours(PeerId::random(), Role::Client, net(1));
        other.net = net(2);
        assert!(matches!(other.check(&me), Err(TxtError::OtherNetwork(_))));
        let mut old = Advert::ours(PeerId::random(), Role::Client, net(1));
        old.ver = "/dmc/req/0".into();
        assert!(matches!(old.check(&me), Err(TxtError::OtherVersion(_))));
        let mut bad = Advert::ours(PeerId::random(), Role::Client, net(1));
        bad.id = "not-a-peer-id".into();
        assert_eq!(bad.check(&me), Err(TxtError::BadId));
    }

    #[test]
    fn decode_validates_fields() {
        let mut m = ours().encode();
        m.remove("net");
        assert_eq!(decode_map(&m), Err(TxtError::Missing("net")));
        let mut m = ours().encode();
        m.insert("role".into(), "boss".into());
        assert_eq!(decode_map(&m), Err(TxtError::BadRole("boss".into())));
        let mut m = ours().encode();
        m.insert("id".into(), "x".repeat(MAX_TXT_VALUE + 1));
        assert_eq!(decode_map(&m), Err(TxtError::TooLong("id")));
        let mut m = ours().encode();
        m.insert("extra".into(), "ignored".into());
        assert!(decode_map(&m).is_ok());
    }

    #[test]
    fn dial_addrs_skip_local_unless_allowed() {
        let ips: Vec<IpAddr> = [
            "10.99.0.2",
            "127.0.0.1",
            "fe80::1",
            "::1",
            "0.0.0.0",
            "2001:db8::2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let got: Vec<String> = dial_addrs(ips.clone(), 4747, false)
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            got,
            vec!["/ip4/10.99.0.2/tcp/4747", "/ip6/2001:db8::2/tcp/4747"]
        );
        assert_eq!(dial_addrs(ips, 4747, true).len(), 5);
        let many = (0..100u8).map(|i| IpAddr::from([10, 0, 0, i]));
        assert_eq!(dial_addrs(many, 1, false).len(), MAX_ADVERT_ADDRS);
    }
}
