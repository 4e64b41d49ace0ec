//! Where the dashboard is served (issue 15, point 1), with real node processes: only on
//! loopback (another address is refused at start, saying why), and a port something else
//! holds leaves the node converting without a dashboard while `dmc gui` says why.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use dmc_tests::{dmc_bin, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_dashboard_on_a_non_loopback_address_is_refused_at_start() {
    let lab = Lab::new().unwrap();
    let root = lab.path("exposed");
    std::fs::create_dir_all(&root).unwrap();
    let config = root.join("node.toml");
    std::fs::write(
        &config,
        "[node]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n\n[discovery]\nmdns = false\n\n\
         [gui]\nlisten = \"0.0.0.0:8747\"\n",
    )
    .unwrap();
    let mut child = Command::new(dmc_bin())
        .arg("--data-dir")
        .arg(root.join("data"))
        .args(["node", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_until("the node to refuse its configuration", LONG, || {
        child.try_wait().ok().flatten()
    });
    if exited.is_err() {
        let _ = child.kill();
    }
    let status = exited.unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success(), "{said}");
    assert!(said.contains("gui.listen"), "{said}");
    assert!(said.contains("not a loopback address"), "{said}");
}

#[test]
fn a_taken_dashboard_port_leaves_the_node_running_and_dmc_gui_says_why() {
    let lab = Lab::new().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    node.stop();
    let config = std::fs::read_to_string(&node.config).unwrap();
    let moved = config.replace(
        "[gui]\nlisten = \"127.0.0.1:0\"",
        &format!("[gui]\nlisten = \"127.0.0.1:{port}\""),
    );
    assert_ne!(moved, config, "the helper's [gui] table");
    std::fs::write(&node.config, moved).unwrap();
    node.restart().unwrap();

    let out = node.dmc(&["gui", "--no-open"]).unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains(&format!("127.0.0.1:{port}")), "{said}");
    assert!(said.contains("in use"), "{said}");
    assert!(said.contains("[gui] listen"), "{said}");
    assert!(node.log_text().contains("the dashboard is not served"));
    // The node itself runs on.
    assert!(node.json(&["info", "--json"]).unwrap()["node_id"].is_string());
    drop(taken);
}
