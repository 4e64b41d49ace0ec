//! The swarm's network behaviour: request-response with the wire codec, plus ping, whose failure
//! closes the connection (liveness comes from the connection, not from mDNS).

use std::time::Duration;

use libp2p::swarm::NetworkBehaviour;
use libp2p::{ping, request_response};

use super::codec::PROTOCOL;
use super::guard::GuardCodec;

/// Tunables of the swarm; defaults suit a LAN.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Whole-exchange timeout of one request (a chunk may wait behind others).
    pub request_timeout: Duration,
    /// Inbound plus outbound request streams per connection.
    pub max_concurrent_streams: usize,
    /// How long a connection without streams is kept (connections persist between syncs).
    pub idle_timeout: Duration,
    /// Capacity of the event channel to the core.
    pub event_capacity: usize,
    /// Capacity of the command channel from handles.
    pub command_capacity: usize,
    /// How often each connection is pinged.
    pub ping_interval: Duration,
    /// A ping unanswered this long closes the connection (the peer is gone or its link is).
    pub ping_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            request_timeout: Duration::from_secs(60),
            max_concurrent_streams: 128,
            idle_timeout: Duration::from_secs(3600),
            event_capacity: 256,
            command_capacity: 256,
            ping_interval: Duration::from_secs(5),
            ping_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub(crate) rr: request_response::Behaviour<GuardCodec>,
    pub(crate) ping: ping::Behaviour,
}

impl Behaviour {
    pub(crate) fn new(cfg: &NetConfig) -> Self {
        let rr_cfg = request_response::Config::default()
            .with_request_timeout(cfg.request_timeout)
            .with_max_concurrent_streams(cfg.max_concurrent_streams);
        Behaviour {
            rr: request_response::Behaviour::with_codec(
                GuardCodec,
                [(PROTOCOL, request_response::ProtocolSupport::Full)],
                rr_cfg,
            ),
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(cfg.ping_interval)
                    .with_timeout(cfg.ping_timeout),
            ),
        }
    }
}
