//! Runs the built `dmc` binary against data dirs with no node and checks that it says so.

use std::process::Command;

fn dmc(data_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dmc"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("DMC_DATA_DIR")
        .output()
        .expect("running dmc")
}

fn assert_no_node(out: &std::process::Output, data_dir: &std::path::Path) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dir = data_dir.display();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let expected = format!(
        "error: no dmc node is running with data dir {dir} (socket {dir}/control.sock). Start one with: dmc --data-dir {dir} node"
    );
    assert!(stderr.starts_with(&expected), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn status_without_a_node_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dmc(dir.path(), &["status"]);
    assert_no_node(&out, dir.path());
    // The CLI does not create anything in the data dir.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_stale_socket_counts_as_no_node() {
    let dir = tempfile::tempdir().unwrap();
    // A socket file left behind by a crashed node: nothing listens on it any more.
    drop(std::os::unix::net::UnixListener::bind(dir.path().join("control.sock")).unwrap());
    let out = dmc(dir.path(), &["list", "--all", "--json"]);
    assert_no_node(&out, dir.path());
}

#[test]
fn offer_without_a_node_stops_at_the_first_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dmc(dir.path(), &["offer", "a.mp4", "b.mp4"]);
    assert_no_node(&out, dir.path());
}
