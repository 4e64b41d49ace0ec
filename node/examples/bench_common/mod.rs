//! What the transfer benches' binaries share (`transfer_bench.rs`, `stream_ceiling.rs`, each
//! through `#[path]`): arguments, the figures they print, and the network key their nodes use.
// Each binary uses only part of this.
#![allow(dead_code)]

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Argument `i`, or an error naming `what` is missing.
pub fn arg(args: &[String], i: usize, what: &str) -> Result<String, BoxError> {
    args.get(i)
        .cloned()
        .ok_or_else(|| format!("missing argument: {what}").into())
}

/// Peak resident memory of this process (VmHWM), in KiB.
pub fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system) this process used so far.
pub fn cpu_secs() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

pub fn mib_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs
}

/// The Noise prologue of the benches' network key, as a node derives it from its key.
pub fn bench_prologue() -> Vec<u8> {
    dmc_node::network_key::NetworkKey::from_bytes([9; 32]).noise_prologue()
}
