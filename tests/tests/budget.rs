//! Budget story: a member gone bad floods a node with records, far past what one peer may make
//! it store in a minute. The node takes the budget's worth, refuses the rest (not stored, not
//! relayed), logs it once, lists the rogue in `dmc peers` with the reason and the time, stays
//! responsive, and a well-behaved node that joins meanwhile is taken in as usual.

use std::time::{Duration, Instant};

use dmc_protocol::wire::{Request, Response};
use dmc_protocol::{NodeInfo, RecordBody};
use dmc_tests::node::{wait_until, Lab, Node, NodeOpts};
use dmc_tests::rogue::Rogue;
use serde_json::Value;

const LONG: Duration = Duration::from_secs(40);
/// The node's budget in this story: new records one peer may make it store per minute.
const BUDGET: usize = 100;
/// What the rogue pushes: fifty times the budget, in ten pushes.
const FLOOD: usize = 5000;

fn peer(node: &Node, id: &str) -> Option<Value> {
    node.peers().into_iter().find(|p| p["node_id"] == id)
}

#[test]
fn a_rogue_flooding_records_is_held_to_its_budget_and_listed_in_peers() -> anyhow::Result<()> {
    let lab = Lab::new()?;
    let node = Node::start(
        &lab,
        "node",
        NodeOpts {
            extra: format!("\n[network]\npeer_records_per_minute = {BUDGET}\n"),
            ..Default::default()
        },
    )?;
    let mut rogue = Rogue::start(Some(&lab.network_key()))?;
    let to = rogue.dial(&node.addr()?)?;
    // Each a new `node` record of the rogue's own: r1, r2, … r5000.
    let records: Vec<_> = (1..=FLOOD)
        .map(|i| {
            rogue.make(RecordBody::Node(NodeInfo {
                name: format!("r{i}"),
                converter: None,
            }))
        })
        .collect();
    for page in records.chunks(FLOOD / 10) {
        let answer = rogue.request(
            to,
            Request::Push {
                records: page.to_vec(),
            },
        )?;
        assert_eq!(answer, Response::Ack);
    }

    let rogue_id = rogue.node_id();
    let listed = wait_until("dmc peers to list the rogue over budget", LONG, || {
        peer(&node, rogue_id.as_str()).filter(|p| !p["over_budget"].is_null())
    })?;
    assert_eq!(
        listed["over_budget"]["reason"],
        format!("over budget: more than {BUDGET} new records in a minute"),
        "{listed:#}"
    );
    assert!(listed["over_budget"]["at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    // Exactly the budget's worth was stored: its latest node record is the 100th.
    assert_eq!(listed["name"], format!("r{BUDGET}"), "{listed:#}");
    let human = node.dmc(&["peers"])?;
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&format!(
            "over budget: more than {BUDGET} new records in a minute"
        )),
        "{text}"
    );

    // Responsive: the control API answers at once.
    let t = Instant::now();
    node.json(&["info", "--json"])?;
    let answered = t.elapsed();
    assert!(answered < Duration::from_secs(2), "info took {answered:?}");

    // One log line for the flood, not one per push or record.
    let log = node.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("peer_records_per_minute"))
        .count();
    assert_eq!(lines, 1, "{}", node.log_tail());

    // A well-behaved node joining now has a budget of its own: its records come in.
    let friend = Node::start(
        &lab,
        "friend",
        NodeOpts {
            peers: vec![node.addr()?],
            ..Default::default()
        },
    )?;
    let friend_id = friend.node_id()?;
    wait_until("the node to learn the friend's name", LONG, || {
        peer(&node, &friend_id).filter(|p| p["name"] == "friend")
    })?;
    let friend_seen = peer(&node, &friend_id).unwrap_or_default();
    assert!(friend_seen["over_budget"].is_null(), "{friend_seen:#}");
    // The rogue's refused records were not relayed to the friend either.
    let on_friend = wait_until("the friend to learn of the rogue", LONG, || {
        peer(&friend, rogue_id.as_str()).filter(|p| !p["name"].is_null())
    })?;
    assert_eq!(on_friend["name"], format!("r{BUDGET}"), "{on_friend:#}");
    Ok(())
}
