//! A converter that vanishes mid-job costs a delay, never the item: after the lease another
//! converter takes it, exactly one result is delivered, and the vanished converter cleans up
//! when it returns.

use std::time::Duration;

use dmc_tests::{make_noisy_clip, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

#[test]
fn a_converter_killed_mid_conversion_loses_the_item_to_another_after_the_lease() {
    let lab = Lab::new().unwrap();
    // Converter A on a fixed port, known to the laptop, whose lease is short.
    let mut a = Node::start(
        &lab,
        "converter-a",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let a_addr = a.pin_port().unwrap();
    let a_id = a.node_id().unwrap();
    let mut laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![a_addr],
            node_extra: "lease = \"6s\"".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let laptop_addr = laptop.pin_port().unwrap();

    // The laptop offers; A takes the item and starts converting.
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 4).unwrap();
    let id = laptop.offer(&clip, "mkv-x265").unwrap();
    let s = laptop.wait_phase(&id, &["converting"], LONG).unwrap();
    assert_eq!(s["server_id"], a_id.as_str());

    // Converter B joins; A dies mid-conversion and stays dead.
    let b = Node::start(
        &lab,
        "converter-b",
        NodeOpts {
            converter: true,
            peers: vec![laptop_addr],
            ..Default::default()
        },
    )
    .unwrap();
    let b_id = b.node_id().unwrap();
    a.kill9();

    // After the lease the laptop gives the item to B, which delivers it.
    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(
        done["status"],
        "finished_successful",
        "{done:#}\n{}",
        b.log_tail()
    );
    assert_eq!(done["server_id"], b_id.as_str());
    assert!(
        laptop.log_text().contains("item reassigned"),
        "the laptop says why it moved the item"
    );

    // A comes back: it learns the item is no longer its own and leaves nothing behind.
    a.restart().unwrap();
    wait_until("A to drop its job folder", LONG, || {
        Node::files_in(&a.work_dir).is_empty().then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", Node::files_in(&a.work_dir), a.log_tail()));
    let outputs = Node::files_in(&laptop.output_dir);
    assert_eq!(outputs.len(), 1, "exactly one result: {outputs:?}");
    let again = laptop.status(&id).unwrap();
    assert_eq!(again["status"], "finished_successful");
    assert_eq!(again["server_id"], b_id.as_str());
}
