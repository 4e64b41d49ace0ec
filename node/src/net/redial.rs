//! The peers the swarm keeps dialling while they are not connected, with capped exponential
//! backoff: static peers (`[discovery] peers`, listed by address) and known peers (seen
//! before or found by mDNS, by id). Both are a [`Redial`]; [`Redials`] holds them all.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::time::Instant;

use super::behaviour::Behaviour;
use super::{BACKOFF_MAX, BACKOFF_MIN, KNOWN_ADDRS_MAX};

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
        }
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
    fn established(&mut self, connection: ConnectionId) {
        if self.dialing == Some(connection) {
            self.dialing = None;
        }
        self.backoff = BACKOFF_MIN;
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

    fn known_entry(&mut self, peer: PeerId, now: Instant) -> &mut Redial {
        self.known
            .entry(peer)
            .or_insert_with(|| Redial::new(Source::Known, Some(peer), Vec::new(), now))
    }

    /// Remembers dialable addresses of `peer`.
    pub(super) fn add_known(&mut self, peer: PeerId, addrs: Vec<Multiaddr>, now: Instant) {
        let known = self.known_entry(peer, now);
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
        for r in self.all_mut() {
            if !r.due(now) || r.peer.is_some_and(|p| connected(&p)) {
                continue;
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
        let known = self.known_entry(peer, now);
        known.established(connection);
        if dialed {
            known.merge(addr.clone());
        }
        for s in self
            .statics
            .iter_mut()
            .filter(|s| s.dialing == Some(connection))
        {
            s.peer = Some(peer);
            s.established(connection);
        }
    }

    /// The last connection to `peer` closed: redial it after its backoff.
    pub(super) fn disconnected(&mut self, peer: PeerId, now: Instant) {
        for r in self.all_mut().filter(|r| r.peer == Some(peer)) {
            r.next_attempt = now + r.backoff;
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
