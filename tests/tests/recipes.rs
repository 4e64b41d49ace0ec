//! The docs' recipes run as written: every fenced `sh` block marked
//! `<!-- recipe: tested by tests/tests/recipes.rs -->` in README.md and docs/*.md is run with
//! bash (`set -euo pipefail`) in a fresh folder, with this workspace's `dmc` first on PATH, and
//! must exit 0. A recipe that lacks a step (a network key, a config) fails here before a user
//! finds out. The recipes listen on fixed loopback ports with mDNS off, as users paste them.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dmc_tests::dmc_bin;

/// The line that marks the fenced block after it as a recipe this test runs.
const MARK: &str = "<!-- recipe: tested by tests/tests/recipes.rs -->";
/// The longest a recipe may run (building nothing: it converts a two-second clip).
const TIMEOUT: Duration = Duration::from_secs(240);

/// (file, line of the mark, the block's text) of every marked recipe.
fn recipes(root: &Path) -> Vec<(PathBuf, usize, String)> {
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable markdown");
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if line.trim() != MARK {
                continue;
            }
            assert_eq!(
                lines.get(n + 1).map(|l| l.trim()),
                Some("```sh"),
                "{}:{}: the recipe mark must be followed by a ```sh block",
                file.display(),
                n + 1
            );
            let body: Vec<&str> = lines[n + 2..]
                .iter()
                .take_while(|l| l.trim() != "```")
                .copied()
                .collect();
            out.push((file.clone(), n + 1, body.join("\n")));
        }
    }
    out
}

/// Runs one recipe in `dir`; on failure, its output and any node logs it left.
fn run(dir: &Path, recipe: &str) -> Result<(), String> {
    let script = dir.join("recipe.sh");
    // Background nodes started by the recipe stop with it, whatever happens.
    let text =
        format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{recipe}\n");
    std::fs::write(&script, text).map_err(|e| e.to_string())?;
    let bin_dir = dmc_bin().parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .arg(&script)
        .current_dir(dir)
        .env("PATH", path)
        .env_remove("DMC_DATA_DIR")
        .env_remove("DMC_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if start.elapsed() > TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Whatever the recipe left running goes with its process group.
    let _ = Command::new("kill")
        .args(["--", &format!("-{}", child.id())])
        .status();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if status.is_some_and(|s| s.success()) {
        return Ok(());
    }
    let logs: String = ["dmc-try/a.log", "dmc-try/b.log"]
        .iter()
        .filter_map(|l| {
            std::fs::read_to_string(dir.join(l))
                .ok()
                .map(|t| format!("--- {l}\n{t}"))
        })
        .collect();
    Err(format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}\n{logs}",
        match status {
            Some(s) => format!("exited with {s}"),
            None => format!("still running after {TIMEOUT:?}"),
        },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[test]
fn every_marked_recipe_in_the_docs_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let recipes = recipes(&root);
    // Cannot pass by finding nothing: README's two-node recipe is among them.
    assert!(
        recipes
            .iter()
            .any(|(f, _, r)| f.ends_with("README.md") && r.contains("network join")),
        "README's two-node recipe is not marked with {MARK}"
    );
    for (file, line, recipe) in recipes {
        let dir = tempfile::tempdir().expect("temp dir");
        if let Err(e) = run(dir.path(), &recipe) {
            panic!("the recipe at {}:{line} failed: {e}", file.display());
        }
    }
}
