//! `[node]`: the node's name, listen addresses, output folder, and how its items are retried.

use std::path::Path;
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

use super::defaults::node::LISTEN;
use super::error::{fault, Fault};
use super::paths::resolve_path;
use super::raw::RawNode;
use super::{format_duration, parse_duration, NodeConfig};

/// Shortest lease accepted: a few converter heartbeats.
pub const MIN_LEASE: Duration = Duration::from_secs(5);
/// Shortest `[node] keep_finished` accepted.
pub const MIN_KEEP_FINISHED: Duration = Duration::from_secs(1);
/// Largest `[node] max_attempts`.
pub const MAX_MAX_ATTEMPTS: u32 = 100;
/// Longest node name, in bytes.
pub const MAX_NAME_BYTES: usize = dmc_protocol::record::MAX_FILE_NAME;
/// Name used when the host name cannot be found.
const FALLBACK_NAME: &str = "dmc-node";

/// Validates `[node]`.
pub(super) fn resolve_node(
    raw: RawNode,
    data_dir: &Path,
    home: Option<&Path>,
) -> Result<NodeConfig, Fault> {
    let name = node_name(raw.name.unwrap_or_else(host_name))?;
    let listen = multiaddrs("node.listen", &raw.listen)?;
    if raw.output_dir.is_empty() {
        return Err(fault("node.output_dir", None, "must not be empty"));
    }
    let output_dir = resolve_path(&raw.output_dir, data_dir, home)
        .map_err(|m| fault("node.output_dir", None, m))?;
    let lease = parse_duration(&raw.lease).map_err(|m| fault("node.lease", None, m))?;
    if lease < MIN_LEASE {
        return Err(fault(
            "node.lease",
            None,
            format!(
                "must be at least {}: converters report every few seconds",
                format_duration(MIN_LEASE)
            ),
        ));
    }
    let max_attempts = u32::try_from(raw.max_attempts)
        .ok()
        .filter(|n| (1..=MAX_MAX_ATTEMPTS).contains(n))
        .ok_or_else(|| {
            fault(
                "node.max_attempts",
                None,
                format!("must be between 1 and {MAX_MAX_ATTEMPTS}"),
            )
        })?;
    let retry_backoff =
        parse_duration(&raw.retry_backoff).map_err(|m| fault("node.retry_backoff", None, m))?;
    let keep_finished =
        parse_duration(&raw.keep_finished).map_err(|m| fault("node.keep_finished", None, m))?;
    if keep_finished < MIN_KEEP_FINISHED {
        return Err(fault(
            "node.keep_finished",
            None,
            format!(
                "must be at least {}: peers must see an item end before it is compacted",
                format_duration(MIN_KEEP_FINISHED)
            ),
        ));
    }
    Ok(NodeConfig {
        name,
        listen,
        output_dir,
        lease,
        max_attempts,
        retry_backoff,
        keep_finished,
    })
}

/// `[node] name`: not empty, not too long, no control characters.
fn node_name(name: String) -> Result<String, Fault> {
    if name.trim().is_empty() {
        return Err(fault("node.name", None, "must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(fault(
            "node.name",
            None,
            format!("longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(fault(
            "node.name",
            None,
            "must not contain control characters",
        ));
    }
    Ok(name)
}

/// Parses the multiaddrs at `key`; each must have a `/tcp/` part.
pub(super) fn multiaddrs(key: &'static str, raw: &[String]) -> Result<Vec<Multiaddr>, Fault> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            let addr: Multiaddr = s.parse().map_err(|e| {
                fault(
                    key,
                    Some(i),
                    format!("`{s}` is not a multiaddr ({e}); e.g. \"{LISTEN}\""),
                )
            })?;
            if !addr.iter().any(|p| matches!(p, Protocol::Tcp(_))) {
                return Err(fault(
                    key,
                    Some(i),
                    format!("`{s}` has no /tcp/ part; dmc speaks TCP, e.g. \"{LISTEN}\""),
                ));
            }
            Ok(addr)
        })
        .collect()
}

/// The host name from /etc/hostname or gethostname(2), or `dmc-node`.
fn host_name() -> String {
    let usable = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= MAX_NAME_BYTES && !s.chars().any(char::is_control))
            .then(|| s.to_string())
    };
    if let Some(n) = std::fs::read_to_string("/etc/hostname")
        .ok()
        .as_deref()
        .and_then(usable)
    {
        return n;
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Some(n) = std::str::from_utf8(&buf[..end]).ok().and_then(usable) {
            return n;
        }
    }
    FALLBACK_NAME.to_string()
}
