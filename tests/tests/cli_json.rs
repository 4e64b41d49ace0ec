//! The JSON that scripts rely on: `status --json` and `list --json` field names and types.

use dmc_tests::{make_png, Lab, Node, NodeOpts};

#[test]
fn status_and_list_json_have_the_documented_shape() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let png = lab.path("p.png");
    make_png(&png).unwrap();
    let id = laptop.offer(&png, "webp").unwrap();

    let s = laptop.status(&id).unwrap();
    for key in [
        "item_id",
        "created_at",
        "client_id",
        "server_id",
        "file_name",
        "conversion_type",
        "sha512_checksum",
        "file_size",
        "status",
        "phase",
        "progress",
        "errors",
        "version",
        "output_path",
    ] {
        assert!(s.get(key).is_some(), "status --json lacks `{key}`: {s:#}");
    }
    assert_eq!(s["item_id"], id.as_str());
    assert_eq!(s["client_id"], laptop.node_id().unwrap().as_str());
    assert!(s["server_id"].is_null());
    assert_eq!(s["file_name"], "p.png");
    assert_eq!(s["status"], "to_do");
    assert_eq!(s["phase"], "offered");
    assert!(s["file_size"].as_u64().unwrap() > 0);
    assert_eq!(s["sha512_checksum"].as_str().unwrap().len(), 128);
    assert!(s["version"].as_u64().unwrap() >= 1);
    assert!(s["errors"].as_array().unwrap().is_empty());
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'));

    // A page: the items, newest first, with the total and where the next page starts.
    let list = laptop.json(&["list", "--json"]).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0], s);
    assert_eq!(list["total"], 1);
    assert_eq!(
        (list["offset"].as_u64(), list["limit"].as_u64()),
        (Some(0), Some(50))
    );
    assert!(list["next_offset"].is_null(), "{list:#}");
    let all = laptop.json(&["list", "--all", "--json"]).unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    // An unknown item is an error that names it.
    let out = laptop
        .dmc(&["status", "00000000-0000-4000-8000-000000000000", "--json"])
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("00000000-0000-4000-8000-000000000000"));
}

#[test]
fn a_cancelled_item_ends_with_errors() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let png = lab.path("p.png");
    make_png(&png).unwrap();
    let id = laptop.offer(&png, "webp").unwrap();
    let out = laptop.dmc(&["cancel", &id]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = laptop.status(&id).unwrap();
    assert_eq!(s["status"], "finished_with_errors");
    assert_eq!(s["phase"], "cancelled");
    let v0 = s["version"].as_u64().unwrap();
    assert!(v0 >= 2, "cancel is a new record: version grows");
}

#[test]
fn an_invalid_config_is_refused_with_file_line_and_key() {
    let lab = Lab::new().unwrap();
    let cfg = lab.path("bad.toml");
    std::fs::write(&cfg, "[node]\nname = \"x\"\n\n[converter]\nworkers = 0\n").unwrap();
    let out = std::process::Command::new(dmc_tests::dmc_bin())
        .arg("--data-dir")
        .arg(lab.path("data"))
        .arg("node")
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "{}:5: key `converter.workers`: must be at least 1",
        cfg.display()
    );
    assert!(err.contains(&want), "{err}");
}

#[test]
fn every_problem_of_a_config_is_reported_at_once() {
    let lab = Lab::new().unwrap();
    let start = |text: &str| {
        let cfg = lab.path("bad.toml");
        std::fs::write(&cfg, text).unwrap();
        let out = std::process::Command::new(dmc_tests::dmc_bin())
            .arg("--data-dir")
            .arg(lab.path("data"))
            .args(["node", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(!out.status.success());
        (cfg, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Values that do not fit, in two tables: each on a line of its own.
    let (cfg, err) = start("[node]\nname = 5\n\n[converter]\nworkerz = 2\nthreads = \"x\"\n");
    assert!(err.contains("3 problems in the configuration:\n"), "{err}");
    for want in [
        ":2: key `node.name`: invalid type",
        ":5: key `converter.workerz`: unknown field",
        ":6: key `converter.threads`: invalid type",
    ] {
        assert!(
            err.contains(&format!("\n  {}{want}", cfg.display())),
            "{err}"
        );
    }
    // Values of the right type but wrong meaning.
    let (cfg, err) = start("[converter]\nworkers = 0\n\n[transfer]\nmax_rate = \"fast\"\n");
    assert!(err.contains("2 problems in the configuration:\n"), "{err}");
    assert!(
        err.contains(&format!("{}:2: key `converter.workers`", cfg.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}:5: key `transfer.max_rate`", cfg.display())),
        "{err}"
    );
}

#[test]
fn commands_without_a_running_node_say_how_to_start_one() {
    let lab = Lab::new().unwrap();
    let out = std::process::Command::new(dmc_tests::dmc_bin())
        .arg("--data-dir")
        .arg(lab.path("nothing"))
        .args(["list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no dmc node is running") && err.contains("node"),
        "{err}"
    );
}

#[test]
fn an_unreadable_offer_says_what_to_do_next() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let missing = lab.path("nowhere.mp4");
    let out = laptop.dmc(&["offer", missing.to_str().unwrap()]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read"), "{err}");
    // The node says which kind of problem it was; the CLI picks the next step by that kind.
    assert!(err.contains("check the path"), "{err}");
}
