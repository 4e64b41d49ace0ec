//! Tests of the swarm task with two real libp2p nodes on 127.0.0.1.

use std::time::Duration;

use dmc_protocol::wire::{Request, Response};
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

use super::*;

fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

/// Waits for the next event matching `pick`, answering inbound pushes with `Ack` meanwhile.
async fn wait_for<T>(
    rx: &mut mpsc::Receiver<NetEvent>,
    mut pick: impl FnMut(&NetEvent) -> Option<T>,
) -> T {
    let fut = async {
        loop {
            let ev = rx.recv().await.expect("event channel open");
            if let Some(t) = pick(&ev) {
                return t;
            }
            if let NetEvent::Inbound { responder, .. } = ev {
                responder.respond(Response::Ack);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("event within a minute")
}

fn connected_to(ev: &NetEvent) -> Option<PeerId> {
    match ev {
        NetEvent::Connected { peer, .. } => Some(*peer),
        _ => None,
    }
}

#[tokio::test]
async fn static_peer_connects_and_requests_are_answered() {
    let (a, mut a_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![loopback()],
        vec![],
        Default::default(),
    )
    .unwrap();
    let a_addrs = a.listen_addrs().await;
    assert_eq!(a_addrs.len(), 1);
    assert!(
        !a_addrs[0].to_string().ends_with("/tcp/0"),
        "port resolved: {}",
        a_addrs[0]
    );

    let (b, mut b_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![loopback()],
        a_addrs.clone(),
        Default::default(),
    )
    .unwrap();
    assert_eq!(wait_for(&mut b_rx, connected_to).await, a.local_peer_id());
    assert_eq!(wait_for(&mut a_rx, connected_to).await, b.local_peer_id());

    let peers = b.connected().await;
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].0, a.local_peer_id());
    assert_eq!(peers[0].1, a_addrs);

    // A answers B's request from its event stream.
    let a_peer = a.local_peer_id();
    let b_peer = b.local_peer_id();
    let server = tokio::spawn(async move {
        loop {
            match a_rx.recv().await {
                Some(NetEvent::Inbound {
                    peer,
                    request: Request::Push { records },
                    responder,
                }) => {
                    assert_eq!(peer, b_peer);
                    assert!(records.is_empty());
                    responder.respond(Response::Records {
                        records: vec![],
                        more: true,
                        complete: vec![],
                    });
                }
                Some(_) => {}
                None => return a_rx,
            }
        }
    });
    let resp = b
        .request(a_peer, Request::Push { records: vec![] })
        .await
        .unwrap();
    assert_eq!(
        resp,
        Response::Records {
            records: vec![],
            more: true,
            complete: vec![]
        }
    );
    // Many requests at once all get their own answers.
    let many = futures::future::join_all(
        (0..40).map(|_| b.request(a_peer, Request::Push { records: vec![] })),
    );
    for r in many.await {
        assert_eq!(
            r.unwrap(),
            Response::Records {
                records: vec![],
                more: true,
                complete: vec![]
            }
        );
    }

    // When A stops, B sees the peer go.
    server.abort();
    drop(a);
    let gone = wait_for(&mut b_rx, |ev| match ev {
        NetEvent::Disconnected { peer } => Some(*peer),
        _ => None,
    })
    .await;
    assert_eq!(gone, a_peer);
    assert!(b.connected().await.is_empty());
    let err = b
        .request(a_peer, Request::Push { records: vec![] })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NetError::Dial { .. } | NetError::ConnectionClosed { .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn dial_returns_the_peer_and_a_dropped_responder_fails_the_request() {
    let (a, mut a_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![loopback()],
        vec![],
        Default::default(),
    )
    .unwrap();
    let (b, _b_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![],
        vec![],
        Default::default(),
    )
    .unwrap();
    let addr = a.listen_addrs().await.remove(0);
    assert_eq!(b.dial(addr).await.unwrap(), a.local_peer_id());

    tokio::spawn(async move {
        while let Some(ev) = a_rx.recv().await {
            drop(ev); // refuses every request by dropping its responder
        }
    });
    let err = b
        .request(a.local_peer_id(), Request::Push { records: vec![] })
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetError::ConnectionClosed { .. } | NetError::Io { .. }),
        "{err}"
    );

    let bad: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
    assert!(matches!(b.dial(bad).await, Err(NetError::Dial { .. })));
}

#[tokio::test]
async fn static_peer_that_starts_late_is_redialled() {
    // Reserve a port, free it, and give it to B as a static peer before A listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
    let (_b, mut b_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![],
        vec![a_addr.clone()],
        Default::default(),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (a, _a_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![a_addr],
        vec![],
        Default::default(),
    )
    .unwrap();
    assert_eq!(wait_for(&mut b_rx, connected_to).await, a.local_peer_id());
}

#[tokio::test]
async fn listening_on_a_bad_address_is_an_error() {
    let addr: Multiaddr = "/ip4/203.0.113.7/tcp/0".parse().unwrap();
    let err = spawn_net(
        Keypair::generate_ed25519(),
        vec![addr],
        vec![],
        Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, NetError::Listen { .. }) || err.to_string().contains("listen"),
        "{err}"
    );
}

fn access(key: u8) -> Access {
    Access {
        prologue: crate::network_key::NetworkKey::from_bytes([key; 32]).noise_prologue(),
        allowed_peers: None,
    }
}

#[tokio::test]
async fn a_peer_with_another_network_key_fails_the_handshake_and_is_reported() {
    let (a, _a_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![loopback()],
        vec![],
        access(1),
    )
    .unwrap();
    let (b, mut b_rx) = spawn_net(Keypair::generate_ed25519(), vec![], vec![], access(2)).unwrap();
    let addr = a.listen_addrs().await.remove(0);
    let err = b.dial(addr).await.unwrap_err();
    eprintln!("dial error: {err}");
    let reason = wait_for(&mut b_rx, |ev| match ev {
        NetEvent::Rejected { reason, .. } => Some(*reason),
        NetEvent::Connected { .. } => panic!("connected across networks"),
        _ => None,
    })
    .await;
    assert_eq!(reason, reject::RejectReason::DifferentNetwork);

    // The same key connects.
    let (c, _c_rx) = spawn_net(Keypair::generate_ed25519(), vec![], vec![], access(1)).unwrap();
    let addr = a.listen_addrs().await.remove(0);
    assert_eq!(c.dial(addr).await.unwrap(), a.local_peer_id());
}

#[tokio::test]
async fn a_second_swarm_on_a_port_in_use_fails_naming_the_port() {
    let (a, _a_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![loopback()],
        vec![],
        Default::default(),
    )
    .unwrap();
    let taken = a.listen_addrs().await.remove(0);
    let err = spawn_net(
        Keypair::generate_ed25519(),
        vec![taken.clone()],
        vec![],
        Default::default(),
    )
    .map(|_| ())
    .unwrap_err();
    let port = taken.to_string().rsplit('/').next().unwrap().to_string();
    assert!(matches!(err, NetError::PortInUse { .. }), "{err}");
    assert!(err.to_string().contains(&port), "{err}");
}

#[tokio::test]
async fn the_listener_reports_a_dialler_with_another_key_by_address_once_a_minute() {
    let (a, mut a_rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![loopback()],
        vec![],
        access(1),
    )
    .unwrap();
    let (b, _b_rx) = spawn_net(Keypair::generate_ed25519(), vec![], vec![], access(2)).unwrap();
    let addr = a.listen_addrs().await.remove(0);
    b.dial(addr.clone()).await.unwrap_err();
    let (peer, at, reason) = wait_for(&mut a_rx, |ev| match ev {
        NetEvent::Rejected { peer, addr, reason } => Some((*peer, addr.clone(), *reason)),
        NetEvent::Connected { .. } => panic!("connected across networks"),
        _ => None,
    })
    .await;
    assert_eq!(reason, reject::RejectReason::DifferentNetwork);
    assert_eq!(peer, None, "the id is unknown before the handshake");
    assert_eq!(at.map(|a| a.to_string()).as_deref(), Some("/ip4/127.0.0.1"));

    // Dialling again and again within the minute: no new report.
    for _ in 0..5 {
        b.dial(addr.clone()).await.unwrap_err();
    }
    let again = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Some(NetEvent::Rejected { .. }) = a_rx.recv().await {
                return;
            }
        }
    })
    .await;
    assert!(again.is_err(), "a second report within the minute");
}
