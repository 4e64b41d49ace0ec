//! Stories on a LAN lab: real `dmc node` processes in network namespaces joined by a bridge,
//! finding each other by mDNS, losing and regaining their links. Needs root and iproute2, so
//! every test is `#[ignore]`d: run them with `-- --include-ignored` (as `.ci/run` does), where
//! a missing privilege or tool fails the test with what to install.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_tests::{make_clip, make_noisy_clip, needs, wait_until, Lab, NetLab, Node, NodeOpts};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(300);
const FIND: Duration = Duration::from_secs(90);
/// Every lab node listens on this port (each namespace has its own ports).
const PORT: u16 = 4747;

/// How a lab node is set up.
#[derive(Default)]
struct Spec<'a> {
    converter: bool,
    mdns: bool,
    peers: Vec<String>,
    node_extra: &'a str,
    /// A key of its own: a machine of another dmc network on the same LAN.
    own_network: bool,
}

/// Starts node `name` in host `host` of `net`, listening on all of the host's addresses.
fn lab_node(lab: &Lab, net: &NetLab, host: usize, name: &str, spec: Spec) -> Node {
    Node::start(
        lab,
        name,
        NodeOpts {
            converter: spec.converter,
            peers: spec.peers,
            node_extra: spec.node_extra.into(),
            netns: Some(net.ns(host).into()),
            listen: Some(format!("/ip4/0.0.0.0/tcp/{PORT}")),
            mdns: spec.mdns,
            own_network: spec.own_network,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("starting {name} in host {host}: {e:#}"))
}

/// Node ids that `dmc peers --json` on `node` shows online.
fn online_peers(node: &Node) -> Vec<String> {
    let Ok(v) = node.json(&["peers", "--json"]) else {
        return Vec::new();
    };
    v.as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["online"] == true)
                .filter_map(|p| p["node_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `node` lists every id in `others` as an online peer.
fn wait_sees(node: &Node, others: &[String], timeout: Duration) {
    wait_until(
        &format!("{} to list {others:?} as online peers", node.name),
        timeout,
        || {
            let seen = online_peers(node);
            others.iter().all(|o| seen.contains(o)).then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nlog of {}:\n{}", node.name, node.log_tail()));
}

/// Result files (no `.part`) in a node's output folder.
fn results(node: &Node) -> Vec<PathBuf> {
    Node::files_in(&node.output_dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".part"))
        .collect()
}

fn assert_delivered(laptop: &Node, status: &Value) {
    assert_eq!(status["phase"], "delivered", "{status:#}");
    assert_eq!(status["status"], "finished_successful", "{status:#}");
    let out = Path::new(status["output_path"].as_str().expect("output_path"));
    assert!(out.starts_with(&laptop.output_dir), "{}", out.display());
    assert!(out.is_file(), "{} is missing", out.display());
    assert_eq!(results(laptop).len(), 1, "{:?}", results(laptop));
}

fn id_of(node: &Node) -> String {
    node.node_id()
        .unwrap_or_else(|e| panic!("{}: {e:#}", node.name))
}

/// The harness itself, with static peers (no mDNS): two hosts convert a clip; the laptop's
/// link is cut, it offers another clip, nothing moves; the link comes back and the item
/// completes with no further command.
#[test]
#[ignore = "needs root and ip netns"]
fn static_peers_convert_across_hosts_and_wait_out_a_cut_link() {
    let net = NetLab::for_test(2);
    let lab = Lab::new().unwrap();
    let converter_addr = format!("/ip4/{}/tcp/{PORT}", net.ip(1));
    let converter = lab_node(
        &lab,
        &net,
        1,
        "converter",
        Spec {
            converter: true,
            ..Default::default()
        },
    );
    let laptop = lab_node(
        &lab,
        &net,
        0,
        "laptop",
        Spec {
            peers: vec![converter_addr],
            ..Default::default()
        },
    );
    // The converter listens on its LAN address (the laptop, in another namespace, dials it).
    assert!(converter.addr_on(&net.ip(1)).is_ok());
    wait_sees(&laptop, &[id_of(&converter)], FIND);

    let first = lab.path("first.mp4");
    make_clip(&first, 2, "320x240").unwrap();
    let id = laptop.offer(&first, "mkv-x264").unwrap();
    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_delivered(&laptop, &s);

    net.cut_link(0).unwrap();
    let second = lab.path("second.mp4");
    // Not the same bytes as the first: an identical file is the same item.
    make_clip(&second, 3, "320x240").unwrap();
    let id2 = laptop.offer(&second, "mkv-x264").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let s = laptop.status(&id2).unwrap();
    assert_ne!(
        s["phase"], "delivered",
        "delivered with the link down: {s:#}"
    );
    assert_eq!(
        converter.status(&id2).ok().map(|v| v["phase"].clone()),
        None,
        "the converter heard of the item with the laptop's link down"
    );

    net.restore_link(0).unwrap();
    let s = laptop.wait_final(&id2, LONG).unwrap();
    assert_eq!(s["phase"], "delivered", "{s:#}");
    assert_eq!(results(&laptop).len(), 2, "{:?}", results(&laptop));
}

/// Three hosts with nothing configured find each other by mDNS; `dmc peers` on each lists the
/// other two. Needs mDNS discovery.
#[test]
#[ignore = "needs root and ip netns"]
fn three_hosts_find_each_other_with_nothing_configured() {
    let net = NetLab::for_test(3);
    let lab = Lab::new().unwrap();
    let nodes: Vec<Node> = (0..3)
        .map(|k| {
            lab_node(
                &lab,
                &net,
                k,
                &format!("host{k}"),
                Spec {
                    mdns: true,
                    converter: k == 2,
                    ..Default::default()
                },
            )
        })
        .collect();
    let ids: Vec<String> = nodes.iter().map(id_of).collect();
    for (k, node) in nodes.iter().enumerate() {
        let others: Vec<String> = ids
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != k)
            .map(|(_, id)| id.clone())
            .collect();
        wait_sees(node, &others, FIND);
        // And the plain `dmc peers` table names them, with an address and "online", once
        // their node records have arrived (they follow the connection by a moment).
        let named = wait_until(
            &format!("`dmc peers` on host{k} to name the others"),
            FIND,
            || {
                let out = node.dmc(&["peers"]).ok()?;
                let table = String::from_utf8_lossy(&out.stdout).to_string();
                (0..3)
                    .filter(|j| *j != k)
                    .all(|j| {
                        table.lines().any(|l| {
                            l.starts_with(&format!("host{j} "))
                                && l.contains("online")
                                && l.contains(&format!("/ip4/{}/", net.ip(j)))
                        })
                    })
                    .then_some(table)
            },
        );
        if let Err(e) = named {
            let out = node.dmc(&["peers"]).unwrap();
            panic!("{e:#}:\n{}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

/// A laptop offers a clip while its link is down; when the link comes back the result lands
/// in its output folder with no further command. Needs mDNS discovery and fast rejoin.
#[test]
#[ignore = "needs root and ip netns"]
fn clip_offered_while_link_down_is_delivered_after_link_up() {
    let net = NetLab::for_test(2);
    let lab = Lab::new().unwrap();
    let spec = |converter| Spec {
        converter,
        mdns: true,
        ..Default::default()
    };
    let laptop = lab_node(&lab, &net, 0, "laptop", spec(false));
    let converter = lab_node(&lab, &net, 1, "converter", spec(true));
    wait_sees(&laptop, &[id_of(&converter)], FIND);

    net.cut_link(0).unwrap();
    let clip = lab.path("trip.mp4");
    make_clip(&clip, 2, "320x240").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(laptop.status(&id).unwrap()["phase"], "delivered");

    net.restore_link(0).unwrap();
    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_delivered(&laptop, &s);
}

/// The converter's link is cut mid-conversion; after the lease runs out a second converter
/// takes the item, and exactly one result is delivered, also once the first converter is
/// back. Needs mDNS discovery and leases (`[node] lease`).
#[test]
#[ignore = "needs root and ip netns"]
fn converter_cut_mid_conversion_second_converter_takes_over_after_lease() {
    let net = NetLab::for_test(3);
    let lab = Lab::new().unwrap();
    let spec = |converter| Spec {
        converter,
        mdns: true,
        node_extra: "lease = \"10s\"",
        ..Default::default()
    };
    let laptop = lab_node(&lab, &net, 0, "laptop", spec(false));
    let converters = [
        lab_node(&lab, &net, 1, "converter1", spec(true)),
        lab_node(&lab, &net, 2, "converter2", spec(true)),
    ];
    let conv_ids: Vec<String> = converters.iter().map(id_of).collect();
    wait_sees(&laptop, &conv_ids, FIND);

    // Noise is slow to encode: tens of seconds of x265, so the cut lands mid-conversion.
    let clip = lab.path("noisy.mp4");
    make_noisy_clip(&clip, 6).unwrap();
    let id = laptop.offer(&clip, "mkv-x265").unwrap();
    let s = laptop
        .wait_phase(&id, &["converting"], LONG)
        .unwrap_or_else(|e| panic!("{e:#}\n{}", laptop.log_tail()));
    let first = s["server_id"].as_str().expect("server_id").to_string();
    let cut = conv_ids
        .iter()
        .position(|c| *c == first)
        .unwrap_or_else(|| panic!("server {first} is none of the converters {conv_ids:?}"));
    net.cut_link(cut + 1).unwrap();

    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_delivered(&laptop, &s);
    assert_eq!(
        s["server_id"].as_str(),
        Some(conv_ids[1 - cut].as_str()),
        "the second converter did not take over: {s:#}"
    );

    // The first converter comes back; it does not deliver a second result.
    net.restore_link(cut + 1).unwrap();
    let back = &converters[cut];
    wait_until(
        &format!("{} to learn that the item was delivered", back.name),
        LONG,
        || (back.status(&id).ok()?["phase"] == "delivered").then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e:#}\nlog of {}:\n{}", back.name, back.log_tail()));
    let s = laptop.status(&id).unwrap();
    assert_delivered(&laptop, &s);
    assert_eq!(
        s["server_id"].as_str(),
        Some(conv_ids[1 - cut].as_str()),
        "{s:#}"
    );

    // It stops its job and leaves nothing in its work dir.
    wait_until(
        &format!("{} to clean its work dir", back.name),
        LONG,
        || Node::files_in(&back.work_dir).is_empty().then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e:#}: {:?}", Node::files_in(&back.work_dir)));

    // All three nodes converge on the same state of the item: same phase, same version.
    let everyone = [&laptop, &converters[0], &converters[1]];
    wait_until("the three nodes to agree on the item", LONG, || {
        let views: Vec<(Value, Value, Value)> = everyone
            .iter()
            .map(|n| {
                let v = n.status(&id).ok()?;
                Some((
                    v["phase"].clone(),
                    v["version"].clone(),
                    v["server_id"].clone(),
                ))
            })
            .collect::<Option<_>>()?;
        views.iter().all(|v| *v == views[0]).then_some(())
    })
    .unwrap();
}

/// A neighbour's dmc, with a network key of its own, on the same LAN: each node lists the
/// other as rejected ("different network"), neither dials it, and no item crosses.
#[test]
#[ignore = "needs root and ip netns"]
fn a_neighbours_network_on_the_same_lan_is_seen_and_refused() {
    let net = NetLab::for_test(2);
    let lab = Lab::new().unwrap();
    let converter = lab_node(
        &lab,
        &net,
        0,
        "converter",
        Spec {
            mdns: true,
            converter: true,
            ..Default::default()
        },
    );
    // The neighbour's laptop runs dmc too, with its own key, and offers a clip.
    let neighbour = lab_node(
        &lab,
        &net,
        1,
        "neighbour",
        Spec {
            mdns: true,
            own_network: true,
            ..Default::default()
        },
    );
    let clip = lab.path("neighbour.mp4");
    make_clip(&clip, 2, "320x240").unwrap();
    let item = neighbour.offer(&clip, "mkv-x264").unwrap();
    // Each sees the other's advert, with another network's fingerprint: listed, never dialled.
    for (node, other) in [(&converter, &neighbour), (&neighbour, &converter)] {
        let other_id = id_of(other);
        let why = wait_until(
            &format!("{} to list {} as rejected", node.name, other.name),
            FIND,
            || {
                let v = node.json(&["peers", "--json"]).ok()?;
                v.as_array()?
                    .iter()
                    .find(|p| p["node_id"] == other_id.as_str())
                    .and_then(|p| p["rejected"].as_str().map(str::to_string))
            },
        )
        .unwrap_or_else(|e| panic!("{e:#}\n{}", node.log_tail()));
        assert_eq!(why, "rejected: different network");
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(online_peers(&converter).is_empty());
    assert!(online_peers(&neighbour).is_empty());
    let items = converter.json(&["list", "--all", "--json"]).unwrap();
    assert_eq!(
        items["items"].as_array().map(Vec::len),
        Some(0),
        "{items:#}"
    );
    assert_eq!(neighbour.status(&item).unwrap()["status"], "to_do");
}

/// python-zeroconf, an mDNS implementation that is not ours, browses `_dmc._tcp` from a third
/// host and sees both nodes with their TXT fields. Needs mDNS discovery.
#[test]
#[ignore = "needs root, ip netns and python-zeroconf"]
fn python_zeroconf_sees_the_nodes_with_their_txt_fields() {
    needs::python_module("zeroconf", "python3 -m pip install zeroconf==0.136.0");
    let net = NetLab::for_test(3);
    let lab = Lab::new().unwrap();
    let spec = |converter| Spec {
        converter,
        mdns: true,
        ..Default::default()
    };
    let nodes = [
        lab_node(&lab, &net, 0, "converter", spec(true)),
        lab_node(&lab, &net, 1, "laptop", spec(false)),
    ];
    let ids: Vec<String> = nodes.iter().map(id_of).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("lab/zeroconf_browse.py");

    let mut last = Value::Null;
    let found = wait_until("python-zeroconf to see both nodes", FIND, || {
        let out = net
            .exec(2, &["python3", script.to_str()?, "_dmc._tcp.local.", "4"])
            .ok()?;
        last = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let services = last.as_array()?.clone();
        let by_id: Vec<Value> = ids
            .iter()
            .filter_map(|id| {
                services
                    .iter()
                    .find(|s| s["properties"]["id"].as_str() == Some(id))
                    .cloned()
            })
            .collect();
        (by_id.len() == ids.len()).then_some(by_id)
    });
    let found = found.unwrap_or_else(|e| {
        panic!(
            "{e:#}\nlast browse: {last:#}\nlog of converter:\n{}",
            nodes[0].log_tail()
        )
    });
    for (k, service) in found.iter().enumerate() {
        for key in ["id", "net", "ver", "role"] {
            assert!(
                service["properties"][key].is_string(),
                "TXT of {} has no `{key}`: {service:#}",
                nodes[k].name
            );
        }
        assert_eq!(service["port"], PORT, "{service:#}");
        let addrs = service["addresses"].as_array().cloned().unwrap_or_default();
        assert!(
            addrs.iter().any(|a| a.as_str() == Some(net.ip(k).as_str())),
            "{} not among the advertised addresses: {service:#}",
            net.ip(k)
        );
    }
    assert_ne!(
        found[0]["properties"]["role"], found[1]["properties"]["role"],
        "a converter and a client advertise the same role"
    );
}
