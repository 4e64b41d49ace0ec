//! What tables say in words (issue 14 point 4): `list` and `status` name the converter, not an
//! id ending; `peers` shows the profiles each converter runs, one id width, and an offline
//! peer as seen "… ago" (RFC 3339 in `--json`) with no free slots; a cancelled item reads
//! "cancelled" while its JSON `status` stays `finished_with_errors`. And `offer --json` that
//! fails prints a JSON error object and exits non-zero; logs say a fresh database was created
//! in one line and name profiles without Rust debug text.

use std::time::Duration;

use dmc_tests::{make_png, wait_until, Lab, Node, NodeOpts};

/// stdout of a successful `dmc ARGS`.
fn human(node: &Node, args: &[&str]) -> String {
    let out = node.dmc(args).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dmc {args:?}: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// The last 12 characters of a node id: the one width every table shows.
fn ending(id: &str) -> &str {
    &id[id.len() - 12..]
}

#[test]
fn tables_name_the_converter_and_show_what_it_runs() {
    let lab = Lab::new().unwrap();
    let (mut converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let conv_id = converter.node_id().unwrap();
    let png = lab.path("p.png");
    make_png(&png).unwrap();
    let id = laptop.offer(&png, "webp").unwrap();
    let s = laptop.wait_final(&id, Duration::from_secs(60)).unwrap();
    assert_eq!(s["phase"], "delivered", "{s:#}");
    assert_eq!(s["server_id"], conv_id.as_str());
    assert_eq!(s["server_name"], "converter");

    let list = human(&laptop, &["list"]);
    let row = list.lines().find(|l| l.starts_with(&id[..8])).unwrap();
    assert!(row.ends_with("  converter"), "{list}");
    assert!(!row.contains(ending(&conv_id)), "{list}");
    let status = human(&laptop, &["status", &id]);
    assert!(
        status.contains(&format!("converter ({conv_id})")),
        "{status}"
    );

    let peers = human(&laptop, &["peers"]);
    let line = peers.lines().find(|l| l.starts_with("converter")).unwrap();
    assert!(
        line.contains(&format!("  {}  ", ending(&conv_id))),
        "{peers}"
    );
    assert!(line.contains("online") && line.contains("webp"), "{peers}");

    converter.stop();
    let line = wait_until(
        "the converter is seen offline",
        Duration::from_secs(30),
        || {
            let peers = human(&laptop, &["peers"]);
            let line = peers
                .lines()
                .find(|l| l.starts_with("converter"))?
                .to_string();
            (!line.contains("online")).then_some(line)
        },
    )
    .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let seen = words.iter().position(|w| *w == "ago").expect(&line);
    assert_eq!(words[seen - 1], "s", "{line}");
    assert_eq!(&words[seen + 1..seen + 3], ["converter", "-"], "{line}");
    // The converter's log names its profiles as words, not as Rust debug text.
    let log = converter.log_text();
    let enabled = log
        .lines()
        .find(|l| l.contains("converter enabled"))
        .unwrap();
    assert!(
        enabled.contains("webp") && !enabled.contains("[\""),
        "{enabled}"
    );
    let json = laptop.peers();
    let p = json.iter().find(|p| p["name"] == "converter").unwrap();
    assert!(p["last_seen"].as_str().unwrap().ends_with('Z'), "{p:#}");
}

#[test]
fn a_cancelled_item_reads_cancelled() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    // A fresh database is one log line, not one per migration.
    let log = laptop.log_text();
    assert_eq!(log.matches("created database").count(), 1, "{log}");
    assert!(!log.contains("migrating"), "{log}");
    let png = lab.path("p.png");
    make_png(&png).unwrap();
    let id = laptop.offer(&png, "webp").unwrap();
    human(&laptop, &["cancel", &id]);
    assert_eq!(
        laptop.status(&id).unwrap()["status"],
        "finished_with_errors"
    );
    let list = human(&laptop, &["list"]);
    let row = list.lines().find(|l| l.starts_with(&id[..8])).unwrap();
    assert!(row.contains("  cancelled  cancelled  "), "{list}");
    assert!(!row.contains("finished_with_errors"), "{list}");
    let status = human(&laptop, &["status", &id]);
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().eq(["status", "cancelled"])),
        "{status}"
    );
}

#[test]
fn a_failed_offer_prints_a_json_error_object() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let png = lab.path("p.png");
    make_png(&png).unwrap();
    let missing = lab.path("missing.png");
    let (png, missing) = (png.to_str().unwrap(), missing.to_str().unwrap());
    let out = laptop
        .dmc(&["offer", png, missing, "--profile", "webp", "--json"])
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"], "1 of 2 files could not be offered", "{v:#}");
    assert_eq!(v["offered"][0]["item"]["file_name"], "p.png", "{v:#}");
    assert_eq!(v["not_offered"][0]["file"], missing, "{v:#}");
    assert!(v["not_offered"][0]["error"]
        .as_str()
        .unwrap()
        .contains("missing.png"));

    // Without a node: an object too.
    let out = std::process::Command::new(dmc_tests::dmc_bin())
        .arg("--data-dir")
        .arg(lab.path("nothing"))
        .args(["offer", png, "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no dmc node is running"),
        "{v:#}"
    );
}
