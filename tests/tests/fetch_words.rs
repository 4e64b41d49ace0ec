//! What `dmc fetch` says when there is no result to give is true: on a converter, that only
//! the origin receives results (not "wait for it"); for a cancelled item, that it has none.

use std::time::Duration;

use dmc_tests::{make_clip, make_noisy_clip, Lab, Node};

const LONG: Duration = Duration::from_secs(300);

/// `dmc fetch ITEM` on `node`: fails; its error text.
fn refused_fetch(node: &Node, item: &str) -> String {
    let out = node.dmc(&["fetch", item]).unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn fetch_says_only_the_origin_receives_results_and_a_cancelled_item_has_none() {
    let lab = Lab::new().unwrap();
    let (converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "320x240").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    let done = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(done["phase"], "delivered", "{done:#}");

    let said = refused_fetch(&converter, &id);
    assert!(
        said.contains("only an item's origin receives its result"),
        "{said}"
    );
    assert!(
        said.contains(&format!("run `dmc fetch {id}` on that machine")),
        "{said}"
    );
    assert!(!said.contains("wait for it"), "{said}");

    let long = lab.path("long.mp4");
    make_noisy_clip(&long, 30).unwrap();
    let id = laptop.offer(&long, "mkv-x265").unwrap();
    let out = laptop.dmc(&["cancel", &id]).unwrap();
    assert!(out.status.success(), "{out:?}");
    let said = refused_fetch(&laptop, &id);
    assert!(
        said.contains("was cancelled, so it has no result"),
        "{said}"
    );
    assert!(!said.contains("wait for it"), "{said}");
}
