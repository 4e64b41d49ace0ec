//! The codec the swarm uses: [`WireCodec`], except that an inbound request over a limit or
//! malformed comes out as [`Inbound::Invalid`] instead of a stream error. libp2p drops a read
//! error without telling the behaviour; this way the event loop learns which peer sent it and
//! can cut that peer off.

use std::io;

use dmc_protocol::wire::{Request, Response};
use futures::{AsyncRead, AsyncWrite};
use libp2p::request_response::Codec;
use libp2p::StreamProtocol;

use super::codec::WireCodec;

/// A request as read from a peer (or made by us, always valid).
#[derive(Clone, Debug)]
pub enum Inbound {
    Valid(Request),
    /// What was wrong with it.
    Invalid(String),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct GuardCodec;

impl Codec for GuardCodec {
    type Protocol = StreamProtocol;
    type Request = Inbound;
    type Response = Response;

    async fn read_request<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Inbound>
    where
        T: AsyncRead + Unpin + Send,
    {
        match WireCodec.read_request(p, io).await {
            Ok(r) => Ok(Inbound::Valid(r)),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Inbound::Invalid(e.to_string())),
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        WireCodec.read_response(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        req: Inbound,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Inbound::Valid(r) => WireCodec.write_request(p, io, r).await,
            Inbound::Invalid(why) => Err(io::Error::new(io::ErrorKind::InvalidInput, why)),
        }
    }

    async fn write_response<T>(
        &mut self,
        p: &StreamProtocol,
        io: &mut T,
        resp: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        WireCodec.write_response(p, io, resp).await
    }
}
