//! The filters of `GET /v1/items` (issue 15, point 3) against a real node over the dashboard's
//! HTTP: `state`, `origin`, `converter` and `profile` are answered by the node from its store,
//! `total` counts only the matching items, and a value that is not of its kind is refused
//! with a 400 naming the filter.

use dmc_tests::http::{log_in, request};
use dmc_tests::{make_clip, Lab, Node, NodeOpts};
use serde_json::Value;

/// `GET /v1/items?all=true&QUERY` with the session: the answer's JSON, or its status and text.
fn items(base: &str, cookie: &str, query: &str) -> Result<Value, (u16, String)> {
    let answer = request(
        "GET",
        &format!("{base}/v1/items?all=true&{query}"),
        &[("Cookie", cookie)],
    )
    .unwrap();
    if answer.status == 200 {
        Ok(answer.json().unwrap())
    } else {
        Err((answer.status, answer.text()))
    }
}

/// The file names of a page, and its total.
fn names(page: &Value) -> (Vec<String>, u64) {
    let names = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["file_name"].as_str().unwrap().to_string())
        .collect();
    (names, page["total"].as_u64().unwrap())
}

#[test]
fn the_node_filters_its_items_by_state_origin_converter_and_profile() {
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let me = node.node_id().unwrap();
    let mut offered = Vec::new();
    for (name, size, profile) in [
        ("a.mp4", "160x120", "mkv-x264"),
        ("b.mp4", "176x144", "mkv-x265"),
        ("c.mp4", "192x144", "mkv-x264"),
    ] {
        let clip = lab.path(name);
        make_clip(&clip, 1, size).unwrap();
        offered.push(node.offer(&clip, profile).unwrap());
    }
    node.dmc(&["cancel", &offered[2]]).unwrap();
    node.wait_phase(
        &offered[2],
        &["cancelled"],
        std::time::Duration::from_secs(30),
    )
    .unwrap();
    let (cookie, base) = log_in(&node).unwrap();
    let page = |q: &str| names(&items(&base, &cookie, q).unwrap());
    let list = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    assert_eq!(page(""), (list(&["c.mp4", "b.mp4", "a.mp4"]), 3));
    assert_eq!(page("state=open"), (list(&["b.mp4", "a.mp4"]), 2));
    assert_eq!(page("state=cancelled"), (list(&["c.mp4"]), 1));
    assert_eq!(page("state=ended"), (list(&["c.mp4"]), 1));
    assert_eq!(page("state=delivered"), (list(&[]), 0));
    assert_eq!(page("profile=mkv-x264"), (list(&["c.mp4", "a.mp4"]), 2));
    assert_eq!(
        page("profile=mkv-x264&state=open&limit=1"),
        (list(&["a.mp4"]), 1)
    );
    assert_eq!(page(&format!("origin={me}")).1, 3);
    assert_eq!(page("origin=12D3KooWSomeoneElse").1, 0);
    // No converter was ever assigned.
    assert_eq!(page(&format!("converter={me}")).1, 0);

    for (query, named) in [
        ("state=done", "state must be open, ended or a phase"),
        ("origin=not%20an%20id", "origin must be a node id"),
        ("converter=..%2F", "converter must be a node id"),
        ("profile=..%2Fx", "profile must be a profile name"),
    ] {
        let (status, text) = items(&base, &cookie, query).unwrap_err();
        assert_eq!(status, 400, "{query}: {text}");
        assert!(text.contains(named), "{query}: {text}");
    }
}
