//! Security stories: only machines holding the network key talk, records count only from the
//! node entitled to them, and nothing a peer sends crashes a node, reaches outside its folders
//! or fetches a file that is not its own. The hostile peer is [`Rogue`]: a real libp2p node
//! speaking dmc's protocol.

use std::time::Duration;

use anyhow::Context;

use dmc_protocol::wire::{ErrorCode, FileRole, Request, Response, MAX_RECORDS_PER_MESSAGE};
use dmc_protocol::{ConverterAd, ItemId, MediaType, NodeInfo, RecordBody};
use dmc_tests::media::{make_clip, remux_to_mkv};
use dmc_tests::node::{wait_until, Lab, Node, NodeOpts};
use dmc_tests::rogue::{item_id, Rogue};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(40);

fn rejected_as(node: &Node, id: &str) -> Option<String> {
    node.peers()
        .into_iter()
        .find(|p| p["node_id"] == id)
        .and_then(|p| p["rejected"].as_str().map(str::to_string))
}

/// Why `node` refused the peer at `addr` (dialled by address, so its id may be unknown).
fn rejected_at(node: &Node, addr: &str) -> Option<String> {
    node.peers()
        .into_iter()
        .find(|p| {
            p["addresses"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x.as_str().is_some_and(|x| addr.starts_with(x)))
            })
        })
        .and_then(|p| p["rejected"].as_str().map(str::to_string))
}

fn items(node: &Node) -> Vec<Value> {
    node.json(&["list", "--all", "--json"])
        .ok()
        .and_then(|v| v["items"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn nodes_with_different_keys_exchange_nothing() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    // The laptop made a key of its own: another network, though it knows the address.
    let (converter, laptop) = Node::converter_and_laptop(&lab, true)?;
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 2, "320x240")?;
    let item = laptop.offer(&clip, "mkv-x264")?;
    let converter_addr = converter.addr()?;

    // The laptop's dial fails the handshake: it says so and lists the converter as rejected.
    let why = wait_until("the laptop to reject the converter", LONG, || {
        rejected_at(&laptop, &converter_addr)
    })
    .with_context(|| format!("{:#?}\n{}", laptop.peers(), laptop.log_tail()))?;
    assert_eq!(why, "rejected: different network");
    assert!(
        laptop.log_text().contains("another network key"),
        "{}",
        laptop.log_tail()
    );
    // Give it a few more redials: still nothing crosses.
    std::thread::sleep(Duration::from_secs(3));
    assert!(items(&converter).is_empty(), "{:#?}", items(&converter));
    assert!(converter.peers().iter().all(|p| p["online"] != true));
    assert!(laptop
        .peers()
        .iter()
        .all(|p| p["online"] != true && p["name"].is_null()));
    assert!(Node::files_in(&converter.work_dir).is_empty());
    let s = laptop.status(&item)?;
    assert_eq!(s["status"], "to_do", "{s:#}");
    Ok(())
}

#[test]
fn allowed_peers_narrows_the_network_to_named_nodes() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let outsider = Rogue::start(None)?;
    let member = Rogue::start(Some(&lab.network_key()))?;
    let friend = Rogue::start(Some(&lab.network_key()))?;
    let node = Node::start(
        &lab,
        "node",
        NodeOpts {
            extra: format!(
                "\n[network]\nallowed_peers = [{:?}]\n",
                friend.node_id().as_str()
            ),
            ..Default::default()
        },
    )?;
    let addr = node.addr()?;
    // Another key: the handshake fails on the dialler's side.
    assert!(outsider.dial(&addr).is_err());
    // The key but not listed: connected, then cut off before anything is asked.
    let peer = member.dial(&addr);
    if let Ok(peer) = peer {
        let asked = member.request(
            peer,
            Request::SyncDigest {
                digest: vec![0; 16],
            },
        );
        assert!(!matches!(
            asked,
            Ok(Response::Summary { .. } | Response::InSync)
        ));
    }
    let why = wait_until("the node to list the unlisted member", LONG, || {
        rejected_as(&node, member.node_id().as_str())
    })?;
    assert_eq!(why, "rejected: not in allowed_peers");
    // The listed one talks.
    let peer = friend.dial(&addr)?;
    let answer = friend.request(
        peer,
        Request::SyncDigest {
            digest: vec![0; 16],
        },
    )?;
    assert!(
        matches!(answer, Response::Summary { .. } | Response::InSync),
        "{answer:?}"
    );
    Ok(())
}

#[test]
fn a_forged_record_relayed_by_a_third_node_changes_nothing() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let (converter, laptop) = Node::converter_and_laptop(&lab, false)?;
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 3, "320x240")?;
    let item = laptop.offer(&clip, "mkv-x264")?;
    wait_until("the converter to know the item", LONG, || {
        converter.status(&item).ok()
    })?;

    // Mallory holds the key (a member gone bad) and hands the converter a cancel in the
    // laptop's name.
    let mallory = Rogue::start(Some(&lab.network_key()))?;
    let peer = mallory.dial(&converter.addr()?)?;
    let forged = mallory.forge(
        &laptop.node_id()?,
        1000,
        RecordBody::Cancel {
            item_id: item_id(&item)?,
        },
    );
    mallory.request(
        peer,
        Request::Push {
            records: vec![forged],
        },
    )?;
    wait_until("the converter to log the refusal", LONG, || {
        converter.log_text().contains("forged").then_some(())
    })?;

    let done = laptop.wait_final(&item, LONG)?;
    assert_eq!(done["phase"], "delivered", "{done:#}");
    let on_converter = converter.status(&item)?;
    assert_ne!(on_converter["phase"], "cancelled", "{on_converter:#}");
    Ok(())
}

#[test]
fn a_hostile_result_name_lands_as_a_safe_name_inside_output_dir() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let laptop = Node::start(&lab, "laptop", NodeOpts::default())?;
    let passwd_before = std::fs::read("/etc/passwd").ok();

    // Mallory poses as a converter and answers with names that climb out of the folder.
    let (mut mallory, peer) = mallory_converter(&lab, &laptop)?;

    let names = ["../../etc/passwd", "sub/dir/evil\u{7}.mkv"];
    let mut offered = Vec::new();
    for (k, _) in names.iter().enumerate() {
        let clip = lab.path(&format!("clip{k}.mp4"));
        // Different sizes: the same content would be the same item.
        make_clip(&clip, 1, ["160x120", "176x144"][k])?;
        // What Mallory serves as the result: a real Matroska of the clip, so it passes the
        // origin's own check and only its name is hostile.
        let result = lab.path(&format!("result{k}.mkv"));
        remux_to_mkv(&clip, &result)?;
        offered.push((item_id(&laptop.offer(&clip, "mkv-x264")?)?, result));
    }
    for ((id, result), name) in offered.iter().zip(names) {
        let me = mallory.node_id();
        let epoch = mallory.wait_for_record("the assignment", LONG, |r| match &r.body {
            RecordBody::Assign {
                item_id,
                epoch,
                converter,
            } if item_id == id && *converter == me => Some(*epoch),
            _ => None,
        })?;
        let accept = mallory.make(RecordBody::Accept {
            item_id: *id,
            epoch,
        });
        let output = mallory.serve_result(*id, epoch, result, name)?;
        let converted = mallory.make(RecordBody::Converted {
            item_id: *id,
            epoch,
            output,
        });
        mallory.request(
            peer,
            Request::Push {
                records: vec![accept, converted],
            },
        )?;
    }
    let mut landed = Vec::new();
    for (id, _) in &offered {
        let done = laptop.wait_final(&id.to_string(), LONG)?;
        assert_eq!(done["phase"], "delivered", "{done:#}");
        let path = std::path::PathBuf::from(done["output_path"].as_str().unwrap_or_default());
        assert_eq!(path.parent(), Some(laptop.output_dir.as_path()), "{done:#}");
        assert!(path.is_file());
        landed.push(path.file_name().map(|n| n.to_string_lossy().into_owned()));
    }
    assert_eq!(
        landed,
        vec![Some("passwd".to_string()), Some("evil.mkv".to_string())]
    );
    assert_eq!(std::fs::read("/etc/passwd").ok(), passwd_before);
    Ok(())
}

/// Issue 13 point 6: a converter claiming a result far larger than its source (here 1 TiB for
/// a clip of a few KiB) is refused by the origin before a byte is written, whatever room the
/// origin has, and the item goes back to be converted elsewhere.
#[test]
fn a_result_claimed_far_larger_than_its_source_is_refused_before_a_byte_is_written(
) -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let laptop = Node::start(&lab, "laptop", NodeOpts::default())?;
    let (mut mallory, peer) = mallory_converter(&lab, &laptop)?;
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 1, "160x120")?;
    let id = item_id(&laptop.offer(&clip, "mkv-x264")?)?;
    let me = mallory.node_id();
    let epoch = mallory.wait_for_record("the assignment", LONG, |r| match &r.body {
        RecordBody::Assign {
            item_id,
            epoch,
            converter,
        } if *item_id == id && *converter == me => Some(*epoch),
        _ => None,
    })?;
    let hex = |n: usize| "ab".repeat(n / 2);
    let output = dmc_protocol::FileInfo {
        file_name: "clip.mkv".into(),
        file_size: (1 << 40) - 1,
        sha512: hex(128),
        blake3: hex(64),
        chunk_size: 1 << 20,
        manifest_hash: hex(64),
    };
    let accept = mallory.make(RecordBody::Accept { item_id: id, epoch });
    let converted = mallory.make(RecordBody::Converted {
        item_id: id,
        epoch,
        output,
    });
    mallory.request(
        peer,
        Request::Push {
            records: vec![accept, converted],
        },
    )?;
    let reason =
        mallory.wait_for_record("the origin to refuse the result", LONG, |r| match &r.body {
            RecordBody::ResultRefused {
                item_id,
                epoch: e,
                reason,
                lost: false,
            } if *item_id == id && *e == epoch => Some(reason.clone()),
            _ => None,
        })?;
    assert!(reason.contains("larger than"), "{reason}");
    // Nothing of it was ever written into the output folder.
    let written: Vec<_> = std::fs::read_dir(&laptop.output_dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "{written:?}");
    Ok(())
}

/// Mallory, a member gone bad, dialled to `laptop` and posing as an H.264 converter.
fn mallory_converter(lab: &Lab, laptop: &Node) -> anyhow::Result<(Rogue, libp2p::PeerId)> {
    let mut mallory = Rogue::start(Some(&lab.network_key()))?;
    let peer = mallory.dial(&laptop.addr()?)?;
    let ad = mallory.make(RecordBody::Node(NodeInfo {
        name: "mallory".into(),
        converter: Some(ConverterAd {
            media_types: vec![MediaType::Video],
            profiles: vec!["mkv-x264".into()],
            workers: 4,
            segments: false,
        }),
    }));
    mallory.request(peer, Request::Push { records: vec![ad] })?;
    Ok((mallory, peer))
}

#[test]
fn a_peer_may_fetch_only_files_it_was_assigned() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let laptop = Node::start(&lab, "laptop", NodeOpts::default())?;
    let clip = lab.path("private.mp4");
    make_clip(&clip, 1, "160x120")?;
    let item = item_id(&laptop.offer(&clip, "mkv-x264")?)?;

    let mallory = Rogue::start(Some(&lab.network_key()))?;
    let peer = mallory.dial(&laptop.addr()?)?;
    for request in [
        Request::Chunk {
            item_id: item,
            role: FileRole::Source,
            epoch: 1,
            index: 0,
        },
        Request::Manifest {
            item_id: item,
            role: FileRole::Source,
            epoch: 1,
            first: 0,
            count: 16,
        },
        Request::Chunk {
            item_id: item,
            role: FileRole::Result,
            epoch: 1,
            index: 0,
        },
    ] {
        match mallory.request(peer, request.clone())? {
            Response::Error {
                code: ErrorCode::Forbidden,
                ..
            } => {}
            other => panic!("{request:?} answered {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn oversized_and_invalid_messages_are_refused_without_a_crash() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let node = Node::start(&lab, "node", NodeOpts::default())?;
    let addr = node.addr()?;

    // A record with a field far over its limit is refused by the validator.
    let mut mallory = Rogue::start(Some(&lab.network_key()))?;
    let peer = mallory.dial(&addr)?;
    let huge_name = mallory.make(RecordBody::Node(NodeInfo {
        name: "x".repeat(900_000),
        converter: None,
    }));
    mallory.request(
        peer,
        Request::Push {
            records: vec![huge_name],
        },
    )?;
    wait_until("the node to log the refused record", LONG, || {
        node.log_text().contains("longer than").then_some(())
    })?;

    // Too many records in one message: the codec refuses it, and the sender is cut off.
    let flood: Vec<_> = (0..=MAX_RECORDS_PER_MESSAGE)
        .map(|i| {
            mallory.make(RecordBody::Cancel {
                item_id: ItemId::from_random([i as u8; 16]),
            })
        })
        .collect();
    let answer = mallory.request(peer, Request::Push { records: flood });
    assert!(answer.is_err(), "{answer:?}");
    let why = wait_until("the node to list the flooder", LONG, || {
        rejected_as(&node, mallory.node_id().as_str())
    })
    .with_context(|| node.log_tail())?;
    assert_eq!(why, "rejected: sent invalid requests");

    // The node is alive and well, and stored none of it.
    let info = node.json(&["info", "--json"])?;
    assert!(info["node_id"].is_string());
    assert!(items(&node).is_empty());
    assert!(node
        .peers()
        .iter()
        .all(|p| p["name"] != "x".repeat(900_000)));
    Ok(())
}

#[test]
fn the_nodes_own_files_cannot_be_offered() -> anyhow::Result<()> {
    // Whoever may use the control socket must not get the node's keys sent to a converter.
    let lab = Lab::new()?;
    let node = Node::start(&lab, "node", NodeOpts::default())?;
    for secret in ["identity.key", "network.key", "dmc.sqlite"] {
        let path = node.data_dir.join(secret);
        let out = node.dmc(&["offer", path.to_str().unwrap_or_default()])?;
        assert!(!out.status.success(), "{secret} was offered");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot be offered"), "{err}");
    }
    assert!(items(&node).is_empty());
    Ok(())
}
