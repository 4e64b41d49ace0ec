//! Machines come and go: an offer made while no converter runs completes once one starts, and
//! `kill -9` of either node mid-transfer or mid-conversion costs a delay, never the item.

use std::time::Duration;

use dmc_tests::{make_clip, make_noisy_clip, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

#[test]
fn an_offer_made_while_the_converter_is_down_completes_once_it_starts() {
    let lab = Lab::new().unwrap();
    // Start the converter once to learn a free port, then stop it.
    let mut converter = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let addr = converter.addr().unwrap();
    converter.stop();
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![addr.clone()],
            ..Default::default()
        },
    )
    .unwrap();

    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    let s = laptop.status(&id).unwrap();
    assert_eq!(s["status"], "to_do");

    // Same port again, so the laptop's static peer address is right.
    let port = addr.rsplit('/').next().unwrap().to_string();
    let cfg = std::fs::read_to_string(&converter.config).unwrap();
    std::fs::write(
        &converter.config,
        cfg.replace("/tcp/0", &format!("/tcp/{port}")),
    )
    .unwrap();
    converter.restart().unwrap();

    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(done["status"], "finished_successful", "{done:#}");
}

#[test]
fn kill_9_right_after_an_offer_was_accepted_loses_nothing() {
    let lab = Lab::new().unwrap();
    let mut laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    laptop.kill9();
    laptop.restart().unwrap();
    let s = laptop.status(&id).unwrap();
    assert_eq!(s["item_id"], id.as_str());
    assert_eq!(s["status"], "to_do");
}

/// Converter and laptop with the converter on a fixed port, and transfers limited to 4 MiB/s
/// so that a transfer of a noisy clip (about 20 MB) can be interrupted.
fn slow_pair(lab: &Lab) -> (Node, Node) {
    let slow = "[transfer]\nmax_rate = \"4MiB\"\n";
    let mut converter = Node::start(
        lab,
        "converter",
        NodeOpts {
            converter: true,
            extra: slow.into(),
            ..Default::default()
        },
    )
    .unwrap();
    // Pin the converter's port so that restarts keep its address.
    let addr = converter.addr().unwrap();
    let port = addr.rsplit('/').next().unwrap().to_string();
    let cfg = std::fs::read_to_string(&converter.config).unwrap();
    std::fs::write(
        &converter.config,
        cfg.replace("/tcp/0", &format!("/tcp/{port}")),
    )
    .unwrap();
    converter.stop();
    converter.restart().unwrap();
    let laptop = Node::start(
        lab,
        "laptop",
        NodeOpts {
            peers: vec![addr],
            extra: slow.into(),
            ..Default::default()
        },
    )
    .unwrap();
    (laptop, converter)
}

fn assert_completed_once(laptop: &Node, converter: &Node, id: &str) {
    let done = laptop.wait_final(id, LONG).unwrap();
    assert_eq!(
        done["status"],
        "finished_successful",
        "{done:#}\n{}",
        converter.log_tail()
    );
    let outputs = Node::files_in(&laptop.output_dir);
    assert_eq!(
        outputs.len(),
        1,
        "exactly one result, nothing duplicated or partial: {outputs:?}"
    );
    let work: Vec<_> = Node::files_in(&converter.work_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(
        work.is_empty(),
        "partial files left in the converter's work dir: {work:?}"
    );
}

#[test]
fn kill_9_of_the_converter_mid_transfer_resumes_and_completes_once() {
    let lab = Lab::new().unwrap();
    let (laptop, mut converter) = slow_pair(&lab);
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 8).unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();

    laptop.wait_phase(&id, &["transferring"], LONG).unwrap();
    converter.kill9();
    let part = wait_until("a partial source", Duration::from_secs(5), || {
        Node::files_in(&converter.work_dir)
            .into_iter()
            .find(|p| p.ends_with("source.part"))
    });
    converter.restart().unwrap();
    assert!(
        part.is_ok(),
        "the interrupted transfer kept its verified part"
    );
    assert_completed_once(&laptop, &converter, &id);
}

#[test]
fn kill_9_of_the_laptop_mid_transfer_resumes_and_completes_once() {
    let lab = Lab::new().unwrap();
    let (mut laptop, converter) = slow_pair(&lab);
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 8).unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();

    laptop.wait_phase(&id, &["transferring"], LONG).unwrap();
    laptop.kill9();
    std::thread::sleep(Duration::from_secs(1));
    laptop.restart().unwrap();
    assert_completed_once(&laptop, &converter, &id);
}

#[test]
fn kill_9_of_either_node_mid_conversion_completes_once() {
    let lab = Lab::new().unwrap();
    let (mut laptop, mut converter) = slow_pair(&lab);
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 8).unwrap();
    let id = laptop.offer(&clip, "mkv-x265").unwrap();

    laptop.wait_phase(&id, &["converting"], LONG).unwrap();
    converter.kill9();
    converter.restart().unwrap();
    laptop.wait_phase(&id, &["converting"], LONG).unwrap();
    laptop.kill9();
    laptop.restart().unwrap();
    assert_completed_once(&laptop, &converter, &id);
}
