//! Network hardening stories: a port in use stops a node at start, refusals are seen on both
//! sides, `allowed_peers` filters records by author whoever relays them, and mDNS adverts
//! cannot grow what a node remembers and dials without bound.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use dmc_protocol::wire::Request;
use dmc_tests::media::make_clip;
use dmc_tests::node::{dmc_bin, wait_until, Lab, Node, NodeOpts};
use dmc_tests::rogue::Rogue;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(40);

/// The reason `node` lists for a refused peer it knows only by an address starting with
/// `addr`.
fn refused_at(node: &Node, addr: &str) -> Option<String> {
    node.peers()
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
    .with_context(|| format!("{:#?}\n{}", laptop.peers(), laptop.log_tail()))?;
    assert_eq!(why, "rejected: different network");
    // The dialling side lists it too.
    let laptop_addr = laptop.addr()?;
    let why = wait_until("the neighbour to list the refusal", LONG, || {
        refused_at(&neighbour, &laptop_addr)
    })
    .with_context(|| format!("{:#?}\n{}", neighbour.peers(), neighbour.log_tail()))?;
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
    let listed = laptop
        .peers()
        .iter()
        .filter(|p| p["rejected"].is_string())
        .count();
    assert_eq!(listed, 1, "{:#?}", laptop.peers());
    Ok(())
}

fn items(node: &Node) -> Vec<Value> {
    node.json(&["list", "--all", "--json"])
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

fn lists_item(node: &Node, id: &str) -> bool {
    items(node).iter().any(|i| i["item_id"] == id)
}

#[test]
fn an_outsiders_offer_relayed_by_an_allowed_node_never_reaches_the_laptop() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    // The relay lets every key holder in; the laptop only the relay.
    let relay = Node::start(&lab, "relay", NodeOpts::default())?;
    let mut laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![relay.addr()?],
            extra: format!("\n[network]\nallowed_peers = [{:?}]\n", relay.node_id()?),
            ..Default::default()
        },
    )?;
    let laptop_id = laptop.node_id()?;
    wait_until("the relay to see the laptop", LONG, || {
        relay
            .peers()
            .iter()
            .any(|p| p["node_id"] == laptop_id.as_str() && p["online"] == true)
            .then_some(())
    })?;

    // An outsider holding the key offers through the relay, which takes it and pushes it on.
    let mut outsider = Rogue::start(Some(&lab.network_key()))?;
    let peer = outsider.dial(&relay.addr()?)?;
    let clip = lab.path("outsider.mp4");
    make_clip(&clip, 1, "160x120")?;
    let offer = outsider.offer(&clip, "mkv-x264")?;
    let outsider_item = offer
        .body
        .item_id()
        .context("offer has an item")?
        .to_string();
    outsider.request(
        peer,
        Request::Push {
            records: vec![offer],
        },
    )?;
    wait_until("the relay to take the outsider's offer", LONG, || {
        lists_item(&relay, &outsider_item).then_some(())
    })?;
    // The relay's own offer goes through, after the outsider's: by then the laptop had it.
    let own = lab.path("relay.mp4");
    make_clip(&own, 1, "176x144")?;
    let relay_item = relay.offer(&own, "mkv-x264")?;
    wait_until("the laptop to get the relay's offer", LONG, || {
        lists_item(&laptop, &relay_item).then_some(())
    })
    .with_context(|| laptop.log_tail())?;
    // A sync later brings it no more than the push did.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !lists_item(&laptop, &outsider_item),
        "{:#?}",
        items(&laptop)
    );
    wait_until("the laptop to log the refusal", LONG, || {
        laptop
            .log_text()
            .contains("not in [network] allowed_peers, relayed by")
            .then_some(())
    })
    .with_context(|| laptop.log_tail())?;
    let log = laptop.log_text();
    let logged = log.lines().filter(|l| l.contains("relayed by")).count();
    assert_eq!(logged, 1, "{log}");

    // While the laptop is away, the outsider offers again; the laptop catches up by sync
    // pages when it is back, which bring the relay's records and none of the outsider's.
    laptop.stop();
    let clip2 = lab.path("outsider2.mp4");
    make_clip(&clip2, 1, "128x96")?;
    let offer = outsider.offer(&clip2, "mkv-x264")?;
    let outsider_item2 = offer
        .body
        .item_id()
        .context("offer has an item")?
        .to_string();
    outsider.request(
        peer,
        Request::Push {
            records: vec![offer],
        },
    )?;
    let own2 = lab.path("relay2.mp4");
    make_clip(&own2, 1, "192x144")?;
    let relay_item2 = relay.offer(&own2, "mkv-x264")?;
    wait_until("the relay to take the second offer", LONG, || {
        lists_item(&relay, &outsider_item2).then_some(())
    })?;
    laptop.restart()?;
    wait_until("the laptop to sync the relay's second offer", LONG, || {
        lists_item(&laptop, &relay_item2).then_some(())
    })
    .with_context(|| laptop.log_tail())?;
    std::thread::sleep(Duration::from_secs(3));
    let listed = items(&laptop);
    assert!(
        !listed
            .iter()
            .any(|i| i["item_id"] == outsider_item.as_str()
                || i["item_id"] == outsider_item2.as_str()),
        "{listed:#?}"
    );
    Ok(())
}

/// The pid of the `dmc node` process whose command line names `data_dir`.
fn node_pid(data_dir: &std::path::Path) -> Option<u32> {
    let needle = data_dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        (cmd.contains(&needle) && cmd.contains(" node ") && !cmd.starts_with("ip ")).then_some(pid)
    })
}

/// Resident memory (KiB) and open file descriptors of process `pid`.
fn rss_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

/// How long `dmc status` takes to answer.
fn status_latency(node: &Node) -> Duration {
    let start = Instant::now();
    let out = node.dmc(&["status", "--json"]);
    assert!(out.is_ok_and(|o| o.status.success()), "dmc status failed");
    start.elapsed()
}

#[test]
#[ignore = "needs root, ip netns and python-zeroconf"]
fn a_flood_of_fake_mdns_adverts_leaves_memory_fds_and_latency_flat() -> anyhow::Result<()> {
    dmc_tests::needs::python_module("zeroconf", "python3 -m pip install zeroconf==0.136.0");
    let net = dmc_tests::NetLab::for_test(2);
    let lab = Lab::new()?;
    let node = Node::start(
        &lab,
        "node",
        NodeOpts {
            netns: Some(net.ns(0).into()),
            listen: Some("/ip4/0.0.0.0/tcp/4747".into()),
            mdns: true,
            ..Default::default()
        },
    )?;
    let fingerprint = node
        .log_text()
        .split("fingerprint=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_string)
        .context("the node logs its network's fingerprint")?;
    let pid = node_pid(&node.data_dir).context("the node's pid")?;
    std::thread::sleep(Duration::from_secs(5));
    let (rss0, fds0) = rss_and_fds(pid);
    let latency0 = status_latency(&node);

    let ip = net.ip(1);
    let subnet = ip.rsplit_once('.').map(|(s, _)| s).unwrap_or_default();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/zeroconf_flood.py");
    let mut flood = net
        .command(1, "python3")
        .arg(&script)
        .args([
            fingerprint.as_str(),
            dmc_protocol::wire::PROTOCOL_NAME,
            subnet,
            "1000",
            "40",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    // While the adverts come in and the fake hosts are dialled: sample.
    let (mut rss_max, mut fds_max, mut latency_max) = (rss0, fds0, latency0);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(45) {
        let (rss, fds) = rss_and_fds(pid);
        rss_max = rss_max.max(rss);
        fds_max = fds_max.max(fds);
        latency_max = latency_max.max(status_latency(&node));
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = flood.kill();
    let _ = flood.wait();
    let log = node.log_text();
    let found = log.matches("mDNS: found a dmc node").count();
    eprintln!(
        "rss {rss0} -> max {rss_max} KiB, fds {fds0} -> max {fds_max}, status {latency0:?} -> \
         max {latency_max:?}, adverts dialled {found}"
    );
    assert!(
        found > 100,
        "the flood did not reach the node:\n{}",
        node.log_tail()
    );
    assert!(!log.contains("203.0.113."), "a public address was dialled");
    assert!(fds_max <= fds0 + 40, "fds {fds0} -> {fds_max}");
    assert!(rss_max <= rss0 + 64 * 1024, "rss {rss0} -> {rss_max} KiB");
    assert!(
        latency_max < Duration::from_secs(2),
        "status took {latency_max:?}"
    );
    Ok(())
}
