//! What the swarm reports to the core: peers connecting and leaving (their addresses are
//! remembered), peers refused, listen addresses, and peers' requests: sync, pushed records,
//! and the manifests and chunks of files this node may serve them.

use std::sync::Arc;

use dmc_protocol::engine::Event;
use dmc_protocol::wire::{AuthorRange, ErrorCode, FileRole, Request, Response, Summary};
use dmc_protocol::{Epoch, ItemId, NodeId};
use libp2p::{Multiaddr, PeerId};
use tracing::{info, warn};

use super::msg::Internal;
use super::now_ms;
use super::peers::{merge_addr, note_rejected, without_p2p, RejectedPeer};
use super::task::Core;
use crate::net::{NetEvent, Responder};
use crate::transfer::serve::ServedFile;

impl Core {
    pub(super) async fn net_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Connected { peer, addr, dialed } => {
                self.on_connected(peer, addr, dialed).await
            }
            NetEvent::Disconnected { peer } => self.on_disconnected(peer).await,
            NetEvent::Rejected { peer, addr, reason } => note_rejected(
                &mut self.peer_book.rejected,
                RejectedPeer {
                    node_id: peer.map(|p| NodeId::new(p.to_base58())),
                    addr: addr.as_ref().map(without_p2p),
                    reason: reason.as_str(),
                    at: now_ms(),
                },
            ),
            NetEvent::NewListenAddr(addr) => {
                info!(%addr, "listening");
                if !self.peer_book.listen_addrs.contains(&addr) {
                    self.peer_book.listen_addrs.push(addr);
                }
            }
            NetEvent::Inbound {
                peer,
                request,
                responder,
            } => self.on_request(peer, request, responder).await,
        }
    }

    async fn on_connected(&mut self, peer: PeerId, addr: Multiaddr, dialed: bool) {
        let id = NodeId::new(peer.to_base58());
        info!(peer = %id, %addr, "peer connected");
        self.peer_book
            .conn_addrs
            .insert(id.clone(), without_p2p(&addr));
        let now = now_ms();
        let entry = self.peer_book.addrs.entry(id.clone()).or_default();
        // Only dialable addresses are kept: an inbound connection's is the remote's
        // ephemeral port.
        if dialed {
            merge_addr(&mut entry.0, without_p2p(&addr));
        }
        entry.1 = now;
        let addrs = entry.0.clone();
        if let Err(e) = self.store.put_peer(id.clone(), addrs, now).await {
            warn!("cannot remember peer: {e}");
        }
        self.feed(Event::PeerConnected(id)).await;
    }

    async fn on_disconnected(&mut self, peer: PeerId) {
        let id = NodeId::new(peer.to_base58());
        info!(peer = %id, "peer disconnected");
        self.peer_book.conn_addrs.remove(&id);
        let now = now_ms();
        if let Some(entry) = self.peer_book.addrs.get_mut(&id) {
            entry.1 = now;
            let addrs = entry.0.clone();
            let _ = self.store.put_peer(id.clone(), addrs, now).await;
        }
        self.feed(Event::PeerDisconnected(id)).await;
    }

    /// Answers a peer's `Sync` from the database (ended items' records are not in memory),
    /// with the engine's horizons; if the store fails, `Unavailable` (the peer asks again at
    /// its next anti-entropy round).
    async fn answer_sync(&self, summary: Summary, range: &AuthorRange) -> Response {
        let horizons = self.engine.sync_horizons(range, &summary);
        match self.store.sync_page(horizons, summary).await {
            Ok(answer) => answer,
            Err(e) => {
                warn!("cannot page records from the database for a peer's sync: {e}");
                Response::Error {
                    code: ErrorCode::Unavailable,
                    message: "cannot read records now; ask again later".into(),
                }
            }
        }
    }

    /// Answers a peer's request; files are read off the core task.
    async fn on_request(&mut self, peer: PeerId, request: Request, responder: Responder) {
        let from = NodeId::new(peer.to_base58());
        match request {
            Request::Sync { summary, from, to } => {
                let range = AuthorRange { from, to };
                responder.respond(self.answer_sync(summary, &range).await);
            }
            Request::SyncDigest { digest } => {
                responder.respond(self.engine.answer_digest(&digest));
            }
            Request::Ended { items } => {
                responder.respond(self.engine.answer_ended(&items));
            }
            Request::Push { records } => {
                responder.respond(Response::Ack);
                let records = self.peer_book.authors.admit(&from, records, now_ms());
                self.feed(Event::Records {
                    from,
                    records,
                    sync_more: None,
                    complete: vec![],
                })
                .await;
            }
            Request::Progress { report } => {
                responder.respond(Response::Ack);
                self.feed(Event::Report { from, report }).await;
            }
            Request::Manifest {
                item_id,
                role,
                epoch,
                first,
                count,
            } => match self.authorize(&from, item_id, role, epoch) {
                Ok(file) => {
                    tokio::task::spawn_blocking(move || {
                        responder
                            .respond(crate::transfer::serve::manifest_page(&file, first, count))
                    });
                }
                Err(resp) => responder.respond(resp),
            },
            Request::Chunk {
                item_id,
                role,
                epoch,
                index,
            } => match self.authorize(&from, item_id, role, epoch) {
                Ok(file) => self.serve_chunk(file, item_id, role, index, responder),
                Err(resp) => responder.respond(resp),
            },
        }
    }

    /// Sends chunk `index` of `file`; a source that changed since it was offered is reported
    /// to the core, which fails its item. A result that is gone or changed since it was made
    /// is answered `gone`: the origin records it as lost and has the item converted again.
    fn serve_chunk(
        &self,
        file: Arc<ServedFile>,
        item_id: ItemId,
        role: FileRole,
        index: u64,
        responder: Responder,
    ) {
        let internal = self.internal.clone();
        tokio::task::spawn_blocking(move || {
            let resp = crate::transfer::serve::read_chunk(&file, index);
            let resp = match (role, resp) {
                (
                    FileRole::Result,
                    Response::Error {
                        code: ErrorCode::SourceChanged,
                        message,
                    },
                ) => result_gone(item_id, message),
                (_, resp) => resp,
            };
            if let (
                FileRole::Source,
                Response::Error {
                    code: ErrorCode::SourceChanged,
                    message,
                },
            ) = (role, &resp)
            {
                let _ = internal.blocking_send(Internal::SourceChanged {
                    item_id,
                    error: message.clone(),
                });
            }
            responder.respond(resp)
        });
    }

    /// Finds the file a peer asks for, if it may have it.
    fn authorize(
        &self,
        peer: &NodeId,
        item_id: ItemId,
        role: FileRole,
        epoch: Epoch,
    ) -> Result<Arc<ServedFile>, Response> {
        let source = role == FileRole::Source;
        if !self.engine.may_fetch(peer, &item_id, source, epoch) {
            return Err(Response::Error {
                code: ErrorCode::Forbidden,
                message: format!("item {item_id}: this file is not yours to fetch"),
            });
        }
        let key = (item_id, role, if source { 0 } else { epoch });
        match self.files.get(&key) {
            Some(file) => Ok(file.clone()),
            // Our records say we hold this result (`may_fetch`), but we know of no file.
            None if !source => Err(result_gone(item_id, "no record of the file".into())),
            None => Err(Response::Error {
                code: ErrorCode::NotFound,
                message: format!("item {item_id}: no such file here"),
            }),
        }
    }
}

/// The answer for a result this converter made and no longer has (`why`).
fn result_gone(item_id: ItemId, why: String) -> Response {
    Response::Error {
        code: ErrorCode::Gone,
        message: format!("item {item_id}: the result is gone from this converter ({why})"),
    }
}
