//! Network hardening stories: a port in use stops a node at start, refusals are seen on both
//! sides, `allowed_peers` filters records by author whoever relays them, and mDNS adverts
//! cannot grow what a node remembers and dials without bound.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dmc_tests::node::{dmc_bin, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(40);

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
