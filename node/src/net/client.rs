//! The cloneable handle to the swarm task, and the one-shot responder for inbound requests.

use dmc_protocol::wire::{Request, Response};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use super::NetError;

/// Requests to the swarm task.
pub(crate) enum Command {
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    Respond {
        channel: ResponseChannel<Response>,
        response: Response,
    },
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, NetError>>,
    },
    AddAddress {
        peer: PeerId,
        addr: Multiaddr,
    },
    AddKnown {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        /// Stored from an earlier run (it connected then), not just advertised.
        connected_before: bool,
    },
    NetworkChanged {
        close: bool,
    },
    ListenAddrs {
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    Connected {
        reply: oneshot::Sender<Vec<(PeerId, Vec<Multiaddr>)>>,
    },
    /// Discovery saw a peer of another network: report it like a refused connection.
    NoteRejected {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
}

/// A cloneable handle to the swarm task. The task stops when every handle is dropped.
#[derive(Clone, Debug)]
pub struct NetClient {
    tx: mpsc::Sender<Command>,
    local_peer_id: PeerId,
}

impl NetClient {
    pub(crate) fn new(tx: mpsc::Sender<Command>, local_peer_id: PeerId) -> Self {
        NetClient { tx, local_peer_id }
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    async fn send(&self, cmd: Command) -> Result<(), NetError> {
        self.tx.send(cmd).await.map_err(|_| NetError::Stopped)
    }

    /// Sends `request` to `peer` (dialling it at a known address if needed) and waits for the
    /// answer or a failure (timeout, closed connection, unreachable peer).
    pub async fn request(&self, peer: PeerId, request: Request) -> Result<Response, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Request {
            peer,
            request,
            reply,
        })
        .await?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Reports a peer that discovery found advertising another network (it is not dialled).
    pub async fn note_rejected(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let _ = self.send(Command::NoteRejected { peer, addrs }).await;
    }

    /// Dials `addr` and waits until the connection is up; returns the peer's id.
    pub async fn dial(&self, addr: Multiaddr) -> Result<PeerId, NetError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Dial { addr, reply }).await?;
        rx.await.map_err(|_| NetError::Stopped)?
    }

    /// Remembers an address of `peer`, used when a request needs a new connection.
    pub async fn add_address(&self, peer: PeerId, addr: Multiaddr) {
        let _ = self.send(Command::AddAddress { peer, addr }).await;
    }

    /// Remembers dialable addresses of `peer` and keeps dialling it while it is not
    /// connected, with capped backoff (at once if due).
    /// `peer` was advertised (mDNS): forgotten sooner if it never connects.
    pub async fn add_known_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let _ = self
            .send(Command::AddKnown {
                peer,
                addrs,
                connected_before: false,
            })
            .await;
    }

    /// Like [`NetClient::add_known_peer`], for a peer that connected in an earlier run (from
    /// the database): kept as long as one that connected in this run.
    pub async fn add_stored_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let _ = self
            .send(Command::AddKnown {
                peer,
                addrs,
                connected_before: true,
            })
            .await;
    }

    /// The host's network changed: redial every known and static peer now. With `close`
    /// (a link went down or an address went away), existing connections are closed first,
    /// as they may be dead but still open.
    pub async fn network_changed(&self, close: bool) {
        let _ = self.send(Command::NetworkChanged { close }).await;
    }

    /// The addresses the swarm actually listens on (port 0 resolved). Waits until every
    /// listener has reported at least one address (or failed). Empty once the task stopped.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (reply, rx) = oneshot::channel();
        if self.send(Command::ListenAddrs { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Connected peers with the remote address of each of their connections.
    pub async fn connected(&self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let (reply, rx) = oneshot::channel();
        if self.send(Command::Connected { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// Answers one inbound request. Dropping it without answering makes the peer's request fail.
pub struct Responder {
    channel: ResponseChannel<Response>,
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responder")
    }
}

impl Responder {
    pub(crate) fn new(channel: ResponseChannel<Response>, tx: mpsc::Sender<Command>) -> Self {
        Responder { channel, tx }
    }

    /// Sends the answer through the swarm task. Does not block: callable from async code and
    /// from blocking threads of the runtime alike. If the node is shutting down the answer is
    /// dropped (the peer sees its request fail and retries later).
    pub fn respond(self, response: Response) {
        let cmd = Command::Respond {
            channel: self.channel,
            response,
        };
        match self.tx.try_send(cmd) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                // The swarm task always drains its commands, so this wait is short.
                let tx = self.tx;
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(async move {
                            let _ = tx.send(cmd).await;
                        });
                    }
                    Err(_) => {
                        let _ = tx.blocking_send(cmd);
                    }
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!("network task stopped; response dropped");
            }
        }
    }
}
