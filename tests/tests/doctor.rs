//! `dmc doctor` against real nodes on 127.0.0.1 (mDNS off): the JSON checklist's shape, the
//! checks that pass on a working node, its peers, and the report when no node runs.

use std::process::Command;
use std::time::Duration;

use dmc_tests::{dmc_bin, wait_until, Lab, Node, NodeOpts};
use serde_json::Value;

/// The check called `name` in a `doctor --json` array.
fn find<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {checks:#?}"))
}

#[test]
fn doctor_json_on_a_running_node() {
    let lab = Lab::new().unwrap();
    let server = Node::start(
        &lab,
        "server",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![server.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    wait_until(
        "laptop to see the server online",
        Duration::from_secs(60),
        || {
            let peers = laptop.json(&["peers", "--json"]).ok()?;
            peers
                .as_array()?
                .iter()
                .any(|p| p["name"] == "server" && p["online"] == true)
                .then_some(())
        },
    )
    .unwrap();

    let config = server.config.to_str().unwrap();
    let out = server
        .dmc(&["doctor", "--json", "--config", config])
        .unwrap();
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(!checks.is_empty());
    for c in &checks {
        let obj = c.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["check", "detail", "fix", "status"], "{c:#}");
        assert!(c["check"].is_string() && c["detail"].is_string(), "{c:#}");
        let status = c["status"].as_str().unwrap();
        assert!(["ok", "warn", "fail"].contains(&status), "{c:#}");
        // Every problem comes with a fix; an ok check has none.
        assert_eq!(c["fix"].is_string(), status != "ok", "{c:#}");
    }
    for name in [
        "config",
        "ffmpeg",
        "ffprobe",
        "profiles",
        "network key",
        "control socket",
    ] {
        assert_eq!(
            find(&checks, name)["status"],
            "ok",
            "{:#}",
            find(&checks, name)
        );
    }
    assert!(find(&checks, "config")["detail"]
        .as_str()
        .unwrap()
        .contains("server.toml loads"));
    assert!(find(&checks, "network key")["detail"]
        .as_str()
        .unwrap()
        .contains("mode 0600"));
    assert!(find(&checks, "control socket")["detail"]
        .as_str()
        .unwrap()
        .starts_with("node server "));
    assert!(find(&checks, "mdns")["detail"]
        .as_str()
        .unwrap()
        .starts_with("mDNS is off in the config"));
    find(&checks, "disk: work dir");
    let any_fail = checks.iter().any(|c| c["status"] == "fail");
    assert_eq!(
        out.status.success(),
        !any_fail,
        "exit code follows the failures"
    );

    // The laptop's doctor reports its peer, online.
    let config = laptop.config.to_str().unwrap();
    let out = laptop
        .dmc(&["doctor", "--json", "--config", config])
        .unwrap();
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let peer = checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("peer server ("))
        .unwrap_or_else(|| panic!("no peer check: {checks:#?}"));
    assert_eq!(peer["status"], "ok", "{peer:#}");
    assert!(
        peer["detail"].as_str().unwrap().starts_with("online"),
        "{peer:#}"
    );
    // A client node only notes what its ffmpeg could run.
    assert!(find(&checks, "profiles")["detail"]
        .as_str()
        .unwrap()
        .contains("does not convert"));
}

#[test]
fn doctor_without_a_node_reports_the_socket_and_its_fix() {
    let lab = Lab::new().unwrap();
    let data_dir = lab.path("idle");
    std::fs::create_dir_all(&data_dir).unwrap();
    let out = Command::new(dmc_bin())
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("doctor")
        .env_remove("DMC_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // Not a terminal: plain words instead of symbols.
    let socket = stdout
        .lines()
        .position(|l| l.starts_with("FAIL control socket"))
        .unwrap_or_else(|| panic!("no socket failure in:\n{stdout}"));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[socket].contains("no node running"), "{stdout}");
    assert!(
        lines[socket + 1].starts_with("     fix: start one: dmc --data-dir "),
        "{stdout}"
    );
    assert!(stdout.contains("warn network key"), "{stdout}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 check failed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn doctor_on_a_converter_without_ffmpeg_says_to_install_it() {
    let lab = Lab::new().unwrap();
    let data_dir = lab.path("conv");
    std::fs::create_dir_all(&data_dir).unwrap();
    let config = lab.path("conv.toml");
    std::fs::write(
        &config,
        "[discovery]\nmdns = false\n\n[converter]\nenabled = true\n",
    )
    .unwrap();
    // A PATH with ffprobe but no ffmpeg.
    let bin = lab.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ffprobe = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("ffprobe"))
        .find(|p| p.is_file())
        .expect("ffprobe on PATH");
    std::os::unix::fs::symlink(ffprobe, bin.join("ffprobe")).unwrap();
    let out = Command::new(dmc_bin())
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["doctor", "--json", "--config"])
        .arg(&config)
        .env("PATH", &bin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ffmpeg = find(&checks, "ffmpeg");
    assert_eq!(ffmpeg["status"], "fail", "{ffmpeg:#}");
    assert!(
        ffmpeg["fix"]
            .as_str()
            .unwrap()
            .contains("apt install ffmpeg"),
        "{ffmpeg:#}"
    );
    assert_eq!(find(&checks, "ffprobe")["status"], "ok");
}

/// `dmc --data-dir <node> doctor --json` without `--config` (nor `DMC_CONFIG`): the checklist.
fn doctor_of(node: &Node) -> Vec<Value> {
    let out = Command::new(dmc_bin())
        .arg("--data-dir")
        .arg(&node.data_dir)
        .args(["doctor", "--json"])
        .env_remove("DMC_CONFIG")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A node started with `--config <lab>/<name>.toml` (not in its data dir): doctor without
/// `--config` checks that file and the values the node runs with (mDNS off), not the
/// defaults; after `network join` without a restart it says to restart, not to join.
#[test]
fn doctor_checks_the_config_the_running_node_uses_and_asks_for_a_restart_after_a_join() {
    let lab = Lab::new().unwrap();
    let (converter, laptop) = Node::converter_and_laptop(&lab, true).unwrap();
    wait_until(
        "the laptop to see the refusal",
        Duration::from_secs(60),
        || {
            laptop
                .peers()
                .iter()
                .any(|p| p["rejected"] == "rejected: different network")
                .then_some(())
        },
    )
    .unwrap();

    let checks = doctor_of(&converter);
    let config = find(&checks, "config")["detail"].as_str().unwrap();
    assert!(
        config.ends_with("converter.toml loads (the file the running node loaded)"),
        "{checks:#?}"
    );
    let mdns = find(&checks, "mdns")["detail"].as_str().unwrap();
    assert!(mdns.starts_with("mDNS is off in the config"), "{checks:#?}");
    find(&checks, "disk: work dir");
    // `--config` naming the node's file relative to here is that file, not another.
    let out = Command::new(dmc_bin())
        .current_dir(converter.config.parent().unwrap())
        .arg("--data-dir")
        .arg(&converter.data_dir)
        .args(["doctor", "--json", "--config", "converter.toml"])
        .output()
        .unwrap();
    let same: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        !same.iter().any(|c| c["check"] == "config: running node"),
        "{same:#?}"
    );
    let before = find(&doctor_of(&laptop), "network key").clone();
    assert_eq!(before["status"], "ok", "{before:#}");

    // The laptop joins the lab's network; its node keeps running with the old key.
    let show = Command::new(dmc_bin())
        .arg("--data-dir")
        .arg(lab.path("network"))
        .args(["network", "show", "--json"])
        .output()
        .unwrap();
    let code: Value = serde_json::from_slice(&show.stdout).unwrap();
    let join = laptop
        .dmc(&["network", "join", code["join_code"].as_str().unwrap()])
        .unwrap();
    assert!(join.status.success(), "{join:?}");
    let checks = doctor_of(&laptop);
    let key = find(&checks, "network key");
    assert_eq!(key["status"], "warn", "{key:#}");
    assert!(
        key["fix"].as_str().unwrap().contains("restart the node"),
        "{key:#}"
    );
    let refused = checks
        .iter()
        .find(|c| c["detail"].as_str().unwrap().contains("different network"))
        .unwrap_or_else(|| panic!("no refused peer: {checks:#?}"));
    let fix = refused["fix"].as_str().unwrap();
    assert!(fix.contains("restart the node"), "{refused:#}");
    assert!(!fix.contains("network join"), "{refused:#}");
}

/// Two laptops that each reach only the converter: each knows the other through its records
/// alone, with no address to dial. That is no problem to report.
#[test]
fn a_client_known_only_through_records_is_not_a_problem() {
    let lab = Lab::new().unwrap();
    let (converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let other = Node::start(
        &lab,
        "other",
        NodeOpts {
            peers: vec![converter.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    wait_until(
        "the laptop to know the other laptop",
        Duration::from_secs(90),
        || {
            laptop
                .peers()
                .iter()
                .any(|p| p["name"] == "other")
                .then_some(())
        },
    )
    .unwrap();
    let checks = doctor_of(&laptop);
    let peer = checks
        .iter()
        .find(|c| c["check"].as_str().unwrap().starts_with("peer other ("))
        .unwrap_or_else(|| panic!("no check of the other laptop: {checks:#?}"));
    assert_eq!(peer["status"], "ok", "{peer:#}");
    assert!(
        peer["detail"]
            .as_str()
            .unwrap()
            .contains("no address to dial"),
        "{peer:#}"
    );
    drop(other);
}
