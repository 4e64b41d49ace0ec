//! Where the dashboard is served (issue 15, points 1 and 2), with real node processes: on
//! another address than loopback only with a password (without one the node refuses to start,
//! naming the key and `dmc gui set-password`), and a port something else holds leaves the
//! node converting without a dashboard while `dmc gui` says why. HTTPS: `gui_https.rs`.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use dmc_tests::http::set_password;
use dmc_tests::{dmc_bin, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_dashboard_on_a_non_loopback_address_is_refused_at_start_until_a_password_is_set() {
    let lab = Lab::new().unwrap();
    let root = lab.path("exposed");
    std::fs::create_dir_all(&root).unwrap();
    let config = root.join("node.toml");
    std::fs::write(
        &config,
        "[node]\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\n\n[discovery]\nmdns = false\n\n\
         [gui]\nlisten = \"0.0.0.0:0\"\n",
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
    assert!(said.contains("[gui] listen = \"0.0.0.0:0\""), "{said}");
    assert!(said.contains("not a loopback address"), "{said}");
    assert!(said.contains("dmc gui set-password"), "{said}");

    // The password's rule is said; a good one is kept only as an argon2id hash, 0600.
    let data = root.join("data");
    let short = set_password(&data, "too-short").unwrap();
    let said = String::from_utf8_lossy(&short.stderr);
    assert!(!short.status.success());
    assert!(said.contains("at least 12"), "{said}");
    let set = set_password(&data, "correct-horse-battery").unwrap();
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let file = data.join("gui-password.argon2");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("horse"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
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

/// Types `password` twice into `dmc gui set-password` on a pseudo-terminal (python's `pty`),
/// each time only once the terminal's echo is off; gives what the terminal showed and whether
/// dmc succeeded.
const ON_A_TERMINAL: &str = r#"
import os, pty, sys, termios, time
dmc, data, pw = sys.argv[1], sys.argv[2], sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(dmc, [dmc, "--data-dir", data, "gui", "set-password"])
shown = b""
def read_until(text):
    global shown
    while text not in shown:
        chunk = os.read(fd, 1024)
        if not chunk:
            raise SystemExit("dmc ended before asking: " + shown.decode(errors="replace"))
        shown += chunk
def type_once_echo_is_off():
    for _ in range(3000):
        if not termios.tcgetattr(fd)[3] & termios.ECHO:
            os.write(fd, pw + b"\n")
            return
        time.sleep(0.01)
    raise SystemExit("the terminal's echo stayed on")
read_until(b"characters): ")
type_once_echo_is_off()
read_until(b"again: ")
type_once_echo_is_off()
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        shown += chunk
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(shown.decode(errors="replace"))
sys.exit(0 if os.waitstatus_to_exitcode(status) == 0 else 1)
"#;

#[test]
#[ignore = "needs python3"]
fn set_password_on_a_terminal_asks_twice_and_never_shows_the_password() {
    dmc_tests::needs::tool("python3", &["--version"], "apt-get install python3");
    let lab = Lab::new().unwrap();
    let data = lab.path("data");
    let out = Command::new("python3")
        .args(["-c", ON_A_TERMINAL])
        .arg(dmc_bin())
        .arg(&data)
        .arg("correct-horse-battery")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("at least 12 characters"), "{shown}");
    assert!(shown.contains("password set"), "{shown}");
    assert!(!shown.contains("horse"), "the password was shown: {shown}");
    let stored = std::fs::read_to_string(data.join("gui-password.argon2")).unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
}
