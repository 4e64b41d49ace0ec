//! Network hardening stories: a port in use stops a node at start, refusals are seen on both
//! sides, `allowed_peers` filters records by author whoever relays them, and mDNS adverts
//! cannot grow what a node remembers and dials without bound.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dmc_tests::node::{dmc_bin, wait_until, Lab, Node, NodeOpts};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(40);

fn peers(node: &Node) -> Vec<Value> {
    node.json(&["peers", "--json"])
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// The reason `node` lists for a refused peer it knows only by an address starting with
/// `addr`.
fn refused_at(node: &Node, addr: &str) -> Option<String> {
    peers(node)
        .into_iter()
        .find(|p| {
            p["node_id"] == "unknown"
                && p["addresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(addr)))
        })
        .and_then(|p| p["rejected"].as_str().map(str::to_string))
}

/// Runs `dmc node` with a config listening on `listen`; returns its exit code and what it
/// printed, or fails if it is still running after `timeout` (it is killed then).
fn run_node_expecting_exit(
    lab: &Lab,
    name: &str,
    listen: &str,
    timeout: Duration,
) -> anyhow::Result<(Option<i32>, String)> {
    let root = lab.path(name);
    std::fs::create_dir_all(&root)?;
    let config = root.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\nname = {name:?}\nlisten = [{listen:?}]\noutput_dir = {:?}\n\n\
             [discovery]\nmdns = false\n",
            root.join("out").display().to_string()
        ),
    )?;
    let mut child = Command::new(dmc_bin())
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("node")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting dmc node")?;
    let start = Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            bail!(
                "node {name} still runs after {timeout:?}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code(), text))
}

#[test]
fn a_second_node_on_a_port_in_use_fails_at_start_naming_the_port() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let first = Node::start(&lab, "first", NodeOpts::default())?;
    let addr = first.addr()?;
    let port = addr.rsplit('/').next().unwrap_or_default().to_string();

    let (code, said) = run_node_expecting_exit(&lab, "second", &addr, LONG)?;
    assert_ne!(code, Some(0), "{said}");
    assert!(said.contains(&format!("port {port}")), "{said}");
    assert!(said.contains("[node] listen"), "{said}");
    // The first node still holds its port alone and answers.
    assert!(first.json(&["info", "--json"])?["node_id"].is_string());
    assert_eq!(first.addr()?, addr);
    Ok(())
}

#[test]
fn a_node_dialled_by_another_network_lists_and_logs_the_refusal_once_a_minute() -> anyhow::Result<()>
{
    let lab = Lab::new()?;
    let laptop = Node::start(&lab, "laptop", NodeOpts::default())?;
    // A machine of another network (a neighbour's) has the laptop as a static peer.
    let neighbour = Node::start(
        &lab,
        "neighbour",
        NodeOpts {
            own_network: true,
            peers: vec![laptop.addr()?],
            ..Default::default()
        },
    )?;

    // The listening side, which only sees the dialler give up the handshake, lists it by
    // address (its id is not known before the handshake completes).
    let why = wait_until("the laptop to list the refusal", LONG, || {
        refused_at(&laptop, "/ip4/127.0.0.1")
    })
    .with_context(|| format!("{:#?}\n{}", peers(&laptop), laptop.log_tail()))?;
    assert_eq!(why, "rejected: different network");
    // The dialling side lists it too.
    let laptop_addr = laptop.addr()?;
    let why = wait_until("the neighbour to list the refusal", LONG, || {
        refused_at(&neighbour, &laptop_addr)
    })
    .with_context(|| format!("{:#?}\n{}", peers(&neighbour), neighbour.log_tail()))?;
    assert_eq!(why, "rejected: different network");

    // The neighbour keeps redialling (1, 2, 4, 8 s apart): the laptop logs it once.
    std::thread::sleep(Duration::from_secs(12));
    let log = laptop.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("gave up the handshake"))
        .count();
    assert_eq!(lines, 1, "{log}");
    assert!(log.contains("another network key"), "{log}");
    let listed = peers(&laptop)
        .iter()
        .filter(|p| p["rejected"].is_string())
        .count();
    assert_eq!(listed, 1, "{:#?}", peers(&laptop));
    Ok(())
}
