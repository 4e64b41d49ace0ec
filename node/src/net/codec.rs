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

/// Encodes `msg` as a whole frame (length header included) in one buffer of about `hint`
/// bytes; refuses one above `limit` (the peer would refuse it anyway).
pub fn encode_frame<M: serde::Serialize>(
    msg: &M,
    hint: usize,
    limit: usize,
    what: &str,
) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(4 + hint.min(limit) + 64);
    buf.extend_from_slice(&[0u8; 4]);
    let mut buf = cbor4ii::serde::to_vec(buf, msg).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot encode {what}: {e}"),
        )
    })?;
    let len = buf.len() - 4;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} of {len} bytes exceeds the limit of {limit} bytes; not sent"),
        ));
    }
    buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(buf)
}

/// Writes an encoded frame.
pub async fn write_frame<T>(io: &mut T, frame: &[u8]) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    io.write_all(frame).await?;
    io.flush().await
}

/// Frame length header plus the CBOR of `Response::Chunk { index, data }` up to the data
/// bytes themselves, which follow. Same bytes as encoding the whole response: `data` is the
/// last field, so its CBOR byte-string header ends the encoding of an empty chunk, where it
/// is replaced by the header for `len` bytes.
pub fn chunk_header(index: u64, len: usize, limit: usize) -> io::Result<Vec<u8>> {
    let empty = wire::encode(&Response::Chunk {
        index,
        data: Vec::new(),
    });
    // An empty byte string is the single byte 0x40 (major type 2, length 0).
    if empty.last() != Some(&0x40) {
        return Err(io::Error::other("unexpected encoding of a chunk response"));
    }
    let mut head = Vec::with_capacity(4 + empty.len() + 8);
    head.extend_from_slice(&[0u8; 4]);
    head.extend_from_slice(&empty[..empty.len() - 1]);
    match len {
        0..=23 => head.push(0x40 | len as u8),
        24..=0xff => head.extend_from_slice(&[0x58, len as u8]),
        0x100..=0xffff => {
            head.push(0x59);
            head.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            head.push(0x5a);
            head.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
    let body = head.len() - 4 + len;
    if body > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("response of {body} bytes exceeds the limit of {limit} bytes; not sent"),
        ));
    }
    head[..4].copy_from_slice(&(body as u32).to_be_bytes());
    Ok(head)
}

/// The fixed parts of a chunk response's encoding: before the index, and between the index
/// and the data's byte-string header.
fn chunk_layout() -> &'static Option<(Vec<u8>, Vec<u8>)> {
    static LAYOUT: std::sync::OnceLock<Option<(Vec<u8>, Vec<u8>)>> = std::sync::OnceLock::new();
    LAYOUT.get_or_init(|| {
        let e0 = wire::encode(&Response::Chunk {
            index: 0,
            data: Vec::new(),
        });
        let e1 = wire::encode(&Response::Chunk {
            index: 1,
            data: Vec::new(),
        });
        let pos = e0.iter().zip(&e1).position(|(a, b)| a != b)?;
        if e0.len() != e1.len() || e0.last() != Some(&0x40) || e0[pos] != 0x00 {
            return None;
        }
        Some((e0[..pos].to_vec(), e0[pos + 1..e0.len() - 1].to_vec()))
    })
}

/// Reads a CBOR unsigned integer or byte-string length argument; `major` is 0 or 2.
fn cbor_arg(bytes: &[u8], major: u8) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    if first >> 5 != major {
        return None;
    }
    let n = |k: usize| -> Option<u64> {
        let b = bytes.get(1..1 + k)?;
        Some(b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64))
    };
    match first & 0x1f {
        v @ 0..=23 => Some((v as u64, 1)),
        24 => Some((n(1)?, 2)),
        25 => Some((n(2)?, 3)),
        26 => Some((n(4)?, 5)),
        27 => Some((n(8)?, 9)),
        _ => None,
    }
}

/// If `prefix` starts a chunk response, its index and where its data starts and how long it is.
fn parse_chunk_prefix(prefix: &[u8]) -> Option<(u64, usize, usize)> {
    let (before, between) = chunk_layout().as_ref()?;
    let rest = prefix.strip_prefix(before.as_slice())?;
    let (index, used) = cbor_arg(rest, 0)?;
    let rest = rest.get(used..)?.strip_prefix(between.as_slice())?;
    let (len, used_len) = cbor_arg(rest, 2)?;
    let off = prefix.len() - rest.len() + used_len;
    Some((index, off, usize::try_from(len).ok()?))
}

/// Longest chunk response header (map, tag, index as u64, byte-string header).
const CHUNK_PREFIX: usize = 64;

/// Reads a response frame; a chunk is read straight into its own buffer (no second copy).
async fn read_response_frame<T>(io: &mut T) -> io::Result<Response>
where
    T: AsyncRead + Unpin + Send,
{
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_RESPONSE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("response frame of {len} bytes exceeds the limit of {MAX_RESPONSE_BYTES} bytes; refused"),
        ));
    }
    let mut prefix = [0u8; CHUNK_PREFIX];
    let plen = len.min(CHUNK_PREFIX);
    io.read_exact(&mut prefix[..plen]).await?;
    let prefix = &prefix[..plen];
    if let Some((index, off, data_len)) = parse_chunk_prefix(prefix) {
        if off.checked_add(data_len) == Some(len) {
            // A recycled buffer: no zeroing or page faults for each megabyte received.
            let mut data = super::chunk_pool::take(data_len);
            let have = plen - off;
            data[..have].copy_from_slice(&prefix[off..]);
            io.read_exact(&mut data[have..]).await?;
            return Ok(Response::Chunk { index, data });
        }
    }
    let mut body = vec![0u8; len];
    body[..plen].copy_from_slice(prefix);
    io.read_exact(&mut body[plen..]).await?;
    decode_response(&body)
}

/// Bytes a response will roughly take, so its buffer is allocated once.
fn response_hint(resp: &Response) -> usize {
    match resp {
        Response::Chunk { data, .. } => data.len(),
        Response::Manifest { hashes, .. } => hashes.len(),
        _ => 4096,
    }
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
        read_response_frame(io).await
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
        write_frame(io, &encode_frame(&req, 4096, MAX_REQUEST_BYTES, "request")?).await
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
        if let Response::Chunk { index, data } = resp {
            // The header, then the data straight from its buffer: no 1 MiB copy per chunk.
            let head = chunk_header(index, data.len(), MAX_RESPONSE_BYTES)?;
            io.write_all(&head).await?;
            io.write_all(&data).await?;
            super::chunk_pool::give(data);
            return io.flush().await;
        }
        let hint = response_hint(&resp);
        let frame = encode_frame(&resp, hint, MAX_RESPONSE_BYTES, "response")?;
        drop(resp);
        write_frame(io, &frame).await
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
        let resp = Response::Chunk {
            index: 42,
            data: vec![5u8; 1 << 20],
        };
        let mut buf = Cursor::new(Vec::new());
        block_on(c.write_request(&PROTOCOL, &mut buf, req.clone())).unwrap();
        block_on(c.write_response(&PROTOCOL, &mut buf, resp.clone())).unwrap();
        buf.set_position(0);
        assert_eq!(block_on(c.read_request(&PROTOCOL, &mut buf)).unwrap(), req);
        assert_eq!(
            block_on(c.read_response(&PROTOCOL, &mut buf)).unwrap(),
            resp
        );
    }

    #[test]
    fn chunk_header_matches_the_generic_encoding() {
        for len in [0usize, 1, 23, 24, 255, 256, 65_535, 65_536, 1 << 20] {
            for index in [0u64, 23, 24, 1 << 40] {
                let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut framed = chunk_header(index, len, MAX_RESPONSE_BYTES).unwrap();
                framed.extend_from_slice(&data);
                let generic = encode_frame(
                    &Response::Chunk { index, data },
                    len,
                    MAX_RESPONSE_BYTES,
                    "r",
                )
                .unwrap();
                assert!(framed == generic, "len {len} index {index}");
            }
        }
        assert!(chunk_header(0, MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES).is_err());
    }

    #[test]
    fn every_response_kind_reads_back_through_the_chunk_fast_path() {
        let mut c = WireCodec;
        let cases = vec![
            Response::Chunk {
                index: 0,
                data: vec![],
            },
            Response::Chunk {
                index: 24,
                data: vec![1, 2, 3],
            },
            Response::Chunk {
                index: 1 << 40,
                data: vec![7u8; 70_000],
            },
            Response::Ack,
            Response::Manifest {
                file_size: 5,
                chunk_size: 4,
                first: 0,
                hashes: vec![9u8; 64],
            },
            Response::Error {
                code: wire::ErrorCode::SourceChanged,
                message: "x changed".into(),
            },
            Response::Records {
                records: vec![],
                more: false,
                complete: vec![],
            },
        ];
        for resp in cases {
            // Through the generic encoder, so the fast path is checked against it.
            let mut buf = Cursor::new(encode_frame(&resp, 0, MAX_RESPONSE_BYTES, "r").unwrap());
            assert_eq!(
                block_on(c.read_response(&PROTOCOL, &mut buf)).unwrap(),
                resp
            );
        }
        // A chunk frame shorter than its byte string says is refused, not misread.
        let mut bad = encode_frame(
            &Response::Chunk {
                index: 1,
                data: vec![0u8; 100],
            },
            0,
            MAX_RESPONSE_BYTES,
            "r",
        )
        .unwrap();
        bad.truncate(bad.len() - 50);
        let n = (bad.len() - 4) as u32;
        bad[..4].copy_from_slice(&n.to_be_bytes());
        assert!(block_on(c.read_response(&PROTOCOL, &mut Cursor::new(bad))).is_err());
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
        let resp = Response::Chunk {
            index: 0,
            data: vec![0u8; MAX_RESPONSE_BYTES],
        };
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
