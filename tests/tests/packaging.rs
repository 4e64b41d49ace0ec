//! packaging/install.sh and uninstall.sh staged into a temporary DESTDIR with the built `dmc`
//! binary (what they leave, modes, idempotence, what --purge removes), `systemd-analyze verify`
//! on both units, and the CLI's completions and colour rules (the man page: `man_page.rs`).
//! The tests that need root or a tool beyond ffmpeg (systemd-analyze, systemd-nspawn, `script`, shellcheck) are
//! `#[ignore]`d; `-- --include-ignored` runs them and fails them when that is missing.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dmc_tests::{dmc_bin, needs};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Runs `packaging/<script>` with `args`, staging into `destdir`, with a clean environment for
/// the variables the scripts read; `home` replaces HOME.
fn script(script: &str, destdir: &Path, home: &Path, args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(repo().join("packaging").join(script))
        .args(args)
        .env("DESTDIR", destdir)
        .env("HOME", home)
        .env_remove("PREFIX")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .output()
        .expect("running bash");
    assert!(
        out.status.success(),
        "{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn install(destdir: &Path, home: &Path, extra: &[&str]) -> String {
    let bin = dmc_bin();
    let bin = bin.to_str().expect("a UTF-8 path to dmc");
    let mut args = vec!["--binary", bin];
    args.extend_from_slice(extra);
    String::from_utf8_lossy(&script("install.sh", destdir, home, &args).stdout).into_owned()
}

/// Every file and folder under `root`: relative path -> (mode, contents; empty for folders).
fn tree(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("dir entry").path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .display()
                .to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(rel, (mode, Vec::new()));
                walk(root, &path, out);
            } else {
                out.insert(rel, (mode, fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn files(root: &Path) -> Vec<String> {
    let mut f: Vec<String> = tree(root)
        .into_iter()
        .filter(|(rel, _)| root.join(rel).is_file())
        .map(|(rel, _)| rel)
        .collect();
    f.sort();
    f
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

const SYSTEM_FILES: [&str; 8] = [
    "etc/dmc/config.toml",
    "etc/systemd/system/dmc.service",
    "usr/local/bin/dmc",
    "usr/local/lib/sysusers.d/dmc.conf",
    "usr/local/share/bash-completion/completions/dmc",
    "usr/local/share/fish/vendor_completions.d/dmc.fish",
    "usr/local/share/man/man1/dmc.1",
    "usr/local/share/zsh/site-functions/_dmc",
];

#[test]
fn system_install_stages_every_file_with_its_mode() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = install(root.path(), home.path(), &[]);
    assert!(
        out.contains("not enabling or starting the service: DESTDIR is set"),
        "{out}"
    );
    assert!(
        out.contains("skipped    creating user dmc (DESTDIR is set)"),
        "{out}"
    );
    let r = root.path();
    assert_eq!(files(r), SYSTEM_FILES);
    assert_eq!(mode(&r.join("usr/local/bin/dmc")), 0o755);
    for f in SYSTEM_FILES.iter().filter(|f| !f.ends_with("bin/dmc")) {
        assert_eq!(mode(&r.join(f)), 0o644, "{f}");
    }
    assert_eq!(mode(&r.join("var/lib/dmc")), 0o710);
    assert_eq!(
        fs::read(r.join("usr/local/bin/dmc")).unwrap(),
        fs::read(dmc_bin()).unwrap()
    );
    let unit = fs::read_to_string(r.join("etc/systemd/system/dmc.service")).unwrap();
    assert!(
        unit.contains(
            "\nExecStart=/usr/local/bin/dmc --data-dir /var/lib/dmc node --config /etc/dmc/config.toml\n"
        ),
        "{unit}"
    );
    assert_eq!(
        fs::read(r.join("etc/dmc/config.toml")).unwrap(),
        fs::read(repo().join("packaging/config/system.toml")).unwrap()
    );
    let man = fs::read_to_string(r.join("usr/local/share/man/man1/dmc.1")).unwrap();
    assert!(man.contains(".SH NAME") && man.contains(".SH SYNOPSIS"));
}

#[test]
fn a_second_install_changes_nothing_and_never_overwrites_the_config() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    install(root.path(), home.path(), &[]);
    let config = root.path().join("etc/dmc/config.toml");
    fs::write(&config, "[converter]\nenabled = true\n").unwrap();
    let before = tree(root.path());
    let out = install(root.path(), home.path(), &[]);
    assert!(
        out.contains("kept       /etc/dmc/config.toml (exists; never overwritten)"),
        "{out}"
    );
    assert!(!out.contains("installed "), "{out}");
    assert_eq!(tree(root.path()), before, "the second run changed the tree");
    assert_eq!(
        fs::read_to_string(&config).unwrap(),
        "[converter]\nenabled = true\n"
    );
}

#[test]
fn uninstall_keeps_config_and_data_and_purge_removes_them() {
    let root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let r = root.path();
    install(r, home.path(), &[]);
    fs::write(r.join("var/lib/dmc/identity.key"), b"key").unwrap();
    let out =
        String::from_utf8_lossy(&script("uninstall.sh", r, home.path(), &[]).stdout).into_owned();
    assert!(out.contains("--purge removes them"), "{out}");
    assert_eq!(
        files(r),
        ["etc/dmc/config.toml", "var/lib/dmc/identity.key"],
        "{out}"
    );
    // Twice is fine.
    script("uninstall.sh", r, home.path(), &[]);
    script("uninstall.sh", r, home.path(), &["--purge"]);
    assert_eq!(files(r), Vec::<String>::new());
    assert!(!r.join("var/lib/dmc").exists() && !r.join("etc/dmc").exists());
}

#[test]
fn user_install_goes_to_the_home_and_uninstalls_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let home = Path::new("/home/dmc-test-user");
    let out = install(r, home, &["--user"]);
    assert!(out.contains("DESTDIR is set"), "{out}");
    let h = "home/dmc-test-user";
    let expected: Vec<String> = [
        ".config/dmc/config.toml",
        ".config/systemd/user/dmc.service",
        ".local/bin/dmc",
        ".local/share/bash-completion/completions/dmc",
        ".local/share/fish/vendor_completions.d/dmc.fish",
        ".local/share/man/man1/dmc.1",
        ".local/share/zsh/site-functions/_dmc",
    ]
    .iter()
    .map(|f| format!("{h}/{f}"))
    .collect();
    assert_eq!(files(r), expected);
    assert_eq!(mode(&r.join(h).join(".local/share/dmc")), 0o700);
    let unit = fs::read_to_string(r.join(h).join(".config/systemd/user/dmc.service")).unwrap();
    assert!(
        unit.contains(
            "\nExecStart=/home/dmc-test-user/.local/bin/dmc node --config %E/dmc/config.toml\n"
        ),
        "{unit}"
    );
    assert_eq!(
        fs::read(r.join(h).join(".config/dmc/config.toml")).unwrap(),
        fs::read(repo().join("packaging/config/user.toml")).unwrap()
    );
    let before = tree(r);
    install(r, home, &["--user"]);
    assert_eq!(tree(r), before, "the second run changed the tree");

    script("uninstall.sh", r, home, &["--user"]);
    assert_eq!(files(r), [format!("{h}/.config/dmc/config.toml")]);
    assert!(r.join(h).join(".local/share/dmc").is_dir());
    script("uninstall.sh", r, home, &["--user", "--purge"]);
    assert_eq!(files(r), Vec::<String>::new());
    assert!(!r.join(h).join(".local/share/dmc").exists());
}

#[test]
fn install_refuses_a_missing_binary_and_says_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(repo().join("packaging/install.sh"))
        .args(["--binary", "/nonexistent/dmc"])
        .env("DESTDIR", root.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--binary /nonexistent/dmc is not an executable file"),
        "{err}"
    );
    assert_eq!(files(root.path()), Vec::<String>::new());
}

/// `systemd-analyze verify` on `unit` with ExecStart pointed at the built binary (verify wants
/// it to exist); `user` verifies it as a user unit. Fails on any warning.
fn verify(unit_text: &str, exec_prefix: &str, user: bool) {
    let dir = tempfile::tempdir().unwrap();
    let bin = dmc_bin();
    let text = unit_text.replace(
        &format!("\nExecStart={exec_prefix} "),
        &format!("\nExecStart={} ", bin.display()),
    );
    assert_ne!(text, unit_text, "no ExecStart={exec_prefix} in the unit");
    let unit = dir.path().join("dmc.service");
    fs::write(&unit, text).unwrap();
    let runtime = dir.path().join("run");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = Command::new("systemd-analyze");
    if user {
        cmd.arg("--user").env("XDG_RUNTIME_DIR", &runtime);
    }
    // --man=no: the man page is not installed on the host running the test.
    let out = cmd
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{err}"
    );
    for bad in [
        "Unknown",
        "ignoring",
        "Invalid",
        "Failed",
        "not executable",
        "rror",
    ] {
        assert!(!err.contains(bad), "systemd-analyze verify warned:\n{err}");
    }
}

#[test]
#[ignore = "needs systemd-analyze"]
fn both_units_pass_systemd_analyze_verify() {
    needs::tool("systemd-analyze", &["--version"], "apt-get install systemd");
    let system = fs::read_to_string(repo().join("packaging/systemd/dmc.service")).unwrap();
    verify(&system, "/usr/bin/dmc", false);
    let user = fs::read_to_string(repo().join("packaging/systemd/user/dmc.service")).unwrap();
    verify(&user, "%h/.local/bin/dmc", true);

    // And as install.sh writes them.
    let root = tempfile::tempdir().unwrap();
    let home = Path::new("/home/dmc-test-user");
    install(root.path(), home, &[]);
    install(root.path(), home, &["--user"]);
    let system = fs::read_to_string(root.path().join("etc/systemd/system/dmc.service")).unwrap();
    verify(&system, "/usr/local/bin/dmc", false);
    let user = fs::read_to_string(
        root.path()
            .join("home/dmc-test-user/.config/systemd/user/dmc.service"),
    )
    .unwrap();
    verify(&user, "/home/dmc-test-user/.local/bin/dmc", true);
}

#[test]
fn the_system_unit_keeps_its_hardening() {
    let unit = fs::read_to_string(repo().join("packaging/systemd/dmc.service")).unwrap();
    for line in [
        "User=dmc",
        "StateDirectory=dmc",
        "ConfigurationDirectory=dmc",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "KillMode=mixed",
        // Group dmc passes through the data dir to the socket and results, never lists it.
        "StateDirectoryMode=0710",
        "UMask=0027",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
    // Whoever creates the data dir before the unit does gives it the same mode.
    for (script, line) in [
        (
            "packaging/install.sh",
            "install -d -m 0710 -o dmc -g dmc \"$DATA_DIR\"",
        ),
        (
            "packaging/debian/postinst",
            "install -d -m 0710 -o dmc -g dmc /var/lib/dmc",
        ),
    ] {
        let text = fs::read_to_string(repo().join(script)).unwrap();
        assert!(text.contains(line), "{script} lacks {line}");
        assert!(
            !text.contains("0750"),
            "{script} makes a data dir the group can list"
        );
    }
    // ffmpeg's libswscale may generate code at run time.
    assert!(!unit.contains("\nMemoryDenyWriteExecute="));
    let config = fs::read_to_string(repo().join("packaging/config/system.toml")).unwrap();
    assert!(config.contains("[control]\n") && config.contains("\ngroup = \"dmc\"\n"));
}

fn dmc(args: &[&str]) -> Output {
    Command::new(dmc_bin()).args(args).output().unwrap()
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef dmc"),
        ("fish", "complete -c dmc"),
    ] {
        let out = dmc(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(needle), "{shell}: {text}");
        assert!(text.contains("offer"), "{shell} completes subcommands");
    }
    let out = dmc(&["completions", "tcsh"]);
    assert!(!out.status.success());
}

/// Runs `dmc --data-dir DIR status` (no node there: it fails) on a pseudo-terminal with
/// `script`, with NO_COLOR set to `no_color`; returns what the terminal showed.
fn on_a_terminal(dir: &Path, no_color: Option<&str>) -> String {
    let cmd = format!(
        "{} --data-dir {} status",
        dmc_bin().display(),
        dir.display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
    if let Some(v) = no_color {
        c.env("NO_COLOR", v);
    }
    let out = c.output().expect("running script");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Off a terminal (a pipe), no escape codes, NO_COLOR set or not.
#[test]
fn no_colour_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for no_color in [None, Some("1")] {
        let mut c = Command::new(dmc_bin());
        c.args(["--data-dir", d, "status"]).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: no dmc node is running"), "{err}");
        assert!(!err.contains('\x1b'), "{err:?}");
    }
}

/// On a pseudo-terminal (util-linux's `script`), errors are coloured, unless NO_COLOR is set.
#[test]
#[ignore = "needs script (util-linux)"]
fn colour_on_a_terminal_unless_no_color() {
    needs::tool("script", &["--version"], "apt-get install bsdutils");
    let dir = tempfile::tempdir().unwrap();
    let coloured = on_a_terminal(dir.path(), None);
    assert!(coloured.contains("\x1b[1;31merror:\x1b[0m"), "{coloured:?}");
    let plain = on_a_terminal(dir.path(), Some("1"));
    assert!(plain.contains("error: no dmc node is running"), "{plain:?}");
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

/// packaging/check-system-unit.sh: inside a throwaway systemd container booted on this
/// machine's /usr (own network namespace, loopback only), install.sh enables and starts
/// dmc.service, which converts a clip with ffmpeg under its hardening as user dmc; a second
/// install.sh changes nothing; uninstall.sh keeps config and data, --purge removes them.
#[test]
#[ignore = "needs root and systemd-nspawn"]
fn the_hardened_system_unit_converts_a_clip_as_user_dmc() {
    needs::root("boot a systemd-nspawn container");
    needs::tool(
        "systemd-nspawn",
        &["--version"],
        "apt-get install systemd-container",
    );
    let out = Command::new("bash")
        .arg(repo().join("packaging/check-system-unit.sh"))
        .arg(dmc_bin())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("OK: install.sh set up dmc.service"),
        "check-system-unit.sh failed ({}):\n{text}",
        out.status
    );
}

#[test]
#[ignore = "needs shellcheck"]
fn the_scripts_pass_shellcheck() {
    needs::tool("shellcheck", &["--version"], "apt-get install shellcheck");
    let root = repo();
    let out = Command::new("shellcheck")
        .arg("-x")
        .args([
            "packaging/install.sh",
            "packaging/uninstall.sh",
            "packaging/lib.sh",
            "packaging/quickstart.sh",
            "packaging/check-system-unit.sh",
            "packaging/debian/postinst",
            "packaging/debian/postrm",
            "packaging/debian/build.sh",
            // The benches (bench/smoke runs them all in CI).
            "bench/lib.sh",
            "bench/smoke",
            "bench/dashboard",
            "bench/e2e",
            "bench/farm",
            "bench/key-cost",
            "bench/lan-transfer",
            "bench/reconcile",
            "bench/rejoin",
            "bench/transfer",
            "bench/vs-syncthing",
        ])
        .current_dir(&root)
        .output()
        .expect("running shellcheck");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
