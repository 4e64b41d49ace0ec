//! What the `#[ignore]`d tests need from the machine: root, and tools beyond ffmpeg. Each check
//! panics naming what is missing and how to install it, so a run that asked for these tests
//! (`-- --include-ignored`, as `.ci/run` does) and lacks them fails instead of passing.

use std::process::{Command, Stdio};

/// How to run the tests that need more than ffmpeg; quoted by every panic here.
const HOW: &str = "the ignored tests want root and the tools `.ci/run` installs: \
                   `cargo test --workspace --locked -- --include-ignored`";

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { geteuid() == 0 }
}

/// Panics unless this process runs as root; `what` says what root is needed for.
pub fn root(what: &str) {
    if !is_root() {
        panic!(
            "this test needs root to {what}, and runs as uid {}; {HOW}",
            unsafe {
                // SAFETY: geteuid has no preconditions.
                geteuid()
            }
        );
    }
}

/// Panics unless `program args…` runs and exits 0; `install` says how to get it (e.g.
/// `apt-get install shellcheck`).
pub fn tool(program: &str, args: &[&str], install: &str) {
    let ran = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output();
    match ran {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "this test needs `{program}`, and `{program} {}` failed ({}): {}\n\
             install it with `{install}`; {HOW}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!(
            "this test needs `{program}`, which cannot be run here ({e}); \
             install it with `{install}`; {HOW}"
        ),
    }
}

/// Panics unless `python3` can import `module`; `install` says how to get it.
pub fn python_module(module: &str, install: &str) {
    tool("python3", &["-c", &format!("import {module}")], install);
}

extern "C" {
    fn geteuid() -> u32;
}
