//! Telling why a connection was refused: a peer holding another network key (its Noise
//! handshake fails to authenticate on the dialler's side and is abandoned on the listener's),
//! or a peer outside `allowed_peers`.

use std::error::Error;

/// Why a peer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// It holds another network key (or none).
    DifferentNetwork,
    /// It holds the key but is not in `[network] allowed_peers`.
    NotAllowed,
    /// It sent an invalid request (over a limit, malformed) and is kept out for a while.
    Misbehaved,
}

impl RejectReason {
    /// What `dmc peers` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::DifferentNetwork => "rejected: different network",
            RejectReason::NotAllowed => "rejected: not in allowed_peers",
            RejectReason::Misbehaved => "rejected: sent invalid requests",
        }
    }

    /// The next step, for the log.
    pub fn hint(self) -> &'static str {
        match self {
            RejectReason::DifferentNetwork => {
                "it holds another network key; if it should join, run `dmc network show` on a \
                 machine of this network and `dmc network join CODE` on it"
            }
            RejectReason::NotAllowed => {
                "it holds the network key but is not in [network] allowed_peers; add its node \
                 id there to let it in"
            }
            RejectReason::Misbehaved => {
                "it sent a request over a limit or malformed (a broken or hostile node, or \
                 another dmc version); it is kept out for a minute"
            }
        }
    }
}

/// Whether a failed connection's error is a Noise handshake that did not authenticate: what a
/// peer with another network key (another prologue) produces on the dialling side.
pub fn is_key_mismatch(err: &(dyn Error + 'static)) -> bool {
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    // Errors from the transport upgrade nest; their text is the dependable part.
    let mut depth = 0;
    while let Some(e) = cur {
        let dbg = format!("{e:?}");
        if dbg.contains("Decrypt") || dbg.contains("AuthenticationFailed") {
            return true;
        }
        depth += 1;
        if depth > 16 {
            break;
        }
        cur = e.source();
    }
    false
}

/// Whether an inbound connection failed because the dialler gave up during the Noise
/// handshake (the connection closed inside the security upgrade): what a peer with another
/// network key does on our side, since it is the dialler that finds the mismatch. The peer's
/// id is not known then.
pub fn is_abandoned_handshake(err: &(dyn Error + 'static)) -> bool {
    // The upgrade's error types are generic and boxed; their text is the dependable part.
    // `Apply(Io(..))`: the security protocol was agreed on, then its I/O ended.
    let dbg = format!("{err:?}");
    dbg.contains("Apply(Io(")
        && ["UnexpectedEof", "ConnectionReset", "BrokenPipe"]
            .iter()
            .any(|k| dbg.contains(k))
}
