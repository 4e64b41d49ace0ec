//! The man page through the real binary: `dmc man` renders with `man -l` without a warning,
//! names no page that is not installed, documents every command and subcommand (flags without
//! invented values), and `man` is offered alike by `--help` and the completions.

use std::process::{Command, Stdio};

use dmc_tests::{dmc_bin, needs};

/// `dmc ARGS`, its stdout; fails on a non-zero exit.
fn dmc(args: &[&str]) -> String {
    let out = Command::new(dmc_bin()).args(args).output().unwrap();
    assert!(out.status.success(), "dmc {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs man"]
fn the_man_page_renders_without_warnings_and_lists_every_command() {
    needs::tool("man", &["--version"], "apt-get install man-db");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("dmc.1");
    std::fs::write(&page, dmc(&["man"])).unwrap();
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "0")
        .env_remove("MANPAGER")
        .env("PAGER", "cat")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{out:?}");
    assert!(warnings.trim().is_empty(), "man warned:\n{warnings}");
    // Overstrikes off (`X\bX` bold, `_\bX` underline), whatever the pager settings.
    let mut plain: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    let text: String = plain.into_iter().collect();
    assert!(
        text.contains("dmc - peer-to-peer media conversion for the LAN"),
        "{text}"
    );
    for command in [
        "dmc node",
        "dmc offer",
        "dmc status",
        "dmc list",
        "dmc fetch",
        "dmc cancel",
        "dmc priority",
        "dmc peers",
        "dmc profiles",
        "dmc info",
        "dmc network show",
        "dmc network join",
        "dmc network new",
        "dmc completions",
        "dmc man",
        "dmc doctor",
    ] {
        assert!(
            text.contains(&format!("   {command}\n")),
            "no section {command}:\n{text}"
        );
    }
    assert!(
        !text.contains("dmc-offer(1)") && !text.contains("dmc-node(1)"),
        "{text}"
    );
    assert!(
        !text.contains("<WAIT>") && !text.contains("--wait WAIT"),
        "{text}"
    );
    assert!(text.contains("--priority N"), "{text}");
}

#[test]
fn the_page_has_the_usual_sections_and_man_is_offered_alike_by_help_and_completions() {
    let page = dmc(&["man"]);
    for needle in [
        ".TH DMC 1",
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SS \"dmc offer\"",
        ".SH FILES",
    ] {
        assert!(page.contains(needle), "missing {needle}");
    }
    let help = dmc(&["--help"]);
    assert!(
        help.lines().any(|l| l.trim_start().starts_with("man ")),
        "{help}"
    );
    assert!(dmc(&["completions", "bash"]).contains("man"));
}
