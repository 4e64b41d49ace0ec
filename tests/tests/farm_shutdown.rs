//! Graceful shutdown: SIGTERM to a converter mid-conversion stops ffmpeg, leaves no partial
//! output, gives the item back to its origin (to do again), and the item completes once the
//! converter is back.

use std::time::Duration;

use dmc_tests::{make_noisy_clip, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

/// A converter on a fixed port and a laptop that knows it.
fn pair(lab: &Lab) -> (Node, Node) {
    let mut converter = Node::start(
        lab,
        "converter",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let addr = converter.pin_port().unwrap();
    let laptop = Node::start(
        lab,
        "laptop",
        NodeOpts {
            peers: vec![addr],
            ..Default::default()
        },
    )
    .unwrap();
    (laptop, converter)
}

#[test]
fn sigterm_mid_conversion_gives_the_item_back_and_it_completes_after_restart() {
    let lab = Lab::new().unwrap();
    let (laptop, mut converter) = pair(&lab);
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 8).unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();

    laptop.wait_phase(&id, &["converting"], LONG).unwrap();
    // SIGTERM: a clean exit.
    assert_eq!(converter.stop(), Some(0), "{}", converter.log_tail());
    let log = converter.log_text();
    assert!(
        log.contains("gave the item back"),
        "{}",
        converter.log_tail()
    );
    // ffmpeg was stopped and its partial output removed: nothing is left of the job.
    let left = Node::files_in(&converter.work_dir);
    assert!(left.is_empty(), "work dir not clean: {left:?}");
    // The laptop has the item back to do, and says why.
    let s = wait_until("the item back to do", Duration::from_secs(30), || {
        let s = laptop.status(&id).ok()?;
        (s["status"] == "to_do").then_some(s)
    })
    .unwrap();
    assert_eq!(s["phase"], "offered", "{s:#}");
    let why = s["waiting_reason"].as_str().unwrap_or_default();
    assert!(
        why.contains("gave it back") && why.contains("converter shutting down"),
        "{s:#}"
    );
    assert!(
        s["errors"].as_array().unwrap().is_empty(),
        "a shutdown is not a failed attempt: {s:#}"
    );

    converter.restart().unwrap();
    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(
        done["status"],
        "finished_successful",
        "{done:#}\n{}",
        converter.log_tail()
    );
    let outputs = Node::files_in(&laptop.output_dir);
    assert_eq!(outputs.len(), 1, "exactly one result: {outputs:?}");
}
