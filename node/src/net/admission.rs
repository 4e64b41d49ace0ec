//! Who may talk to this node at all, besides holding the network key: only
//! `[network] allowed_peers` when set, and never a peer kept out for a while after it sent an
//! invalid request.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use libp2p::PeerId;
use tokio::time::Instant;

use super::reject::RejectReason;

/// How long a peer that sent an invalid request (over a limit, malformed) is kept out.
pub(super) const MISBEHAVIOUR_BAN: Duration = Duration::from_secs(60);
/// Most peers remembered as banned (oldest bans dropped first).
const MAX_BANNED: usize = 1024;

pub(super) struct Admission {
    /// `[network] allowed_peers`, when set.
    allowed: Option<HashSet<PeerId>>,
    /// Peers that sent invalid requests, kept out until the instant given.
    banned: HashMap<PeerId, Instant>,
}

impl Admission {
    pub(super) fn new(allowed: Option<HashSet<PeerId>>) -> Self {
        Admission {
            allowed,
            banned: HashMap::new(),
        }
    }

    /// Keeps `peer` out for [`MISBEHAVIOUR_BAN`].
    pub(super) fn ban(&mut self, peer: PeerId) {
        self.banned.insert(peer, Instant::now() + MISBEHAVIOUR_BAN);
    }

    /// Why `peer` is not to be talked to, if it is not: kept out for invalid requests, or not
    /// in `allowed_peers`.
    pub(super) fn refusal(&mut self, peer: &PeerId) -> Option<RejectReason> {
        let now = Instant::now();
        if self.banned.len() > MAX_BANNED {
            self.banned.retain(|_, until| *until > now);
        }
        if let Some(until) = self.banned.get(peer) {
            if *until > now {
                return Some(RejectReason::Misbehaved);
            }
            self.banned.remove(peer);
        }
        if self.allowed.as_ref().is_some_and(|a| !a.contains(peer)) {
            return Some(RejectReason::NotAllowed);
        }
        None
    }
}
