//! A LAN lab: N host network namespaces joined by a Linux bridge that lives in its own "switch"
//! namespace, so nothing touches the machine's own interfaces. Links can be cut, restored and
//! shaped with `tc`; dropping the lab kills what runs in it and deletes every namespace.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Prefix of every namespace a lab creates; stale ones (of dead processes) are swept.
const PREFIX: &str = "dmclab-";

/// A set of host namespaces on one bridged LAN.
pub struct NetLab {
    switch: String,
    hosts: Vec<String>,
    /// First three octets of the lab's /24, e.g. `10.142.7`.
    subnet: String,
}

impl NetLab {
    /// Builds a lab of `n_hosts` hosts; an error says so when this process can't make network
    /// namespaces (not root, or no working `ip netns`).
    pub fn new(n_hosts: usize) -> Result<NetLab> {
        if !crate::needs::is_root() {
            bail!("the LAN lab needs root (it makes network namespaces)");
        }
        check_ip_netns()?;
        sweep_stale();
        let pid = std::process::id();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("{PREFIX}{pid}-{n}");
        let subnet = format!("10.{}.{}", 100 + pid % 100, n % 256);
        let mut lab = NetLab {
            switch: format!("{base}-sw"),
            hosts: Vec::new(),
            subnet,
        };
        // From here on, Drop deletes whatever was made, also on failure.
        ip(&["netns", "add", &lab.switch])?;
        ipn(&lab.switch, &["link", "set", "lo", "up"])?;
        ipn(&lab.switch, &["link", "add", "br0", "type", "bridge"])?;
        ipn(
            &lab.switch,
            &[
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        )?;
        ipn(&lab.switch, &["link", "set", "br0", "up"])?;
        for k in 0..n_hosts {
            let ns = format!("{base}-h{k}");
            ip(&["netns", "add", &ns])?;
            lab.hosts.push(ns.clone());
            let port = switch_port(k);
            ipn(
                &lab.switch,
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            ipn(&lab.switch, &["link", "set", &port, "master", "br0", "up"])?;
            ipn(&ns, &["link", "set", "lo", "up"])?;
            ipn(
                &ns,
                &["addr", "add", &format!("{}/24", lab.ip(k)), "dev", "eth0"],
            )?;
            ipn(&ns, &["link", "set", "eth0", "up"])?;
        }
        Ok(lab)
    }

    /// `NetLab::new` for a test (`#[ignore = "needs root and ip netns"]`): panics, naming what
    /// is missing and how to get it, when the lab can't be built here.
    pub fn for_test(n_hosts: usize) -> NetLab {
        crate::needs::root("build a LAN lab of network namespaces");
        crate::needs::tool("ip", &["netns", "list"], "apt-get install iproute2");
        NetLab::new(n_hosts).unwrap_or_else(|e| panic!("building the LAN lab failed: {e:#}"))
    }

    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// Name of host `k`'s network namespace.
    pub fn ns(&self, k: usize) -> &str {
        &self.hosts[k]
    }

    /// Host `k`'s IPv4 address on the lab's LAN.
    pub fn ip(&self, k: usize) -> String {
        format!("{}.{}", self.subnet, k + 1)
    }

    /// Takes host `k`'s link down, as if its cable were pulled.
    pub fn cut_link(&self, k: usize) -> Result<()> {
        ipn(&self.hosts[k], &["link", "set", "eth0", "down"])
    }

    /// Brings host `k`'s link up again.
    pub fn restore_link(&self, k: usize) -> Result<()> {
        ipn(&self.hosts[k], &["link", "set", "eth0", "up"])
    }

    /// Limits both directions of host `k`'s link to `rate` (tc syntax, e.g. `1gbit`) with a
    /// token bucket on the host's eth0 and on the switch's port toward it.
    pub fn shape(&self, k: usize, rate: &str) -> Result<()> {
        let tbf = |ns: &str, dev: &str| {
            run(Command::new("ip")
                .args(["netns", "exec", ns, "tc", "qdisc", "replace", "dev"])
                .args([
                    dev, "root", "tbf", "rate", rate, "burst", "1mb", "latency", "50ms",
                ]))
        };
        tbf(&self.hosts[k], "eth0")?;
        tbf(&self.switch, &switch_port(k))
    }

    /// A command that runs `program` inside host `k`'s namespace (`ip netns exec` execs it, so
    /// the child's pid is the program's).
    pub fn command(&self, k: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[k]]).arg(program);
        c
    }

    /// Runs `cmd` (program and arguments) in host `k` and waits for it.
    pub fn exec(&self, k: usize, cmd: &[&str]) -> Result<Output> {
        let (program, args) = cmd.split_first().context("exec: empty command")?;
        self.command(k, program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {cmd:?} in {}", self.hosts[k]))
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain(std::iter::once(&self.switch)) {
            remove_namespace(ns);
        }
    }
}

/// The switch-side name of host `k`'s veth pair.
fn switch_port(k: usize) -> String {
    format!("port{k}")
}

/// Fails unless `ip netns` works here (iproute2 installed).
fn check_ip_netns() -> Result<()> {
    run(Command::new("ip").args(["netns", "list"]))
        .context("the LAN lab needs `ip netns` (apt-get install iproute2)")
}

/// Kills the processes in a namespace and deletes it.
fn remove_namespace(ns: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: plain kill(2); the pid was listed as living in our namespace.
                unsafe { kill(pid, 9) };
            }
        }
    }
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
}

/// Deletes namespaces left by lab processes that died without cleaning up.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            remove_namespace(name);
        }
    }
}

fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args))
}

fn ipn(ns: &str, args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(["-n", ns]).args(args))
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}
