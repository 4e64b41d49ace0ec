//! The request-response codec: a frame is a u32 big-endian length plus a CBOR body, with the
//! size limits of `dmc_protocol::wire` enforced before anything is allocated.

use std::io;

use dmc_protocol::wire::{self, Request, Response, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The protocol this codec speaks.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new(wire::PROTOCOL_NAME);

/// Codec for [`Request`] / [`Response`] frames.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireCodec;

/// Reads one frame of at most `limit` bytes; refuses larger ones before allocating.
pub async fn read_frame<T>(io: &mut T, limit: usize, what: &str) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} frame of {len} bytes exceeds the limit of {limit} bytes; refused"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

/// Writes one frame; refuses to send one above `limit` (the peer would refuse it anyway).
pub async fn write_frame<T>(io: &mut T, body: &[u8], limit: usize, what: &str) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    if body.len() > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} of {} bytes exceeds the limit of {limit} bytes; not sent", body.len()),
        ));
    }
    // One write for header and body keeps small messages in one yamux frame.
    let mut framed = Vec::with_capacity(4 + body.len());
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(body);
    io.write_all(&framed).await?;
    io.flush().await
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("invalid {what}: {e}"))
}

/// Decodes and checks a request frame body.
pub fn decode_request(bytes: &[u8]) -> io::Result<Request> {
    let req: Request = wire::decode(bytes, MAX_REQUEST_BYTES).map_err(|e| invalid("request", e))?;
    req.check_limits().map_err(|e| invalid("request", e))?;
    Ok(req)
}

/// Decodes and checks a response frame body.
pub fn decode_response(bytes: &[u8]) -> io::Result<Response> {
    let resp: Response =
        wire::decode(bytes, MAX_RESPONSE_BYTES).map_err(|e| invalid("response", e))?;
    resp.check_limits().map_err(|e| invalid("response", e))?;
    Ok(resp)
}

impl libp2p::request_response::Codec for WireCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_REQUEST_BYTES, "request").await?;
        decode_request(&body)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let body = read_frame(io, MAX_RESPONSE_BYTES, "response").await?;
        decode_response(&body)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &wire::encode(&req), MAX_REQUEST_BYTES, "request").await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        resp: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &wire::encode(&resp), MAX_RESPONSE_BYTES, "response").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dmc_protocol::wire::FileRole;
    use dmc_protocol::ItemId;
    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn request_and_response_round_trip() {
        let mut c = WireCodec;
        let req = Request::Chunk {
            item_id: ItemId::from_random([7; 16]),
            role: FileRole::Source,
            epoch: 3,
            index: 42,
        };
        let resp = Response::Chunk { index: 42, data: vec![5u8; 1 << 20] };
        let mut buf = Cursor::new(Vec::new());
        block_on(c.write_request(&PROTOCOL, &mut buf, req.clone())).unwrap();
        block_on(c.write_response(&PROTOCOL, &mut buf, resp.clone())).unwrap();
        buf.set_position(0);
        assert_eq!(block_on(c.read_request(&PROTOCOL, &mut buf)).unwrap(), req);
        assert_eq!(block_on(c.read_response(&PROTOCOL, &mut buf)).unwrap(), resp);
    }

    #[test]
    fn oversized_frame_is_refused_before_reading_it() {
        let mut c = WireCodec;
        // Only the header: a body would never arrive, so success would need the refusal first.
        let header = ((MAX_REQUEST_BYTES + 1) as u32).to_be_bytes().to_vec();
        let err = block_on(c.read_request(&PROTOCOL, &mut Cursor::new(header))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("exceeds the limit"), "{err}");

        let header = (u32::MAX).to_be_bytes().to_vec();
        let err = block_on(c.read_response(&PROTOCOL, &mut Cursor::new(header))).unwrap_err();
        assert!(err.to_string().contains("exceeds the limit"), "{err}");
    }

    #[test]
    fn oversized_message_is_not_sent_and_garbage_is_refused() {
        let mut c = WireCodec;
        let resp = Response::Chunk { index: 0, data: vec![0u8; MAX_RESPONSE_BYTES] };
        let mut buf = Cursor::new(Vec::new());
        assert!(block_on(c.write_response(&PROTOCOL, &mut buf, resp)).is_err());

        let mut frame = 3u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0xff, 0x00, 0x13]);
        let err = block_on(c.read_request(&PROTOCOL, &mut Cursor::new(frame))).unwrap_err();
        assert!(err.to_string().contains("invalid request"), "{err}");
    }

    #[test]
    fn manifest_page_over_limit_is_refused() {
        let req = Request::Manifest {
            item_id: ItemId::from_random([1; 16]),
            role: FileRole::Result,
            epoch: 1,
            first: 0,
            count: wire::MAX_MANIFEST_PAGE + 1,
        };
        let err = decode_request(&wire::encode(&req)).unwrap_err();
        assert!(err.to_string().contains("manifest page"), "{err}");
    }
}
