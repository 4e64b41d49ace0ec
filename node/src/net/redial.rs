//! The peers the swarm keeps dialling while they are not connected, with capped exponential
//! backoff: static peers (`[discovery] peers`, listed by address) and known peers (seen
//! before or found by mDNS, by id). Both are a [`Redial`]; [`Redials`] holds them all.
//!
//! Known peers come from anyone's mDNS advert, so they are bounded: at most
//! [`MAX_KNOWN_PEERS`] (the one never connected and seen longest ago goes first), forgotten
//! when neither seen nor connected for a while ([`NEVER_CONNECTED_EXPIRY`],
//! [`KNOWN_EXPIRY`]), and at most [`MAX_KNOWN_DIALS`] of them dialled at once.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::time::Instant;

use super::behaviour::Behaviour;
use super::{BACKOFF_MAX, BACKOFF_MIN, KNOWN_ADDRS_MAX};

/// Most known peers remembered.
pub const MAX_KNOWN_PEERS: usize = 256;
/// A known peer never connected is forgotten when not advertised for this long.
pub const NEVER_CONNECTED_EXPIRY: Duration = Duration::from_secs(10 * 60);
/// A known peer that connected once is forgotten when neither connected nor advertised for
/// this long (it is still in the database, and redialled from there at the next start).
pub const KNOWN_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// Most dials to known peers in flight at once (static peers are not counted).
pub const MAX_KNOWN_DIALS: usize = 16;

/// Where a peer to redial came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `[discovery] peers`: one address, the peer's id learnt on the first connection. A
    /// failed dial is worth a warning: the operator listed it.
    Static,
    /// Seen before or advertised: by id, with its recent addresses.
    Known,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Static => "static",
            Source::Known => "known",
        })
    }
}

/// One peer to keep dialling.
struct Redial {
    source: Source,
    /// `None` for a static peer never connected yet.
    peer: Option<PeerId>,
    /// Addresses to dial, most recent last.
    addrs: Vec<Multiaddr>,
    /// The dial in flight.
    dialing: Option<ConnectionId>,
    backoff: Duration,
    next_attempt: Instant,
    /// Last advertised, added, or connected (or disconnected).
    seen: Instant,
    /// Connected now.
    connected: bool,
    /// Connected at least once since it became known.
    ever_connected: bool,
}

impl Redial {
    fn new(source: Source, peer: Option<PeerId>, addrs: Vec<Multiaddr>, now: Instant) -> Self {
        Redial {
            source,
            peer,
            addrs,
            dialing: None,
            backoff: BACKOFF_MIN,
            next_attempt: now,
            seen: now,
            connected: false,
            ever_connected: false,
        }
    }

    /// Whether a known peer is to be forgotten at `now`.
    fn expired(&self, now: Instant) -> bool {
        let limit = if self.ever_connected {
            KNOWN_EXPIRY
        } else {
            NEVER_CONNECTED_EXPIRY
        };
        !self.connected && self.dialing.is_none() && now.duration_since(self.seen) >= limit
    }

    /// Adds `addr` (most recent last), keeping at most [`KNOWN_ADDRS_MAX`].
    fn merge(&mut self, addr: Multiaddr) {
        self.addrs.retain(|a| a != &addr);
        self.addrs.push(addr);
        if self.addrs.len() > KNOWN_ADDRS_MAX {
            self.addrs.remove(0);
        }
    }

    /// Whether a dial is due now (not counting whether the peer is connected).
    fn due(&self, now: Instant) -> bool {
        self.dialing.is_none() && self.next_attempt <= now && !self.addrs.is_empty()
    }

    /// By id when known (not while connected), else by address.
    fn dial_opts(&self) -> DialOpts {
        match self.peer {
            Some(p) => DialOpts::peer_id(p)
                .addresses(self.addrs.clone())
                .condition(PeerCondition::Disconnected)
                .build(),
            None => DialOpts::unknown_peer_id()
                .address(self.addrs[0].clone())
                .build(),
        }
    }

    /// The one failure path: the next attempt after the backoff, which doubles up to
    /// [`BACKOFF_MAX`].
    fn failed(&mut self, now: Instant) {
        self.dialing = None;
        self.next_attempt = now + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Connected through `connection`: a dial of ours, or any connection of the peer.
    fn established(&mut self, connection: ConnectionId, now: Instant) {
        if self.dialing == Some(connection) {
            self.dialing = None;
        }
        self.backoff = BACKOFF_MIN;
        self.connected = true;
        self.ever_connected = true;
        self.seen = now;
    }

    /// Dial again now, from the shortest backoff.
    fn reset(&mut self, now: Instant) {
        self.dialing = None;
        self.backoff = BACKOFF_MIN;
        self.next_attempt = now;
    }

    /// For logs: the address of a static peer, the id of a known one.
    fn target(&self) -> String {
        match (self.source, self.peer) {
            (Source::Known, Some(p)) => p.to_string(),
            _ => self
                .addrs
                .first()
                .map(|a| a.to_string())
                .unwrap_or_default(),
        }
    }
}

/// Every peer to redial.
pub(super) struct Redials {
    statics: Vec<Redial>,
    known: HashMap<PeerId, Redial>,
}

impl Redials {
    pub(super) fn new(static_peers: Vec<Multiaddr>, now: Instant) -> Self {
        Redials {
            statics: static_peers
                .into_iter()
                .map(|addr| Redial::new(Source::Static, None, vec![addr], now))
                .collect(),
            known: HashMap::new(),
        }
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut Redial> {
        self.statics.iter_mut().chain(self.known.values_mut())
    }

    /// `peer`'s entry, made if there is room (see [`Redials::make_room`]).
    fn known_entry(&mut self, peer: PeerId, now: Instant) -> Option<&mut Redial> {
        if !self.known.contains_key(&peer) && !self.make_room() {
            tracing::debug!(%peer, "not remembering a known peer: {MAX_KNOWN_PEERS} already, all connected or being dialled");
            return None;
        }
        Some(
            self.known
                .entry(peer)
                .or_insert_with(|| Redial::new(Source::Known, Some(peer), Vec::new(), now)),
        )
    }

    /// Frees a place when [`MAX_KNOWN_PEERS`] are known: forgets one not connected and not
    /// being dialled, never-connected ones first, then the one seen longest ago. Whether
    /// there is room.
    fn make_room(&mut self) -> bool {
        if self.known.len() < MAX_KNOWN_PEERS {
            return true;
        }
        let victim = self
            .known
            .iter()
            .filter(|(_, r)| !r.connected && r.dialing.is_none())
            .min_by_key(|(_, r)| (r.ever_connected, r.seen))
            .map(|(p, _)| *p);
        match victim {
            Some(p) => {
                tracing::debug!(peer = %p, "forgetting a known peer to make room");
                self.known.remove(&p);
                true
            }
            None => false,
        }
    }

    /// Forgets known peers neither seen nor connected for a while.
    fn expire(&mut self, now: Instant) {
        self.known.retain(|p, r| {
            let keep = !r.expired(now);
            if !keep {
                tracing::debug!(peer = %p, "forgetting a known peer not seen for a while");
            }
            keep
        });
    }

    /// Remembers dialable addresses of `peer` (advertised, or stored: `connected_before`):
    /// it is seen now.
    pub(super) fn add_known(
        &mut self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        connected_before: bool,
        now: Instant,
    ) {
        let Some(known) = self.known_entry(peer, now) else {
            return;
        };
        known.seen = now;
        known.ever_connected |= connected_before;
        for addr in addrs {
            known.merge(addr);
        }
    }

    /// Dials every peer that is due and not `connected`: static peers first, then known
    /// peers (all their addresses at once).
    pub(super) fn dial_due(
        &mut self,
        swarm: &mut Swarm<Behaviour>,
        connected: impl Fn(&PeerId) -> bool,
    ) {
        let now = Instant::now();
        self.expire(now);
        let mut known_dials = self.known.values().filter(|r| r.dialing.is_some()).count();
        for r in self.all_mut() {
            if !r.due(now) || r.peer.is_some_and(|p| connected(&p)) {
                continue;
            }
            if r.source == Source::Known {
                if known_dials >= MAX_KNOWN_DIALS {
                    continue;
                }
                known_dials += 1;
            }
            let opts = r.dial_opts();
            let id = opts.connection_id();
            match swarm.dial(opts) {
                Ok(()) => {
                    tracing::debug!(target = %r.target(), "dialling {} peer", r.source);
                    r.dialing = Some(id);
                }
                Err(DialError::DialPeerConditionFalse(_)) => {}
                Err(e) => {
                    if r.source == Source::Static {
                        tracing::warn!(target = %r.target(), "cannot dial static peer: {e}");
                    } else {
                        tracing::debug!(target = %r.target(), "cannot dial known peer: {e}");
                    }
                    r.failed(now);
                }
            }
        }
    }

    /// The dial `connection` failed: the peers it was for wait out their backoff.
    pub(super) fn dial_failed(&mut self, connection: ConnectionId, error: &DialError) {
        let now = Instant::now();
        for r in self.all_mut().filter(|r| r.dialing == Some(connection)) {
            tracing::debug!(target = %r.target(), "{} peer unreachable: {error}", r.source);
            r.failed(now);
        }
    }

    /// `peer` connected through `connection` at `addr` (dialled by us: `dialed`): it becomes
    /// a known peer (with `addr` if dialable), and a static peer dialled through it learns
    /// its id.
    pub(super) fn established(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        addr: &Multiaddr,
        dialed: bool,
        now: Instant,
    ) {
        if let Some(known) = self.known_entry(peer, now) {
            known.established(connection, now);
            if dialed {
                known.merge(addr.clone());
            }
        }
        for s in self
            .statics
            .iter_mut()
            .filter(|s| s.dialing == Some(connection))
        {
            s.peer = Some(peer);
            s.established(connection, now);
        }
    }

    /// The last connection to `peer` closed: redial it after its backoff.
    pub(super) fn disconnected(&mut self, peer: PeerId, now: Instant) {
        for r in self.all_mut().filter(|r| r.peer == Some(peer)) {
            r.next_attempt = now + r.backoff;
            r.connected = false;
            r.seen = now;
        }
    }

    /// The network changed: forget dials in flight and redial everyone now.
    pub(super) fn reset_all(&mut self, now: Instant) {
        for r in self.all_mut() {
            r.reset(now);
        }
    }

    /// Who the dial `connection` was for, as far as known: a static peer's address, a known
    /// peer's id.
    pub(super) fn dialling(&self, connection: ConnectionId) -> (Option<Multiaddr>, Option<PeerId>) {
        let addr = self
            .statics
            .iter()
            .find(|s| s.dialing == Some(connection))
            .and_then(|s| s.addrs.first().cloned());
        let peer = self
            .known
            .iter()
            .find(|(_, k)| k.dialing == Some(connection))
            .map(|(p, _)| *p);
        (addr, peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: usize) -> Vec<Multiaddr> {
        vec![format!("/ip4/10.0.{}.{}/tcp/4747", i / 256, i % 256)
            .parse()
            .unwrap()]
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn known_peers_are_capped_oldest_never_connected_first() {
        let t0 = Instant::now();
        let mut r = Redials::new(vec![], t0);
        // The first peer connected once, then left: it outlives newer never-connected ones.
        let friend = PeerId::random();
        r.add_known(friend, addr(0), false, t0);
        r.established(
            friend,
            ConnectionId::new_unchecked(1),
            &addr(0)[0],
            true,
            t0,
        );
        r.disconnected(friend, t0);
        let online = PeerId::random();
        r.add_known(online, addr(1), false, t0);
        r.established(
            online,
            ConnectionId::new_unchecked(2),
            &addr(1)[0],
            true,
            t0,
        );
        let mut flood = Vec::new();
        for i in 0..1000 {
            let p = PeerId::random();
            r.add_known(
                p,
                addr(i + 2),
                false,
                t0 + Duration::from_millis(i as u64 + 1),
            );
            flood.push(p);
            assert!(r.known.len() <= MAX_KNOWN_PEERS);
        }
        assert_eq!(r.known.len(), MAX_KNOWN_PEERS);
        assert!(r.known.contains_key(&friend));
        assert!(r.known.contains_key(&online));
        // The newest adverts are kept, the oldest went first.
        assert!(r.known.contains_key(flood.last().unwrap()));
        assert!(!r.known.contains_key(&flood[0]));
        // Seen again: it is the newest now and survives the next evictions.
        let again = flood[flood.len() - MAX_KNOWN_PEERS + 2];
        r.add_known(again, addr(5), false, t0 + secs(10));
        for i in 0..(MAX_KNOWN_PEERS - 3) {
            r.add_known(PeerId::random(), addr(i), false, t0 + secs(11));
        }
        assert!(r.known.contains_key(&again));
    }

    #[test]
    fn known_peers_expire_when_neither_seen_nor_connected() {
        let t0 = Instant::now();
        let mut r = Redials::new(vec!["/ip4/10.0.0.1/tcp/1".parse().unwrap()], t0);
        let stranger = PeerId::random();
        r.add_known(stranger, addr(1), false, t0);
        let friend = PeerId::random();
        r.add_known(friend, addr(2), false, t0);
        r.established(
            friend,
            ConnectionId::new_unchecked(1),
            &addr(2)[0],
            true,
            t0,
        );
        let online = PeerId::random();
        r.add_known(online, addr(3), false, t0);
        r.established(
            online,
            ConnectionId::new_unchecked(2),
            &addr(3)[0],
            true,
            t0,
        );
        r.disconnected(friend, t0 + secs(60));

        r.expire(t0 + NEVER_CONNECTED_EXPIRY - secs(1));
        assert_eq!(r.known.len(), 3);
        r.expire(t0 + NEVER_CONNECTED_EXPIRY);
        assert!(!r.known.contains_key(&stranger));
        assert!(r.known.contains_key(&friend));
        r.expire(t0 + secs(60) + KNOWN_EXPIRY);
        assert!(!r.known.contains_key(&friend));
        // Connected peers and static peers never expire.
        r.expire(t0 + KNOWN_EXPIRY * 10);
        assert!(r.known.contains_key(&online));
        assert_eq!(r.statics.len(), 1);
    }

    #[test]
    fn a_stranger_advertised_again_does_not_expire() {
        let t0 = Instant::now();
        let mut r = Redials::new(vec![], t0);
        let p = PeerId::random();
        r.add_known(p, addr(1), false, t0);
        r.add_known(p, addr(1), false, t0 + NEVER_CONNECTED_EXPIRY - secs(1));
        r.expire(t0 + NEVER_CONNECTED_EXPIRY + secs(1));
        assert!(r.known.contains_key(&p));
    }

    #[test]
    fn a_stored_peer_is_kept_like_one_that_connected() {
        let t0 = Instant::now();
        let mut r = Redials::new(vec![], t0);
        let stored = PeerId::random();
        r.add_known(stored, addr(1), true, t0);
        r.expire(t0 + NEVER_CONNECTED_EXPIRY * 2);
        assert!(r.known.contains_key(&stored));
        r.expire(t0 + KNOWN_EXPIRY);
        assert!(!r.known.contains_key(&stored));
    }
}
