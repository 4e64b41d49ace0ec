//! Compaction (issue 12, point 2): with a short `[node] keep_finished`, a delivered item's
//! records are deleted from both nodes' databases soon after it ended, each keeping only a
//! tombstone; the delivered file stays where it was, and a restart brings nothing back. The
//! origin still fetches a compacted item's result from the summary it keeps.

use std::path::Path;
use std::time::Duration;

use dmc_node::store::{Store, DB_FILE_NAME};
use dmc_protocol::engine::Restored;
use dmc_protocol::ItemId;
use dmc_tests::{make_clip, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(120);
const KEEP: &str = "keep_finished = \"2s\"";

/// What a node's database holds, read through the store (WAL: the node may run): every
/// stored record (a start loads only open items' ones) and the compaction state.
fn stored(node: &Node) -> Restored {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open_file(&node.data_dir.join(DB_FILE_NAME))
            .await
            .unwrap();
        let state = store.load_state().await.unwrap();
        let records = store.load_records().await.unwrap();
        store.close().await.unwrap();
        Restored { records, ..state }
    })
}

fn records_of(state: &Restored, id: ItemId) -> usize {
    state
        .records
        .iter()
        .filter(|(r, _)| r.body.item_id() == Some(id))
        .count()
}

fn compacted(state: &Restored, id: ItemId) -> bool {
    records_of(state, id) == 0 && state.tombstones.iter().any(|(t, _)| *t == id)
}

fn unknown_to(node: &Node, id: &str) -> bool {
    node.status(id).is_err()
}

#[test]
fn a_delivered_item_is_compacted_on_both_nodes_after_keep_finished() {
    let lab = Lab::new().unwrap();
    let converter = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            node_extra: KEEP.into(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![converter.addr().unwrap()],
            node_extra: KEEP.into(),
            ..Default::default()
        },
    )
    .unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    let item = ItemId::parse(&id).unwrap();
    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(done["phase"], "delivered", "{}", converter.log_tail());
    let result = done["output_path"].as_str().unwrap().to_string();

    for node in [&laptop, &converter] {
        wait_until(
            &format!("the item to be compacted on {}", node.name),
            Duration::from_secs(30),
            || compacted(&stored(node), item).then_some(()),
        )
        .unwrap();
        let state = stored(node);
        // What stays of the item is its tombstone: an item id and a time.
        assert!(state.ended.iter().all(|(e, _)| *e != item));
    }
    // The converter forgets the item; the laptop, its origin, keeps its own summary for
    // `dmc status` and `dmc list` (issue 12 point 2).
    assert!(
        unknown_to(&converter, &id),
        "the converter still shows {id}"
    );
    let kept = laptop.status(&id).unwrap();
    assert_eq!(kept["phase"], "delivered", "{kept:#}");
    assert_eq!(
        kept["output_path"].as_str(),
        Some(result.as_str()),
        "{kept:#}"
    );
    // The user's file is not touched by compaction.
    assert!(Path::new(&result).is_file(), "{result} is gone");

    // A restart brings nothing back, and the nodes still agree.
    laptop.restart().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let after = laptop.status(&id).unwrap();
    assert_eq!(
        after["phase"], "delivered",
        "the restart changed the item: {after:#}"
    );
    assert!(compacted(&stored(&laptop), item));
    assert!(compacted(&stored(&converter), item));
}

/// The origin's own item whose records were compacted is fetched from the summary the origin
/// keeps of it (result path, size and checksum): `dmc fetch` still copies the result.
#[test]
fn a_compacted_item_of_this_node_can_still_be_fetched() {
    let lab = Lab::new().unwrap();
    let opts = |converter: bool, peers: Vec<String>| NodeOpts {
        converter,
        peers,
        node_extra: KEEP.into(),
        ..Default::default()
    };
    let converter = Node::start(&lab, "converter", opts(true, vec![])).unwrap();
    let laptop = Node::start(&lab, "laptop", opts(false, vec![converter.addr().unwrap()])).unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    let item = ItemId::parse(&id).unwrap();
    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(done["phase"], "delivered", "{}", converter.log_tail());
    let result = done["output_path"].as_str().unwrap().to_string();
    wait_until(
        "the item to be compacted on the laptop",
        Duration::from_secs(30),
        || compacted(&stored(&laptop), item).then_some(()),
    )
    .unwrap();

    let into = lab.path("fetched");
    std::fs::create_dir_all(&into).unwrap();
    let out = laptop
        .dmc(&["fetch", &id, "--output", into.to_str().unwrap()])
        .unwrap();
    assert!(
        out.status.success(),
        "fetch of a compacted item: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = Path::new(&result).file_name().unwrap();
    let copy = std::fs::read(into.join(name)).unwrap();
    assert_eq!(
        copy,
        std::fs::read(&result).unwrap(),
        "the copy is the result"
    );
}
