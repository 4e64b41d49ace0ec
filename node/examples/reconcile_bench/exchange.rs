//! The message exchange of two engines that reconnect, shared by the reconciliation and
//! scale benchmarks (and the reconciliation test): every request and response goes through
//! the node's real codec and is counted with its framing.

use std::time::{Duration, Instant};

use dmc_node::net::codec::{decode_request, decode_response, encode_frame};
use dmc_protocol::engine::{Effect, Engine, Event};
use dmc_protocol::wire::{AuthorRange, Request, Response, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
use dmc_protocol::{Millis, NodeId};

/// Connects the pair at `now` and runs the exchange their engines produce until quiescent
/// (at most 100 round trips).
pub fn exchange(engines: &mut [Engine; 2], now: Millis) -> Traffic {
    let ids = [engines[0].me().clone(), engines[1].me().clone()];
    let mut t = Traffic::default();
    let start = Instant::now();
    let mut flight: Vec<(usize, Request)> = Vec::new();
    for k in 0..2 {
        let fx = engines[k].handle(Event::PeerConnected(ids[1 - k].clone()), now);
        t.take(k, &ids, fx, &mut flight);
    }
    while !flight.is_empty() && t.round_trips < 100 {
        t.round_trips += 1;
        let mut next = Vec::new();
        for (from, request) in std::mem::take(&mut flight) {
            let to = 1 - from;
            let frame = encode_frame(&request, 4096, MAX_REQUEST_BYTES, "request")
                .expect("request encodes");
            t.sent[from] += frame.len();
            t.requests += 1;
            let request = decode_request(&frame[4..]).expect("request decodes");
            let response = match request {
                Request::Sync {
                    summary,
                    from,
                    to: end,
                } => engines[to].answer_sync(&summary, &AuthorRange { from, to: end }),
                Request::SyncDigest { digest } => engines[to].answer_digest(&digest),
                Request::Ended { items } => engines[to].answer_ended(&items),
                Request::Push { records } => {
                    t.records[from] += records.len();
                    let fx = engines[to].handle(
                        Event::Records {
                            from: ids[from].clone(),
                            records,
                            sync_more: None,
                            complete: vec![],
                        },
                        now,
                    );
                    t.take(to, &ids, fx, &mut next);
                    Response::Ack
                }
                Request::Progress { report } => {
                    let fx = engines[to].handle(
                        Event::Report {
                            from: ids[from].clone(),
                            report,
                        },
                        now,
                    );
                    t.take(to, &ids, fx, &mut next);
                    Response::Ack
                }
                // The engine asks for files only through effects the node carries out.
                Request::Manifest { .. } | Request::Chunk { .. } => continue,
            };
            let frame = encode_frame(&response, 4096, MAX_RESPONSE_BYTES, "response")
                .expect("response encodes");
            t.sent[to] += frame.len();
            match decode_response(&frame[4..]).expect("response decodes") {
                Response::Records {
                    records,
                    more,
                    complete,
                } => {
                    t.records[to] += records.len();
                    let fx = engines[from].handle(
                        Event::Records {
                            from: ids[to].clone(),
                            records,
                            sync_more: Some(more),
                            complete,
                        },
                        now,
                    );
                    t.take(from, &ids, fx, &mut next);
                }
                Response::Summary {
                    summary,
                    next: after,
                } => {
                    let fx = engines[from].handle(
                        Event::PeerSummary {
                            from: ids[to].clone(),
                            summary,
                            next: after,
                        },
                        now,
                    );
                    t.take(from, &ids, fx, &mut next);
                }
                _ => {}
            }
        }
        flight = next;
    }
    t.elapsed = start.elapsed();
    t
}

/// What one reconnect moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes each side sent (requests and responses, with the codec's 4-byte length frame):
    /// [origin, conv1].
    pub sent: [usize; 2],
    /// Records each side sent.
    pub records: [usize; 2],
    pub requests: usize,
    /// Request flights: requests sent at once count as one round trip.
    pub round_trips: usize,
    /// Records refused by either side.
    pub refused: usize,
    pub elapsed: Duration,
}

impl Traffic {
    pub fn total(&self) -> usize {
        self.sent[0] + self.sent[1]
    }

    /// The same figures without the time, to compare runs.
    #[allow(dead_code)] // the reconciliation test compares runs; the benches do not
    pub fn bytes_and_trips(&self) -> ([usize; 2], [usize; 2], usize, usize) {
        (self.sent, self.records, self.requests, self.round_trips)
    }

    fn take(
        &mut self,
        from: usize,
        ids: &[NodeId; 2],
        fx: Vec<Effect>,
        out: &mut Vec<(usize, Request)>,
    ) {
        for e in fx {
            match e {
                Effect::Send { to, request } if to == ids[1 - from] => out.push((from, request)),
                Effect::Refused { .. } => self.refused += 1,
                _ => {}
            }
        }
    }
}
