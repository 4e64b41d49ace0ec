//! How fast libp2p itself moves bytes on this machine, for `bench/transfer`: one process sends
//! a file over libp2p streams built as dmc's nodes build their connections (TCP, Noise with a
//! network key's prologue, yamux), the other reads and discards them. No manifest, no hashing,
//! no disk write: any protocol on this stack, request-response or a stream of its own, stays
//! under this figure.
//!
//! Modes:
//!   serve <file> <addr_out>   listen on 127.0.0.1:0, write the address; each stream asks for a
//!                             byte range of <file>; exits when the connection closes
//!   pull <addr_in> <streams>  ask for the whole file in <streams> equal ranges at once, read
//!                             them to the end, print MiB/s and CPU seconds

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder};

#[path = "bench_common/mod.rs"]
mod bench_common;
use bench_common::{arg, bench_prologue, cpu_secs, mib_s, BoxError};

const PROTOCOL: StreamProtocol = StreamProtocol::new("/dmc-bench/ceiling/1");
/// Bytes per read and write.
const BLOCK: usize = 1 << 20;
/// Streams opened for one range before giving up (see [`read_range`]).
const OPEN_ATTEMPTS: u32 = 10;
/// The whole pull must end within this (a hang fails the bench instead of stalling it).
const PULL_TIMEOUT: Duration = Duration::from_secs(300);

/// A swarm on the node's transport stack, as `dmc_node::net::spawn_net_with` builds it (keep
/// the two alike), with libp2p-stream as its only behaviour.
fn swarm() -> Result<Swarm<libp2p_stream::Behaviour>, BoxError> {
    let prologue = bench_prologue();
    Ok(SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            move |k: &Keypair| noise::Config::new(k).map(|c| c.with_prologue(prologue)),
            yamux::Config::default,
        )?
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => serve(&args).await,
        Some("pull") => pull(&args).await,
        _ => Err("usage: stream_ceiling serve <file> <addr_out> | pull <addr_in> <streams>".into()),
    }
}

async fn serve(args: &[String]) -> Result<(), BoxError> {
    let file = PathBuf::from(arg(args, 2, "file")?);
    let addr_out = PathBuf::from(arg(args, 3, "addr_out")?);
    let mut swarm = swarm()?;
    let mut incoming = swarm.behaviour().new_control().accept(PROTOCOL)?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    tokio::spawn(async move {
        while let Some((_, stream)) = incoming.next().await {
            let file = file.clone();
            tokio::spawn(async move {
                if let Err(e) = send_range(stream, &file).await {
                    eprintln!("serving a stream failed: {e}");
                }
            });
        }
    });
    let start = cpu_secs();
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::NewListenAddr { address, .. } => {
                let tmp = addr_out.with_extension("tmp");
                std::fs::write(&tmp, address.to_string())?;
                std::fs::rename(&tmp, &addr_out)?;
            }
            SwarmEvent::ConnectionClosed { cause, .. } => {
                if let Some(cause) = cause {
                    eprintln!("the connection closed: {cause}");
                }
                break;
            }
            _ => {}
        }
    }
    println!("ceiling_serve_cpu_secs={:.2}", cpu_secs() - start);
    Ok(())
}

/// Reads the range a stream asks for (offset and length, 8 bytes each, little-endian) and
/// sends those bytes of `file`.
async fn send_range(mut stream: libp2p::Stream, file: &std::path::Path) -> Result<(), BoxError> {
    use std::os::unix::fs::FileExt;
    let mut ask = [0u8; 16];
    stream.read_exact(&mut ask).await?;
    let offset = u64::from_le_bytes(ask[..8].try_into()?);
    let len = u64::from_le_bytes(ask[8..].try_into()?);
    let f = std::fs::File::open(file)?;
    let mut buf = vec![0u8; BLOCK];
    let mut sent = 0u64;
    while sent < len {
        let n = (len - sent).min(BLOCK as u64) as usize;
        // The file is in the page cache: reading it here costs what `read_chunk` costs.
        f.read_exact_at(&mut buf[..n], offset + sent)?;
        stream.write_all(&buf[..n]).await?;
        sent += n as u64;
    }
    stream.close().await?;
    Ok(())
}

async fn pull(args: &[String]) -> Result<(), BoxError> {
    let doc = std::fs::read_to_string(arg(args, 2, "addr_in")?)?;
    let addr: Multiaddr = doc.trim().parse()?;
    let streams: u64 = arg(args, 3, "streams")?.parse()?;
    let size: u64 = std::env::var("CEILING_BYTES")?.parse()?;
    let mut swarm = swarm()?;
    let control = swarm.behaviour().new_control();
    swarm.dial(addr)?;
    let peer = loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => break peer_id,
            SwarmEvent::OutgoingConnectionError { error, .. } => return Err(error.into()),
            _ => {}
        }
    };
    tokio::spawn(async move {
        while let Some(event) = swarm.next().await {
            if let SwarmEvent::ConnectionClosed {
                cause: Some(cause), ..
            } = event
            {
                eprintln!("the connection closed: {cause}");
            }
        }
    });
    let (t, cpu) = (Instant::now(), cpu_secs());
    let each = size.div_ceil(streams.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    let reads = (0..streams.max(1)).map(|i| {
        let range = (i * each, each.min(size.saturating_sub(i * each)));
        read_range(control.clone(), peer, range, dropped.clone())
    });
    let got: u64 = tokio::time::timeout(PULL_TIMEOUT, futures::future::try_join_all(reads))
        .await
        .map_err(|_| "the pull did not end within 300 s")??
        .into_iter()
        .sum();
    if got != size {
        return Err(format!("got {got} bytes, expected {size}").into());
    }
    let secs = t.elapsed().as_secs_f64();
    println!("ceiling_secs={secs:.3}");
    println!("ceiling_mib_s={:.1}", mib_s(got, secs));
    println!("ceiling_pull_cpu_secs={:.2}", cpu_secs() - cpu);
    println!(
        "ceiling_dropped_streams={}",
        dropped.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Reads `(offset, len)` of the file through a stream of its own. libp2p-stream drops an
/// inbound stream that arrives while the acceptor has not yet taken the one before (its
/// channel holds none): such a stream ends before its first byte, and is opened again
/// (counted in `dropped`).
async fn read_range(
    mut control: libp2p_stream::Control,
    peer: PeerId,
    (offset, len): (u64, u64),
    dropped: Arc<AtomicU64>,
) -> Result<u64, BoxError> {
    for _ in 0..OPEN_ATTEMPTS {
        let mut stream = control.open_stream(peer, PROTOCOL).await?;
        let mut ask = offset.to_le_bytes().to_vec();
        ask.extend_from_slice(&len.to_le_bytes());
        let mut buf = vec![0u8; BLOCK];
        let mut got = 0u64;
        let read = async {
            stream.write_all(&ask).await?;
            loop {
                match stream.read(&mut buf).await? {
                    0 => return Ok::<(), std::io::Error>(()),
                    n => got += n as u64,
                }
            }
        }
        .await;
        match (read, got) {
            (_, 0) if len > 0 => {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            (Ok(()), got) if got == len => return Ok(got),
            (Ok(()), got) => {
                return Err(format!("a stream ended after {got} of {len} bytes").into())
            }
            (Err(e), got) => return Err(format!("a stream failed after {got} bytes: {e}").into()),
        }
    }
    Err(format!(
        "{OPEN_ATTEMPTS} streams in a row ended before their first byte: dropped, or the \
         serving side failed (see its log)"
    )
    .into())
}
