//! Disk admission under load: a converter keeps `[converter] reserve_bytes` free once for its
//! work dir, not once per job, and jobs waiting in its queue hold no room. 200 small images
//! offered at once to one converter with 2 workers are all delivered and none is refused
//! (with a margin per job, ~35 GiB free took about 35 of them).

use std::time::Duration;

use dmc_tests::{make_pngs, Lab, Node, NodeOpts};

const IMAGES: u32 = 200;
const LONG: Duration = Duration::from_secs(600);

#[test]
fn two_hundred_images_offered_at_once_are_all_delivered_and_none_refused() {
    let lab = Lab::new().unwrap();
    let converter = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            workers: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![converter.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    let cid = converter.node_id().unwrap();
    dmc_tests::wait_until("the converter connected", LONG, || {
        let converter_known = laptop.peers().iter().any(|p| {
            p["node_id"] == cid.as_str() && p["online"] == true && p["role"] == "converter"
        });
        converter_known.then_some(())
    })
    .unwrap();

    let images = make_pngs(&lab.path("photos"), IMAGES).unwrap();
    let mut args: Vec<&str> = vec!["offer"];
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    args.extend(["--profile", "webp", "--json"]);
    let offered = laptop.json(&args).unwrap();
    let ids: Vec<String> = offered
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let id = o["item_id"].as_str().or(o["item"]["item_id"].as_str());
            id.unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), IMAGES as usize);

    dmc_tests::wait_until("every image delivered", LONG, || {
        // A refusal fails the story at once (it would wait out a cool-down).
        let log = converter.log_text();
        let refusal = log.lines().find(|l| l.contains("rejecting item"));
        assert!(refusal.is_none(), "the converter refused: {refusal:?}");
        (Node::files_in(&laptop.output_dir).len() == IMAGES as usize).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e:#}\n{}", converter.log_tail()));
    for id in &ids {
        let s = laptop.status(id).unwrap();
        assert_eq!(s["status"], "finished_successful", "{s:#}");
        let refused = s["rejections"].as_array().map_or(0, |r| r.len());
        assert_eq!(refused, 0, "no item is refused: {s:#}");
    }
}
