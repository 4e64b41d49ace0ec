//! Text from peers reaches the terminal escaped: file and node names with escape sequences or
//! bidi overrides show in `dmc list`, `dmc status` and `dmc peers` with those characters
//! written out (`\x1b`, `\u{202e}`), while `--json` keeps the exact text.

use std::time::Duration;

use dmc_protocol::wire::Request;
use dmc_protocol::{FileInfo, ItemId, MediaType, NodeInfo, Offer, RecordBody};
use dmc_tests::{make_png, rogue::Rogue, wait_until, Lab, Node, NodeOpts};

/// A name a user's file may have (the node drops its C0 controls, keeps the override).
const OWN: &str = "evil\x1b[31mred\u{202e}gnp.exe.png";
/// A name a peer may put in its own offer, byte for byte.
const HOSTILE: &str = "evil\x1b[31mred\x1b]0;pwned\x07\u{9b}2J.png";
/// The node name a peer may announce.
const MALLORY: &str = "mal\x1b[2J\rlory";

/// stdout of a successful `dmc ARGS`, checked to hold no control character nor bidi override.
fn human(node: &Node, args: &[&str]) -> String {
    let out = node.dmc(args).unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dmc {args:?}: {err}");
    let raw = |c: char| (c.is_control() && c != '\n') || c == '\u{202e}';
    assert!(
        !text.contains(raw) && !err.contains(raw),
        "dmc {args:?} printed a raw control character: {text:?} {err:?}"
    );
    text
}

/// Mallory, a member gone bad, announces itself under a hostile name and offers an item
/// whose file name is an escape sequence; returns the item.
fn hostile_offer(lab: &Lab, laptop: &Node) -> (Rogue, ItemId) {
    let mut mallory = Rogue::start(Some(&lab.network_key())).unwrap();
    let peer = mallory.dial(&laptop.addr().unwrap()).unwrap();
    let nonce = [7u8; 16];
    let item_id = ItemId::for_origin(&mallory.node_id(), &nonce);
    let node = mallory.make(RecordBody::Node(NodeInfo {
        name: MALLORY.into(),
        converter: None,
    }));
    let offer = mallory.make(RecordBody::Offer(Offer {
        item_id,
        nonce,
        file: FileInfo {
            file_name: HOSTILE.into(),
            file_size: 1000,
            sha512: "ab".repeat(64),
            blake3: "cd".repeat(32),
            chunk_size: 1 << 20,
            manifest_hash: "ef".repeat(32),
        },
        media_type: MediaType::Image,
        profile: "webp".into(),
        duration_ms: None,
        priority: 0,
        sha512_follows: false,
        part_of: None,
    }));
    mallory
        .request(
            peer,
            Request::Push {
                records: vec![node, offer],
            },
        )
        .unwrap();
    (mallory, item_id)
}

#[test]
fn file_and_node_names_with_escape_sequences_are_printed_escaped() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let png = lab.path(OWN);
    make_png(&png).unwrap();
    let own = laptop.offer(&png, "webp").unwrap();
    let (_mallory, theirs) = hostile_offer(&lab, &laptop);
    let theirs = theirs.to_string();
    wait_until("the peer's offer", Duration::from_secs(60), || {
        laptop.status(&theirs).ok()
    })
    .unwrap();

    let list = human(&laptop, &["list"]);
    assert!(list.contains("evil[31mred\\u{202e}gnp.exe.png"), "{list}");
    let all = human(&laptop, &["list", "--all"]);
    assert!(
        all.contains("evil\\x1b[31mred\\x1b]0;pwned\\x07\\u{9b}2J"),
        "{all}"
    );
    let block = human(&laptop, &["status", &theirs]);
    assert!(
        block.contains("file           evil\\x1b[31mred\\x1b]0;pwned\\x07\\u{9b}2J.png ("),
        "{block}"
    );
    human(&laptop, &["status", &own]);
    let peers = wait_until(
        "mallory in the peers table",
        Duration::from_secs(60),
        || {
            let t = human(&laptop, &["peers"]);
            t.contains("mal\\x1b[2J\\x0dlory").then_some(t)
        },
    );
    assert!(peers.is_ok(), "{}", human(&laptop, &["peers"]));
    // Scripts get the exact text.
    assert_eq!(laptop.status(&theirs).unwrap()["file_name"], HOSTILE);
    let peers = laptop.json(&["peers", "--json"]).unwrap();
    assert!(
        peers
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == MALLORY),
        "{peers:#}"
    );
}
