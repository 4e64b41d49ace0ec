//! Transfer benchmark: one process serves a file over dmc's libp2p protocol, another pulls it;
//! plain TCP send/receive modes give the baseline. Driven by `bench/transfer`, and by
//! `bench/lan-transfer` across the hosts of a LAN lab: there `BENCH_IP` is the address the
//! serving side and the TCP receiver bind, and the TCP sender dials (default 127.0.0.1).
//!
//! Modes:
//!   serve <file> <chunk_size> <info_out>       hash, listen on 127.0.0.1:0, write address + FileInfo
//!   pull <info_in> <part> <in_flight> <writes> dial, pull, print MiB/s and VmHWM
//!   tcp-recv <port_out> <dest>                 accept one connection, write to dest, fsync
//!   tcp-send <file> <port>                     send the file to 127.0.0.1:<port>

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Instant;

use dmc_node::net::{spawn_net, NetEvent};
use dmc_node::transfer::{
    hash_file, manifest_page, pull_file_with, read_chunk, PullOptions, RemoteFile, ServedFile,
};
use dmc_protocol::wire::{ErrorCode, FileRole, Request, Response};
use dmc_protocol::{FileInfo, ItemId};
use libp2p::identity::Keypair;
use libp2p::Multiaddr;

#[path = "bench_common/mod.rs"]
mod bench_common;
use bench_common::{arg, bench_prologue, cpu_secs, mib_s, vm_hwm_kib, BoxError};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => serve(&args).await,
        Some("pull") => pull(&args).await,
        Some("tcp-recv") => tcp_recv(&args),
        Some("tcp-send") => tcp_send(&args),
        _ => Err("usage: transfer_bench serve|pull|tcp-recv|tcp-send ... (see source)".into()),
    }
}

async fn serve(args: &[String]) -> Result<(), BoxError> {
    let path = PathBuf::from(arg(args, 2, "file")?);
    let chunk_size: u32 = arg(args, 3, "chunk_size")?.parse()?;
    let info_out = PathBuf::from(arg(args, 4, "info_out")?);
    let ip = bench_ip()?;
    let t = Instant::now();
    let p = path.clone();
    let hashed = tokio::task::spawn_blocking(move || hash_file(&p, chunk_size, |_| {})).await??;
    let hash_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "serve: hashed {} bytes in {hash_secs:.2}s ({:.0} MiB/s)",
        hashed.size,
        mib_s(hashed.size, hash_secs)
    );
    let info = hashed.file_info("bench.bin");
    let served = ServedFile::from_hashed(path, &hashed);
    drop(hashed);

    let listen: Multiaddr = format!("/ip4/{ip}/tcp/0").parse()?;
    let (net, mut rx) = spawn_net(
        Keypair::generate_ed25519(),
        vec![listen],
        vec![],
        bench_access(),
    )?;
    let addr = net
        .listen_addrs()
        .await
        .into_iter()
        .next()
        .ok_or("no listen address")?;
    let full = addr.with(libp2p::multiaddr::Protocol::P2p(net.local_peer_id()));
    let doc = serde_json::json!({ "addr": full.to_string(), "info": info, "hash_secs": hash_secs });
    let tmp = info_out.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&doc)?)?;
    std::fs::rename(&tmp, &info_out)?;

    let cpu_start = cpu_secs();
    let mut seen_peer = false;
    while let Some(ev) = rx.recv().await {
        match ev {
            NetEvent::Connected { .. } => seen_peer = true,
            NetEvent::Disconnected { .. } if seen_peer => break,
            NetEvent::Inbound {
                request, responder, ..
            } => {
                let f = served.clone();
                tokio::spawn(async move {
                    let resp = tokio::task::spawn_blocking(move || match request {
                        Request::Manifest { first, count, .. } => manifest_page(&f, first, count),
                        Request::Chunk { index, .. } => read_chunk(&f, index),
                        _ => Response::Error {
                            code: ErrorCode::BadRequest,
                            message: "not served".into(),
                        },
                    })
                    .await
                    .unwrap_or(Response::Error {
                        code: ErrorCode::Unavailable,
                        message: "read failed".into(),
                    });
                    responder.respond(resp);
                });
            }
            _ => {}
        }
    }
    println!("serve_cpu_secs={:.2}", cpu_secs() - cpu_start);
    println!("serve_vmhwm_kib={}", vm_hwm_kib());
    Ok(())
}

async fn pull(args: &[String]) -> Result<(), BoxError> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(arg(args, 2, "info_in")?)?)?;
    let part = PathBuf::from(arg(args, 3, "part")?);
    let in_flight: usize = arg(args, 4, "in_flight")?.parse()?;
    let writes: usize = arg(args, 5, "writes")?.parse()?;
    let addr: Multiaddr = doc["addr"].as_str().ok_or("no addr")?.parse()?;
    let info: FileInfo = serde_json::from_value(doc["info"].clone())?;
    let (net, mut rx) = spawn_net(Keypair::generate_ed25519(), vec![], vec![], bench_access())?;
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let peer = net.dial(addr).await?;
    let opts = PullOptions {
        in_flight,
        writes_in_flight: writes,
        ..PullOptions::default()
    };
    let t = Instant::now();
    let cpu_start = cpu_secs();
    let stats = pull_file_with(
        &net,
        RemoteFile {
            peer,
            item_id: ItemId::from_random([1; 16]),
            role: FileRole::Source,
            epoch: 1,
        },
        &info,
        &part,
        &opts,
        |_, _| {},
    )
    .await?;
    let secs = t.elapsed().as_secs_f64();
    println!("pull_bytes={}", stats.bytes_fetched);
    println!("pull_secs={secs:.3}");
    println!("pull_mib_s={:.1}", mib_s(stats.bytes_fetched, secs));
    println!("pull_cpu_secs={:.2}", cpu_secs() - cpu_start);
    println!("pull_vmhwm_kib={}", vm_hwm_kib());
    Ok(())
}

fn tcp_recv(args: &[String]) -> Result<(), BoxError> {
    let port_out = PathBuf::from(arg(args, 2, "port_out")?);
    let dest = PathBuf::from(arg(args, 3, "dest")?);
    let listener = std::net::TcpListener::bind((bench_ip()?, 0))?;
    let tmp = port_out.with_extension("tmp");
    std::fs::write(&tmp, listener.local_addr()?.port().to_string())?;
    std::fs::rename(&tmp, &port_out)?;
    let (mut sock, _) = listener.accept()?;
    let t = Instant::now();
    let mut out = std::fs::File::create(&dest)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    out.sync_all()?;
    let secs = t.elapsed().as_secs_f64();
    println!("tcp_bytes={total}");
    println!("tcp_secs={secs:.3}");
    println!("tcp_mib_s={:.1}", mib_s(total, secs));
    println!("tcp_recv_vmhwm_kib={}", vm_hwm_kib());
    Ok(())
}

fn tcp_send(args: &[String]) -> Result<(), BoxError> {
    let file = PathBuf::from(arg(args, 2, "file")?);
    let port: u16 = arg(args, 3, "port")?.parse()?;
    let mut sock = std::net::TcpStream::connect((bench_ip()?, port))?;
    let mut f = std::fs::File::open(file)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sock.write_all(&buf[..n])?;
    }
    sock.shutdown(std::net::Shutdown::Write)?;
    println!("tcp_send_vmhwm_kib={}", vm_hwm_kib());
    Ok(())
}

/// The IPv4 address to bind or dial: `BENCH_IP`, default 127.0.0.1.
fn bench_ip() -> Result<std::net::Ipv4Addr, BoxError> {
    Ok(std::env::var("BENCH_IP")
        .unwrap_or_else(|_| "127.0.0.1".into())
        .parse()?)
}

/// Access as a node has it: the Noise prologue of a network key. `BENCH_NO_KEY=1` runs Noise
/// without one, the baseline for what the key costs.
fn bench_access() -> dmc_node::net::Access {
    if std::env::var_os("BENCH_NO_KEY").is_some() {
        return dmc_node::net::Access::default();
    }
    dmc_node::net::Access {
        prologue: bench_prologue(),
        allowed_peers: None,
    }
}
