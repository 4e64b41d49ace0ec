//! The task that owns the swarm: runs commands from [`NetClient`](super::NetClient)s, turns
//! swarm events into [`NetEvent`]s, redials static and known peers with capped exponential
//! backoff, and closes connections that fail their pings or that a newer one replaced.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use dmc_protocol::wire::Response;
use futures::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::core::ConnectedPoint;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, DialError, ListenError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::admission::{Admission, MISBEHAVIOUR_BAN};
use super::behaviour::{Behaviour, BehaviourEvent};
use super::client::{Command, Responder};
use super::guard::Inbound;
use super::redial::Redials;
use super::refusals::{host_only, RefusalLog, Refused};
use super::reject::{is_abandoned_handshake, is_key_mismatch, RejectReason};
use super::{NetError, NetEvent, SUPERSEDE_AFTER};

/// Events held while the core is slow; past this the swarm is not polled (backpressure).
const MAX_PENDING_EVENTS: usize = 1024;

enum Step {
    Swarm(SwarmEvent<BehaviourEvent>),
    Command(Command),
    Tick,
    Nothing,
}

/// One open connection.
struct Conn {
    id: ConnectionId,
    addr: Multiaddr,
    since: Instant,
}

#[derive(Default)]
struct Listener {
    addrs: Vec<Multiaddr>,
    closed: bool,
}

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    /// `[network] allowed_peers` and peers kept out for invalid requests.
    admission: Admission,
    /// When each refused peer was last logged and reported (once a minute at most).
    refusals: RefusalLog,
    commands: mpsc::Receiver<Command>,
    /// Weak, so that the task ends when every client is gone.
    responder_tx: mpsc::WeakSender<Command>,
    events: mpsc::Sender<NetEvent>,
    pending_events: VecDeque<NetEvent>,
    requests: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>>,
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId, NetError>>)>,
    listeners: HashMap<ListenerId, Listener>,
    listen_waiters: Vec<oneshot::Sender<Vec<Multiaddr>>>,
    connections: HashMap<PeerId, Vec<Conn>>,
    /// Static and known peers, redialled while not connected.
    redials: Redials,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Command>,
        responder_tx: mpsc::WeakSender<Command>,
        events: mpsc::Sender<NetEvent>,
        listeners: Vec<ListenerId>,
        static_peers: Vec<Multiaddr>,
        allowed: Option<std::collections::HashSet<PeerId>>,
    ) -> Self {
        let now = Instant::now();
        EventLoop {
            admission: Admission::new(allowed),
            refusals: RefusalLog::default(),
            swarm,
            commands,
            responder_tx,
            events,
            pending_events: VecDeque::new(),
            requests: HashMap::new(),
            dials: HashMap::new(),
            listeners: listeners
                .into_iter()
                .map(|id| (id, Listener::default()))
                .collect(),
            listen_waiters: Vec::new(),
            connections: HashMap::new(),
            redials: Redials::new(static_peers, now),
        }
    }

    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.redial_due();
        loop {
            let backpressure = self.pending_events.len() >= MAX_PENDING_EVENTS;
            let step = tokio::select! {
                event = self.swarm.select_next_some(), if !backpressure => Step::Swarm(event),
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => Step::Command(cmd),
                    None => break,
                },
                permit = self.events.reserve(), if !self.pending_events.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(ev) = self.pending_events.pop_front() {
                            permit.send(ev);
                        }
                        Step::Nothing
                    }
                    Err(_) => {
                        self.pending_events.clear();
                        Step::Nothing
                    }
                },
                _ = tick.tick() => Step::Tick,
            };
            match step {
                Step::Swarm(event) => self.on_swarm_event(event),
                Step::Command(cmd) => self.on_command(cmd),
                Step::Tick => self.redial_due(),
                Step::Nothing => {}
            }
        }
        tracing::debug!("network task stopped: no handle left");
    }

    fn emit(&mut self, ev: NetEvent) {
        if !self.pending_events.is_empty() {
            self.pending_events.push_back(ev);
            return;
        }
        match self.events.try_send(ev) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => self.pending_events.push_back(ev),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_request(&peer, Inbound::Valid(request));
                self.requests.insert(id, reply);
            }
            Command::Respond { channel, response } => {
                if self
                    .swarm
                    .behaviour_mut()
                    .rr
                    .send_response(channel, response)
                    .is_err()
                {
                    tracing::debug!("response not sent: the requester gave up or disconnected");
                }
            }
            Command::Dial { addr, reply } => {
                let opts = DialOpts::unknown_peer_id().address(addr.clone()).build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, (addr, reply));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(NetError::Dial {
                            target: addr.to_string(),
                            why: e.to_string(),
                        }));
                    }
                }
            }
            Command::AddAddress { peer, addr } => self.swarm.add_peer_address(peer, addr),
            Command::AddKnown {
                peer,
                addrs,
                connected_before,
            } => {
                if peer == *self.swarm.local_peer_id() {
                    return;
                }
                self.redials
                    .add_known(peer, addrs, connected_before, Instant::now());
                self.redial_due();
            }
            Command::NetworkChanged { close } => self.network_changed(close),
            Command::NoteRejected { peer, addrs } => self.refused(
                Some(peer),
                addrs.into_iter().next(),
                RejectReason::DifferentNetwork,
                "not connecting to a dmc node found by mDNS",
            ),
            Command::ListenAddrs { reply } => {
                self.listen_waiters.push(reply);
                self.answer_listen_waiters();
            }
            Command::Connected { reply } => {
                let list = self
                    .connections
                    .iter()
                    .map(|(p, conns)| (*p, conns.iter().map(|c| c.addr.clone()).collect()))
                    .collect();
                let _ = reply.send(list);
            }
        }
    }

    fn answer_listen_waiters(&mut self) {
        if self.listen_waiters.is_empty()
            || self
                .listeners
                .values()
                .any(|l| !l.closed && l.addrs.is_empty())
        {
            return;
        }
        let addrs: Vec<Multiaddr> = self
            .listeners
            .values()
            .flat_map(|l| l.addrs.clone())
            .collect();
        for w in self.listen_waiters.drain(..) {
            let _ = w.send(addrs.clone());
        }
    }

    /// Dials the static and known peers that are due and not connected.
    fn redial_due(&mut self) {
        let connections = &self.connections;
        self.redials.dial_due(&mut self.swarm, |p| {
            connections.get(p).is_some_and(|c| !c.is_empty())
        });
    }

    /// Logs a refusal (`what` happened, and the reason's next step) and reports it to the
    /// core, at most once a minute per peer or address.
    fn refused(
        &mut self,
        peer: Option<PeerId>,
        addr: Option<Multiaddr>,
        reason: RejectReason,
        what: &str,
    ) {
        if !self
            .refusals
            .due(Refused::of(peer, addr.as_ref()), Instant::now())
        {
            return;
        }
        let who = match (&peer, &addr) {
            (Some(p), Some(a)) => format!("{p} at {a}"),
            (Some(p), None) => p.to_string(),
            (None, Some(a)) => a.to_string(),
            (None, None) => "an unknown peer".into(),
        };
        tracing::warn!(
            "{what}: {who}: {} (logged once a minute at most)",
            reason.hint()
        );
        self.emit(NetEvent::Rejected { peer, addr, reason });
    }

    /// A peer sent a request over a limit or malformed: it is broken or hostile. It is cut off
    /// and kept out for a while, so it cannot make us decode again and again.
    fn misbehaved(&mut self, peer: PeerId, why: &str) {
        tracing::warn!(%peer, "peer sent an invalid request ({why}); disconnecting it for {}s", MISBEHAVIOUR_BAN.as_secs());
        self.admission.ban(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.emit(NetEvent::Rejected {
            peer: Some(peer),
            addr: None,
            reason: RejectReason::Misbehaved,
        });
    }

    /// The host's interfaces changed: closes connections if asked (they may be dead but
    /// open), forgets dials in flight (they may hang on a gone route) and redials at once.
    fn network_changed(&mut self, close: bool) {
        if close {
            let ids: Vec<ConnectionId> = self
                .connections
                .values()
                .flat_map(|c| c.iter().map(|c| c.id))
                .collect();
            if !ids.is_empty() {
                tracing::info!(
                    connections = ids.len(),
                    "network changed: closing connections that may be dead, redialling"
                );
            }
            for id in ids {
                self.swarm.close_connection(id);
            }
        }
        self.redials.reset_all(Instant::now());
        self.redial_due();
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Rr(ev)) => self.on_rr_event(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ev)) => {
                if let Err(e) = ev.result {
                    // Ping no longer closes connections itself; a dead one would swallow requests.
                    tracing::info!(peer = %ev.peer, "ping failed ({e}): closing the connection");
                    self.swarm.close_connection(ev.connection);
                }
            }
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => self.on_new_listen_addr(listener_id, address),
            SwarmEvent::ExpiredListenAddr {
                listener_id,
                address,
            } => {
                if let Some(l) = self.listeners.get_mut(&listener_id) {
                    l.addrs.retain(|a| a != &address);
                }
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                reason,
                ..
            } => {
                if let Err(e) = reason {
                    tracing::warn!("listener closed: {e}");
                }
                self.listeners.entry(listener_id).or_default().closed = true;
                self.answer_listen_waiters();
            }
            SwarmEvent::ListenerError { error, .. } => tracing::warn!("listener error: {error}"),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => self.on_connection_established(
                peer_id,
                connection_id,
                &endpoint,
                num_established.get() == 1,
            ),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(peer = %peer_id, "connection closed: {cause:?}");
                self.on_connection_closed(peer_id, connection_id, num_established == 0);
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => self.on_dial_error(connection_id, peer_id, &error),
            SwarmEvent::IncomingConnectionError {
                send_back_addr,
                error,
                ..
            } => self.on_incoming_error(send_back_addr, &error),
            _ => {}
        }
    }

    /// An inbound connection failed; reported as a rejection, by the dialler's IP address,
    /// when the peer holds another network key: it gives up the handshake (it is the dialler
    /// that finds the mismatch), or, rarely, fails it here.
    fn on_incoming_error(&mut self, send_back_addr: Multiaddr, error: &ListenError) {
        if is_key_mismatch(error) || is_abandoned_handshake(error) {
            self.refused(
                None,
                Some(host_only(&send_back_addr)),
                RejectReason::DifferentNetwork,
                "refused a connection that gave up the handshake",
            );
        } else {
            tracing::debug!(%send_back_addr, "incoming connection failed: {error}");
        }
    }

    fn on_new_listen_addr(&mut self, listener_id: ListenerId, address: Multiaddr) {
        tracing::info!(%address, "listening");
        self.listeners
            .entry(listener_id)
            .or_default()
            .addrs
            .push(address.clone());
        self.emit(NetEvent::NewListenAddr(address));
        self.answer_listen_waiters();
    }

    /// A connection is up: refused if the peer is kept out; else recorded (closing the
    /// peer's stale ones), the peer becomes known, and the core hears of it when it is the
    /// peer's `first` connection or replaced stale ones.
    fn on_connection_established(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        endpoint: &ConnectedPoint,
        first: bool,
    ) {
        let addr = endpoint.get_remote_address().clone();
        let dialed = endpoint.is_dialer();
        if let Some(reason) = self.admission.refusal(&peer_id) {
            self.swarm.close_connection(connection_id);
            if let Some((_, reply)) = self.dials.remove(&connection_id) {
                let _ = reply.send(Err(NetError::Dial {
                    target: addr.to_string(),
                    why: reason.as_str().into(),
                }));
            }
            self.refused(Some(peer_id), Some(addr), reason, "refused a connection");
            return;
        }
        tracing::debug!(peer = %peer_id, %addr, dialed, "connection established");
        let now = Instant::now();
        let replaced = self.record_connection(peer_id, connection_id, &addr, now);
        self.redials
            .established(peer_id, connection_id, &addr, dialed, now);
        if let Some((_, reply)) = self.dials.remove(&connection_id) {
            let _ = reply.send(Ok(peer_id));
        }
        if replaced {
            // Let the core see a fresh connection (it re-syncs on connect).
            self.emit(NetEvent::Disconnected { peer: peer_id });
        }
        if first || replaced {
            self.emit(NetEvent::Connected {
                peer: peer_id,
                addr,
                dialed,
            });
        }
    }

    /// Records a new connection of `peer` and closes its connections older than
    /// [`SUPERSEDE_AFTER`] (the peer, or we, dialled again: they are stale). Whether the new
    /// one replaced them all.
    fn record_connection(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        addr: &Multiaddr,
        now: Instant,
    ) -> bool {
        let conns = self.connections.entry(peer).or_default();
        let stale: Vec<ConnectionId> = conns
            .iter()
            .filter(|c| now.duration_since(c.since) >= SUPERSEDE_AFTER)
            .map(|c| c.id)
            .collect();
        conns.retain(|c| !stale.contains(&c.id));
        conns.push(Conn {
            id,
            addr: addr.clone(),
            since: now,
        });
        let replaced = !stale.is_empty() && conns.len() == 1;
        for id in stale {
            tracing::info!(%peer, "a new connection replaces an older one: closing the old one");
            self.swarm.close_connection(id);
        }
        replaced
    }

    /// A connection closed; when it was the `last` of the peer, the peer is redialled after
    /// its backoff and the core hears of it.
    fn on_connection_closed(&mut self, peer_id: PeerId, connection_id: ConnectionId, last: bool) {
        if let Some(conns) = self.connections.get_mut(&peer_id) {
            conns.retain(|c| c.id != connection_id);
            if conns.is_empty() {
                self.connections.remove(&peer_id);
            }
        }
        if last {
            self.redials.disconnected(peer_id, Instant::now());
            self.emit(NetEvent::Disconnected { peer: peer_id });
        }
    }

    /// A dial failed: reported as a rejection when the peer holds another network key; the
    /// dial's waiter gets the error and the peer it was for waits out its backoff.
    fn on_dial_error(
        &mut self,
        connection_id: ConnectionId,
        peer_id: Option<PeerId>,
        error: &DialError,
    ) {
        if is_key_mismatch(error) {
            // Who it was: a dial by address, a static peer, or a known peer by id.
            let (static_addr, known_peer) = self.redials.dialling(connection_id);
            let addr = self
                .dials
                .get(&connection_id)
                .map(|(a, _)| a.clone())
                .or(static_addr);
            let peer = peer_id.or(known_peer);
            self.refused(
                peer,
                addr,
                RejectReason::DifferentNetwork,
                "the handshake failed",
            );
        }
        if let Some((addr, reply)) = self.dials.remove(&connection_id) {
            let _ = reply.send(Err(NetError::Dial {
                target: addr.to_string(),
                why: error.to_string(),
            }));
        }
        self.redials.dial_failed(connection_id, error);
    }

    fn on_rr_event(&mut self, ev: request_response::Event<Inbound, Response>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if self.admission.refusal(&peer).is_some() {
                        // Dropping the channel refuses the request.
                        return;
                    }
                    let request = match request {
                        Inbound::Valid(r) => r,
                        Inbound::Invalid(why) => {
                            self.misbehaved(peer, &why);
                            return;
                        }
                    };
                    // Without a live client there is no one to answer; dropping refuses it.
                    if let Some(tx) = self.responder_tx.upgrade() {
                        let responder = Responder::new(channel, tx);
                        self.emit(NetEvent::Inbound {
                            peer,
                            request,
                            responder,
                        });
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.requests.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let err = match error {
                    OutboundFailure::DialFailure => NetError::Dial {
                        target: peer.to_string(),
                        why: "no connection and no working address known".into(),
                    },
                    OutboundFailure::Timeout => NetError::Timeout { peer },
                    OutboundFailure::ConnectionClosed => NetError::ConnectionClosed { peer },
                    OutboundFailure::UnsupportedProtocols => NetError::UnsupportedProtocol { peer },
                    OutboundFailure::Io(e) => NetError::Io {
                        peer,
                        why: e.to_string(),
                    },
                };
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(err));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "inbound request failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }
}
