//! A rogue peer for the security stories: a real libp2p node speaking dmc's wire protocol,
//! holding the lab's network key (a member gone bad) or a key of its own, that makes whatever
//! records and requests a test tells it to: forged, out of turn, oversized, hostile names.
//! It answers the requests a node sends it: pushes are kept, syncs get nothing, and files it
//! was told to serve are served.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use dmc_node::net::{spawn_net, Access, NetClient, NetEvent};
use dmc_node::network_key::{self, NetworkKey};
use dmc_node::transfer::hash::hash_file;
use dmc_node::transfer::serve::{manifest_page, read_chunk, ServedFile};
use dmc_protocol::wire::{ErrorCode, FileRole, Request, Response};
use dmc_protocol::{Epoch, FileInfo, ItemId, NodeId, Record, RecordBody, Signature, Signer};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};

type Served = Arc<Mutex<HashMap<(ItemId, Epoch), Arc<ServedFile>>>>;

/// The rogue peer; its tokio runtime lives as long as it does.
pub struct Rogue {
    rt: tokio::runtime::Runtime,
    net: NetClient,
    signer: Signer,
    seq: u64,
    /// Records nodes pushed to it.
    received: Arc<Mutex<Vec<Record>>>,
    served: Served,
}

impl Rogue {
    /// Starts a rogue on 127.0.0.1 holding the network key in `key_file` (a lab's, see
    /// `Lab::network_key`), or a key of its own when `None`.
    pub fn start(key_file: Option<&Path>) -> Result<Rogue> {
        let key = match key_file {
            Some(f) => {
                let dir = f.parent().context("key file has no folder")?;
                network_key::load(dir)?.context("no network key there")?
            }
            None => NetworkKey::generate()?,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let keypair = Keypair::generate_ed25519();
        let signer = Signer::new(keypair.clone());
        let listen: Multiaddr = "/ip4/127.0.0.1/tcp/0".parse()?;
        let access = Access {
            prologue: key.noise_prologue(),
            allowed_peers: None,
        };
        let (net, events) = {
            let _guard = rt.enter();
            spawn_net(keypair, vec![listen], vec![], access)?
        };
        let received = Arc::new(Mutex::new(Vec::new()));
        let served: Served = Arc::default();
        rt.spawn(answer(events, received.clone(), served.clone()));
        Ok(Rogue {
            rt,
            net,
            signer,
            seq: 0,
            received,
            served,
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.signer.node_id().clone()
    }

    /// Dials a node's address (`Node::addr`); returns its peer id.
    pub fn dial(&self, addr: &str) -> Result<PeerId> {
        let addr: Multiaddr = addr.parse()?;
        let net = self.net.clone();
        self.rt
            .block_on(
                async move { tokio::time::timeout(Duration::from_secs(10), net.dial(addr)).await },
            )
            .map_err(|_| anyhow!("dial timed out"))?
            .map_err(|e| anyhow!("{e}"))
    }

    /// Sends one request and waits for the answer.
    pub fn request(&self, peer: PeerId, request: Request) -> Result<Response> {
        let net = self.net.clone();
        self.rt
            .block_on(async move {
                tokio::time::timeout(Duration::from_secs(20), net.request(peer, request)).await
            })
            .map_err(|_| anyhow!("request timed out"))?
            .map_err(|e| anyhow!("{e}"))
    }

    /// A record of its own, properly signed, with its next sequence number.
    pub fn make(&mut self, body: RecordBody) -> Record {
        self.seq += 1;
        let mut r = Record {
            author: self.node_id(),
            seq: self.seq,
            created_at: now_ms(),
            body,
            sig: Signature::default(),
        };
        self.signer.sign(&mut r);
        r
    }

    /// A record in `author`'s name, signed with the rogue's own key: a forgery.
    pub fn forge(&self, author: &str, seq: u64, body: RecordBody) -> Record {
        let mut r = Record {
            author: NodeId::new(author),
            seq,
            created_at: now_ms(),
            body,
            sig: Signature::default(),
        };
        self.signer.sign(&mut r);
        r
    }

    /// A valid offer of its own for the file at `path` (hashed now), to convert with
    /// `profile`: what an outsider that holds the key could hand a member to relay.
    pub fn offer(&mut self, path: &Path, profile: &str) -> Result<Record> {
        let hashed = hash_file(path, dmc_protocol::record::CHUNK_SIZE, |_| {})?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "clip".into());
        // Unique enough for a test: the time and the next sequence number.
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&now_ms().to_le_bytes());
        nonce[8..].copy_from_slice(&(self.seq + 1).to_le_bytes());
        Ok(self.make(RecordBody::Offer(dmc_protocol::Offer {
            item_id: ItemId::for_origin(&self.node_id(), &nonce),
            nonce,
            file: hashed.file_info(name),
            media_type: dmc_protocol::MediaType::Video,
            profile: profile.into(),
            duration_ms: None,
            priority: 0,
            sha512_follows: false,
            part_of: None,
        })))
    }

    /// Records nodes have pushed to the rogue so far.
    pub fn received(&self) -> Vec<Record> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Serves `path` as its result for `item_id` at `epoch`, announced under `file_name`;
    /// returns the file's description for a `Converted` record.
    pub fn serve_result(
        &self,
        item_id: ItemId,
        epoch: Epoch,
        path: &Path,
        file_name: &str,
    ) -> Result<FileInfo> {
        let hashed = hash_file(path, dmc_protocol::record::CHUNK_SIZE, |_| {})?;
        let info = hashed.file_info(file_name);
        let served = Arc::new(ServedFile::from_hashed(PathBuf::from(path), &hashed));
        self.served
            .lock()
            .map_err(|_| anyhow!("poisoned"))?
            .insert((item_id, epoch), served);
        Ok(info)
    }

    /// Polls until a pushed record satisfies `f`.
    pub fn wait_for_record<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Record) -> Option<T>,
    ) -> Result<T> {
        crate::node::wait_until(what, timeout, || self.received().iter().find_map(&mut f))
    }
}

/// Answers what nodes ask the rogue.
async fn answer(
    mut events: tokio::sync::mpsc::Receiver<NetEvent>,
    received: Arc<Mutex<Vec<Record>>>,
    served: Served,
) {
    while let Some(ev) = events.recv().await {
        let NetEvent::Inbound {
            request, responder, ..
        } = ev
        else {
            continue;
        };
        let response = match request {
            Request::Push { records } => {
                if let Ok(mut r) = received.lock() {
                    r.extend(records);
                }
                Response::Ack
            }
            Request::SyncDigest { .. } => Response::InSync,
            Request::Sync { .. } => Response::Records {
                records: Vec::new(),
                more: false,
                complete: Vec::new(),
            },
            Request::Manifest {
                item_id,
                role: FileRole::Result,
                epoch,
                first,
                count,
            } => match find(&served, item_id, epoch) {
                Some(f) => manifest_page(&f, first, count),
                None => not_found(),
            },
            Request::Chunk {
                item_id,
                role: FileRole::Result,
                epoch,
                index,
            } => match find(&served, item_id, epoch) {
                Some(f) => read_chunk(&f, index),
                None => not_found(),
            },
            _ => not_found(),
        };
        responder.respond(response);
    }
}

fn find(served: &Served, item_id: ItemId, epoch: Epoch) -> Option<Arc<ServedFile>> {
    served.lock().ok()?.get(&(item_id, epoch)).cloned()
}

fn not_found() -> Response {
    Response::Error {
        code: ErrorCode::NotFound,
        message: "no such file".into(),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The item id in `dmc offer --json` output or a status JSON.
pub fn item_id(s: &str) -> Result<ItemId> {
    match ItemId::parse(s) {
        Some(id) => Ok(id),
        None => bail!("`{s}` is not an item id"),
    }
}
