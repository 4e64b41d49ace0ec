//! The network: a libp2p swarm owned by one task ([`event_loop`]) and reached through a
//! cloneable [`NetClient`]; inbound requests and connection changes arrive as [`NetEvent`]s.

mod admission;
mod behaviour;
pub mod chunk_pool;
mod client;
pub mod codec;
mod event_loop;
mod guard;
mod port;
mod redial;
mod refusals;
pub mod reject;

use std::time::Duration;

use dmc_protocol::wire::{Request, PROTOCOL_NAME};
use libp2p::{identity::Keypair, noise, tcp, yamux, Multiaddr, PeerId, SwarmBuilder};
use tokio::sync::mpsc;

pub use behaviour::NetConfig;
pub use client::{NetClient, Responder};

use behaviour::Behaviour;
use event_loop::EventLoop;

/// What the network tells the core.
#[derive(Debug)]
pub enum NetEvent {
    /// The first connection to `peer` is up (or a new one replaced stale ones: then a
    /// `Disconnected` comes just before). `dialed`: we dialled `addr`, so it can be dialled
    /// again; otherwise `addr` is the remote's ephemeral source port.
    Connected {
        peer: PeerId,
        addr: Multiaddr,
        dialed: bool,
    },
    /// The last connection to `peer` closed.
    Disconnected { peer: PeerId },
    /// A peer asks something; answer through `responder` (dropping it refuses the request).
    Inbound {
        peer: PeerId,
        request: Request,
        responder: Responder,
    },
    /// The swarm listens on a new address.
    NewListenAddr(Multiaddr),
    /// A peer was refused (another network key, or not in `allowed_peers`); nothing was
    /// exchanged with it. `peer` is known when we dialled it by id or it was advertised.
    Rejected {
        peer: Option<PeerId>,
        addr: Option<Multiaddr>,
        reason: reject::RejectReason,
    },
}

/// Network failures; each says what to do next.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetError {
    #[error("the network must be started from within a tokio runtime")]
    NoRuntime,
    #[error("cannot set up the network transport: {0}")]
    Transport(String),
    #[error(
        "cannot listen on {addr}: {why}; check that the address is local and the port is free"
    )]
    Listen { addr: Multiaddr, why: String },
    #[error(
        "cannot listen on {addr}: port {port} is already in use (another dmc node, or another \
         program, listens on it); stop it, or choose another port in `[node] listen`"
    )]
    PortInUse { addr: Multiaddr, port: u16 },
    #[error("cannot reach {target}: {why}; check the address and that the peer is running")]
    Dial { target: String, why: String },
    #[error("request to {peer} timed out; the peer may be busy or gone, it will be retried later")]
    Timeout { peer: PeerId },
    #[error("the connection to {peer} closed before it answered; it will be retried later")]
    ConnectionClosed { peer: PeerId },
    #[error("peer {peer} does not speak {PROTOCOL_NAME}; is it a dmc node of the same version?")]
    UnsupportedProtocol { peer: PeerId },
    #[error("request to {peer} failed: {why}")]
    Io { peer: PeerId, why: String },
    #[error("the network task has stopped (the node is shutting down)")]
    Stopped,
}

/// Starts the swarm with default tunables; see [`spawn_net_with`].
pub fn spawn_net(
    keypair: Keypair,
    listen: Vec<Multiaddr>,
    static_peers: Vec<Multiaddr>,
    access: Access,
) -> Result<(NetClient, mpsc::Receiver<NetEvent>), NetError> {
    spawn_net_with(keypair, listen, static_peers, access, NetConfig::default())
}

/// Who may connect: holders of the network key (its Noise prologue), optionally only the
/// listed peers.
#[derive(Clone, Debug, Default)]
pub struct Access {
    /// The Noise prologue derived from the network key ([`crate::network_key`]).
    pub prologue: Vec<u8>,
    /// When set, only these peers (besides the key check).
    pub allowed_peers: Option<std::collections::HashSet<PeerId>>,
}

/// Starts the swarm task: listens on `listen` (port 0 allowed; [`NetClient::listen_addrs`]
/// gives the bound ports), dials `static_peers` now and again with backoff while they are not
/// connected. Must be called within a tokio runtime.
pub fn spawn_net_with(
    keypair: Keypair,
    listen: Vec<Multiaddr>,
    static_peers: Vec<Multiaddr>,
    access: Access,
    cfg: NetConfig,
) -> Result<(NetClient, mpsc::Receiver<NetEvent>), NetError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| NetError::NoRuntime)?;
    // Before binding anything: libp2p's listeners share ports (SO_REUSEPORT) silently.
    for addr in &listen {
        port::check_free(addr)?;
    }
    let local_peer_id = keypair.public().to_peer_id();
    let behaviour = Behaviour::new(&cfg);
    let idle = cfg.idle_timeout;
    let prologue = access.prologue.clone();
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            move |k: &Keypair| noise::Config::new(k).map(|c| c.with_prologue(prologue)),
            yamux::Config::default,
        )
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    let mut listeners = Vec::new();
    for addr in listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen {
                addr: addr.clone(),
                why: e.to_string(),
            })?;
        listeners.push(id);
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(cfg.command_capacity.max(1));
    let (ev_tx, ev_rx) = mpsc::channel(cfg.event_capacity.max(1));
    let event_loop = EventLoop::new(
        swarm,
        cmd_rx,
        cmd_tx.downgrade(),
        ev_tx,
        listeners,
        static_peers,
        access.allowed_peers,
    );
    runtime.spawn(event_loop.run());
    Ok((NetClient::new(cmd_tx, local_peer_id), ev_rx))
}

/// First delay before redialling a static peer.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest delay between redials of a static peer.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Most addresses remembered per known peer (newest kept).
pub const KNOWN_ADDRS_MAX: usize = 8;
/// A new connection to a peer closes its connections older than this: the peer dialled
/// again because it lost them (link down, restart), so they are dead even if still open.
pub(crate) const SUPERSEDE_AFTER: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests;
