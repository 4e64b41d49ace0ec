//! Arbitrary bytes from a peer through the node's request/response codec: frame reading
//! (length header, chunk fast path) and body decoding. Must never panic; whatever decodes must
//! pass the limits and encode back to bytes that decode to the same encoding.
#![no_main]

use dmc_node::net::codec::{self, WireCodec, PROTOCOL};
use dmc_protocol::wire::{self, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use futures::executor::block_on;
use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::request_response::Codec;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            if let Ok(req) = codec::decode_request(body) {
                req.check_limits()
                    .expect("a decoded request is within limits");
                stable(&req, |b| codec::decode_request(b).is_ok());
            }
        }
        1 => {
            if let Ok(resp) = codec::decode_response(body) {
                resp.check_limits()
                    .expect("a decoded response is within limits");
                stable(&resp, |b| codec::decode_response(b).is_ok());
            }
        }
        2 => {
            let mut c = WireCodec;
            if let Ok(req) = block_on(c.read_request(&PROTOCOL, &mut Cursor::new(body))) {
                assert!(wire::encoded_len(&req) <= MAX_REQUEST_BYTES);
            }
        }
        _ => {
            let mut c = WireCodec;
            if let Ok(resp) = block_on(c.read_response(&PROTOCOL, &mut Cursor::new(body))) {
                assert!(wire::encoded_len(&resp) <= MAX_RESPONSE_BYTES);
                // The chunk fast path must agree with the generic decoder.
                let again = codec::decode_response(&wire::encode(&resp))
                    .expect("a read response re-decodes");
                assert_eq!(wire::encode(&again), wire::encode(&resp));
            }
        }
    }
});

/// Encoding what was decoded gives bytes that decode again to the same encoding.
fn stable<T: serde::Serialize + serde::de::DeserializeOwned>(msg: &T, ok: impl Fn(&[u8]) -> bool) {
    let bytes = wire::encode(msg);
    assert!(ok(&bytes), "re-encoded message is refused");
    let back: T = wire::decode(&bytes, usize::MAX).expect("re-encoded message decodes");
    assert_eq!(wire::encode(&back), bytes, "encoding is not stable");
}
