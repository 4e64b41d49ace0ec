//! Starting, stopping and driving real `dmc node` processes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The `dmc` binary of this workspace, built on first use if needed.
pub fn dmc_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("DMC_BIN") {
            return PathBuf::from(p);
        }
        // target/<profile>/deps/<test> -> target/<profile>/dmc
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target dir")
            .to_path_buf();
        let bin = profile_dir.join("dmc");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.args(["build", "-q", "-p", "dmc", "--bin", "dmc"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .expect("running cargo build for the dmc binary");
        assert!(status.success(), "building dmc failed");
        bin
    })
    .clone()
}

/// The number after `key=` on the first line of `log` that contains `line_has` (a node's
/// `tracing` fields, e.g. `kept_segments=3`).
pub fn logged_number(log: &str, line_has: &str, key: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains(line_has))?;
    let at = line.find(&format!("{key}="))? + key.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Polls `f` every 200 ms until it returns `Some`, or fails after `timeout` with `what`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A temporary folder holding the nodes and files of one test, and the network key its nodes
/// share (made with `dmc network new`).
pub struct Lab {
    pub dir: tempfile::TempDir,
}

impl Lab {
    pub fn new() -> Result<Lab> {
        let lab = Lab {
            dir: tempfile::Builder::new().prefix("dmc-test-").tempdir()?,
        };
        let out = Command::new(dmc_bin())
            .arg("--data-dir")
            .arg(lab.path("network"))
            .args(["network", "new"])
            .output()?;
        if !out.status.success() {
            bail!(
                "dmc network new failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(lab)
    }

    /// The lab network's key file, copied into each node's data dir.
    pub fn network_key(&self) -> PathBuf {
        self.path("network").join("network.key")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// How to configure a node.
#[derive(Clone, Debug, Default)]
pub struct NodeOpts {
    pub converter: bool,
    pub peers: Vec<String>,
    /// Extra TOML appended to the config file.
    pub extra: String,
    /// Extra TOML lines inside the `[node]` table (e.g. `lease = "10s"`).
    pub node_extra: String,
    /// Network namespace to run the node in (see `NetLab::ns`); `None` = this one.
    pub netns: Option<String>,
    /// Listen multiaddr; default `/ip4/127.0.0.1/tcp/0`.
    pub listen: Option<String>,
    /// A folder put first on the node's PATH (e.g. with an `ffmpeg` of another build).
    pub path_prefix: Option<PathBuf>,
    /// `[discovery] mdns`; only allowed inside a namespace (no multicast on real interfaces).
    pub mdns: bool,
    /// Leave out the lab's network key: the node makes a key of its own on first start (a
    /// machine of another network).
    pub own_network: bool,
    /// `[converter] workers`; default 1.
    pub workers: Option<u32>,
}

/// A running (or stopped) `dmc node` process.
pub struct Node {
    pub name: String,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub output_dir: PathBuf,
    pub work_dir: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    netns: Option<String>,
    path_prefix: Option<PathBuf>,
}

impl Node {
    /// Writes a config and starts the node; returns once its control socket answers. Every
    /// node serves its dashboard on a free loopback port (`[gui] listen = "127.0.0.1:0"`);
    /// `dmc gui` says where.
    pub fn start(lab: &Lab, name: &str, opts: NodeOpts) -> Result<Node> {
        if opts.mdns && opts.netns.is_none() {
            bail!("node {name}: mDNS is only allowed inside a lab namespace");
        }
        let listen = opts.listen.as_deref().unwrap_or("/ip4/127.0.0.1/tcp/0");
        let root = lab.path(name);
        let data_dir = root.join("data");
        let output_dir = root.join("out");
        let work_dir = root.join("work");
        fs::create_dir_all(&root)?;
        if !opts.own_network {
            fs::create_dir_all(&data_dir)?;
            fs::copy(lab.network_key(), data_dir.join("network.key"))
                .context("copying the lab's network key")?;
        }
        let peers: Vec<String> = opts.peers.iter().map(|p| format!("{p:?}")).collect();
        let config = root.join(format!("{name}.toml"));
        fs::write(
            &config,
            format!(
                "[node]\nname = {name:?}\nlisten = [{listen:?}]\noutput_dir = {:?}\n{}\n\n\
                 [gui]\nlisten = \"127.0.0.1:0\"\n\n\
                 [discovery]\nmdns = {}\npeers = [{}]\n\n\
                 [converter]\nenabled = {}\nworkers = {}\nwork_dir = {:?}\n{}\n",
                output_dir.display().to_string(),
                opts.node_extra,
                opts.mdns,
                peers.join(", "),
                opts.converter,
                opts.workers.unwrap_or(1),
                work_dir.display().to_string(),
                opts.extra
            ),
        )?;
        let mut node = Node {
            name: name.into(),
            log: root.join("node.log"),
            data_dir,
            config,
            output_dir,
            work_dir,
            child: None,
            netns: opts.netns,
            path_prefix: opts.path_prefix,
        };
        node.restart()?;
        Ok(node)
    }

    /// Starts the node process again with the same data dir and config. A node still running
    /// is stopped first (SIGTERM): otherwise the new process would exit at once (the data dir
    /// is taken) while the old one kept answering for it, and outlived the test.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut cmd = match &self.netns {
            // `ip netns exec` execs dmc, so the child's pid is dmc's.
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(dmc_bin());
                c
            }
            None => Command::new(dmc_bin()),
        };
        let child = cmd
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("node")
            .arg("--config")
            .arg(&self.config)
            .env("DMC_LOG", "info,dmc_node=debug")
            .env("PATH", self.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting dmc node")?;
        self.child = Some(child);
        let name = self.name.clone();
        wait_until(
            &format!("node {name} to answer"),
            Duration::from_secs(60),
            || {
                if let Some(c) = self.child.as_mut() {
                    if let Ok(Some(status)) = c.try_wait() {
                        panic!(
                            "node {name} exited at start ({status}):\n{}",
                            self_log(&self.log)
                        );
                    }
                }
                let info = self.json(&["info", "--json"]).ok()?;
                info["listen_addrs"]
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .map(|_| ())
            },
        )
    }

    /// The node's 127.0.0.1 TCP address, for other nodes' `peers`.
    pub fn addr(&self) -> Result<String> {
        self.addr_on("127.0.0.1")
    }

    /// The node's TCP listen address on IPv4 address `ip` (e.g. its lab LAN address).
    pub fn addr_on(&self, ip: &str) -> Result<String> {
        let info = self.json(&["info", "--json"])?;
        let prefix = format!("/ip4/{ip}/tcp/");
        info["listen_addrs"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .find(|s| s.starts_with(&prefix))
            })
            .map(str::to_string)
            .with_context(|| format!("node {} has no {ip} listen address", self.name))
    }

    /// Rewrites the config so the node listens on the port it has now, and restarts it, so
    /// its address stays the same across later restarts.
    pub fn pin_port(&mut self) -> Result<String> {
        let addr = self.addr()?;
        let port = addr.rsplit('/').next().unwrap_or_default().to_string();
        let cfg = fs::read_to_string(&self.config)?;
        fs::write(
            &self.config,
            cfg.replace("/tcp/0\"", &format!("/tcp/{port}\"")),
        )?;
        self.stop();
        self.restart()?;
        Ok(addr)
    }

    /// Adds a static peer to the config and restarts the node.
    pub fn add_peer(&mut self, addr: &str) -> Result<()> {
        let cfg = fs::read_to_string(&self.config)?;
        fs::write(
            &self.config,
            cfg.replacen("peers = [", &format!("peers = [{addr:?}, "), 1),
        )?;
        self.stop();
        self.restart()
    }

    pub fn node_id(&self) -> Result<String> {
        Ok(self.json(&["info", "--json"])?["node_id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The node process's PATH: `path_prefix` first, if any.
    fn path(&self) -> std::ffi::OsString {
        let base = std::env::var_os("PATH").unwrap_or_default();
        match &self.path_prefix {
            Some(dir) => {
                let mut dirs = vec![dir.clone()];
                dirs.extend(std::env::split_paths(&base));
                std::env::join_paths(dirs).unwrap_or(base)
            }
            None => base,
        }
    }

    /// Runs `dmc --data-dir <this node> ARGS`.
    pub fn dmc(&self, args: &[&str]) -> Result<Output> {
        Command::new(dmc_bin())
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running dmc")
    }

    /// `dmc peers --json`, or nothing when it fails.
    pub fn peers(&self) -> Vec<Value> {
        self.json(&["peers", "--json"])
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// A laptop, and a converter with `converter_extra` in its `[converter]` table that the
    /// laptop has as a static peer: (laptop, converter).
    pub fn laptop_and_converter_with(lab: &Lab, converter_extra: &str) -> Result<(Node, Node)> {
        let (converter, laptop) = Node::pair(lab, converter_extra, false)?;
        Ok((laptop, converter))
    }

    /// A converter, and a laptop that has it as a static peer; `own_network`: the laptop holds
    /// a key of its own instead of the lab's.
    pub fn converter_and_laptop(lab: &Lab, own_network: bool) -> Result<(Node, Node)> {
        Node::pair(lab, "", own_network)
    }

    /// (converter, laptop): the converter with `converter_extra` in its `[converter]` table,
    /// the laptop with the converter as a static peer and, with `own_network`, a key of its
    /// own.
    fn pair(lab: &Lab, converter_extra: &str, own_network: bool) -> Result<(Node, Node)> {
        let converter = Node::start(
            lab,
            "converter",
            NodeOpts {
                converter: true,
                extra: converter_extra.into(),
                ..Default::default()
            },
        )?;
        let laptop = Node::start(
            lab,
            "laptop",
            NodeOpts {
                own_network,
                peers: vec![converter.addr()?],
                ..Default::default()
            },
        )?;
        Ok((converter, laptop))
    }

    /// Runs a command that prints JSON and parses it; fails on a non-zero exit.
    pub fn json(&self, args: &[&str]) -> Result<Value> {
        let out = self.dmc(args)?;
        if !out.status.success() {
            bail!(
                "dmc {:?} failed: {}",
                args,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "dmc {:?} printed no JSON: {}",
                args,
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Offers a file and returns its item id.
    pub fn offer(&self, file: &Path, profile: &str) -> Result<String> {
        let v = self.json(&[
            "offer",
            file.to_str().context("path")?,
            "--profile",
            profile,
            "--json",
        ])?;
        let first = v.as_array().and_then(|a| a.first()).cloned().unwrap_or(v);
        let id = first["item_id"]
            .as_str()
            .or(first["item"]["item_id"].as_str());
        id.map(str::to_string).context("offer printed no item_id")
    }

    pub fn status(&self, item: &str) -> Result<Value> {
        self.json(&["status", item, "--json"])
    }

    /// Waits until the item reaches a final phase; returns its status.
    pub fn wait_final(&self, item: &str, timeout: Duration) -> Result<Value> {
        wait_until(
            &format!("item {item} to finish on {}", self.name),
            timeout,
            || {
                let s = self.status(item).ok()?;
                matches!(
                    s["phase"].as_str(),
                    Some("delivered" | "failed" | "cancelled")
                )
                .then_some(s)
            },
        )
        .with_context(|| format!("log of {}:\n{}", self.name, self.log_tail()))
    }

    /// Waits until the item's phase is one of `phases`.
    pub fn wait_phase(&self, item: &str, phases: &[&str], timeout: Duration) -> Result<Value> {
        wait_until(
            &format!("item {item} to reach {phases:?} on {}", self.name),
            timeout,
            || {
                let s = self.status(item).ok()?;
                phases
                    .contains(&s["phase"].as_str().unwrap_or_default())
                    .then_some(s)
            },
        )
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc_kill(c.id() as i32, 15) };
        c.wait().ok().and_then(|s| s.code())
    }

    /// Everything the node process logged so far.
    pub fn log_text(&self) -> String {
        self_log(&self.log)
    }

    pub fn log_tail(&self) -> String {
        let s = self_log(&self.log);
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Files in a folder, recursively, as paths relative to it.
    pub fn files_in(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(rel) = p.strip_prefix(dir) {
                    out.push(rel.to_path_buf());
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn self_log(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
