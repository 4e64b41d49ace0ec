//! Checking that a listen port is free before the swarm binds it. libp2p's TCP transport sets
//! `SO_REUSEPORT` on every listening socket, so a second node on the same port would bind
//! without a word and the kernel would split incoming connections between the two. A probe
//! socket without `SO_REUSEPORT` cannot bind a port anyone listens on, which tells us.

use std::io;
use std::net::{IpAddr, SocketAddr};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use socket2::{Domain, Socket, Type};

use super::NetError;

/// Fails with [`NetError::PortInUse`] when something listens on `addr`'s TCP port already
/// (another dmc node, or any other program). Port 0 and addresses that are not IP + TCP
/// pass: libp2p picks a free port, or reports what it cannot listen on.
///
/// Two nodes that start at the same instant can still both pass before either binds; the
/// check is for the usual case, one node started while another runs.
pub(super) fn check_free(addr: &Multiaddr) -> Result<(), NetError> {
    let Some(sock) = socket_addr(addr).filter(|s| s.port() != 0) else {
        return Ok(());
    };
    match probe(sock) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(NetError::PortInUse {
            addr: addr.clone(),
            port: sock.port(),
        }),
        Err(e) => Err(NetError::Listen {
            addr: addr.clone(),
            why: e.to_string(),
        }),
    }
}

/// Binds (without listening) a socket set up like libp2p's listeners but without
/// `SO_REUSEPORT`; it is closed at once.
fn probe(sock: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(Domain::for_address(sock), Type::STREAM, None)?;
    if sock.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // As libp2p does: connections of an earlier run in TIME_WAIT do not hold the port.
    socket.set_reuse_address(true)?;
    socket.bind(&sock.into())
}

/// `/ip4/A/tcp/P` or `/ip6/A/tcp/P` (anything after is ignored) as a socket address.
fn socket_addr(addr: &Multiaddr) -> Option<SocketAddr> {
    let mut it = addr.iter();
    let ip: IpAddr = match it.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    match it.next()? {
        Protocol::Tcp(port) => Some(SocketAddr::new(ip, port)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_someone_listens_on_is_reported_with_the_port_and_the_key() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap();
        let err = check_free(&addr).unwrap_err();
        assert!(matches!(err, NetError::PortInUse { port: p, .. } if p == port));
        let text = err.to_string();
        assert!(text.contains(&port.to_string()), "{text}");
        assert!(text.contains("[node] listen"), "{text}");
        drop(taken);
        check_free(&addr).unwrap();
    }

    #[test]
    fn port_zero_and_other_addresses_pass() {
        for a in [
            "/ip4/127.0.0.1/tcp/0",
            "/ip6/::1/tcp/0",
            "/dns4/localhost/tcp/1",
        ] {
            check_free(&a.parse().unwrap()).unwrap();
        }
    }
}
