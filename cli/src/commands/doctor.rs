//! `dmc doctor`: checks this machine's dmc setup (the local checks of `dmc_node::doctor`, then
//! the running node's socket and peers) and prints a checklist, each problem with its fix.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dmc_node::doctor::{self, peers, socket, socket::NodeAnswer, Check, DoctorOptions, Status};

use crate::client::{Client, NoNode};
use crate::output::{emit, json as to_json, safe, safe_lines};
use crate::style::{self, Colour};

/// Longest check name padded to in the checklist.
const MAX_LABEL: usize = 28;

/// Runs every check, prints them, and fails (exit 1) when one failed. A running node is asked
/// for the configuration it runs with, and that is what is checked.
pub async fn run(
    client: &Client,
    data_dir: &Path,
    config: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let answer = ask_node(client).await;
    // Absolute, as the node reports its own file, so the two compare.
    let config = match config {
        Some(c) => Some(
            std::path::absolute(&c)
                .with_context(|| format!("cannot make {} absolute", c.display()))?,
        ),
        None => None,
    };
    let mut opts = DoctorOptions::new(data_dir.to_path_buf(), config);
    if matches!(answer, NodeAnswer::Answered { .. }) {
        // A node of a version without `/v1/config` is checked with what this machine finds.
        opts.running = client.config().await.ok();
    }
    let local = doctor::local_checks(&opts).await;
    let mut checks = local.checks;
    let group: Option<&str> = local.config.control.group.as_deref();
    checks.extend(node_checks(client, data_dir, group, answer, local.key_changed).await);
    if json {
        emit(&to_json(&checks)?)?;
    } else {
        let fancy = std::io::stdout().is_terminal();
        emit(&render(&checks, fancy, fancy && style::stdout()))?;
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        bail!(
            "{failed} check{} failed; each is followed by its fix",
            if failed == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

/// Whether a node answers on the socket, and which.
async fn ask_node(client: &Client) -> NodeAnswer {
    match client.info().await {
        Ok(v) => NodeAnswer::Answered {
            name: v.name,
            version: v.version,
            upgrading: v.upgrading,
        },
        Err(e) if e.downcast_ref::<NoNode>().is_some() => NodeAnswer::NoNode,
        Err(e) => NodeAnswer::Failed(format!("{e:#}")),
    }
}

/// The checks that ask the running node: its socket (owned by `group`, if one is configured),
/// then its peers (`key_changed`: a network key joined since it started waits for a restart).
async fn node_checks(
    client: &Client,
    data_dir: &Path,
    group: Option<&str>,
    answer: NodeAnswer,
    key_changed: bool,
) -> Vec<Check> {
    let mut out = vec![socket::check(data_dir, &answer, group)];
    match answer {
        // Peers are not known until the node has filled in its database (the socket check
        // says so).
        NodeAnswer::Answered {
            upgrading: Some(_), ..
        } => {}
        NodeAnswer::Answered { .. } => match client.peers().await {
            Ok(p) => out.extend(peers::checks(&p, key_changed)),
            Err(e) => out.push(peers::failed(&format!("{e:#}"))),
        },
        NodeAnswer::NoNode | NodeAnswer::Failed(_) => out.push(peers::no_node()),
    }
    out
}

/// The mark of a status: ✓ ! ✗ on a terminal (coloured when `colour`), else words.
fn mark(status: Status, fancy: bool, colour: bool) -> String {
    let (sym, word, c) = match status {
        Status::Ok => ("✓", "ok  ", Colour::Green),
        Status::Warn => ("!", "warn", Colour::Yellow),
        Status::Fail => ("✗", "FAIL", Colour::Red),
    };
    if fancy {
        style::paint(sym, c, colour)
    } else {
        word.to_string()
    }
}

/// The checklist: one line per check, `  fix: …` under each problem, and a count.
pub fn render(checks: &[Check], fancy: bool, colour: bool) -> String {
    let width = checks
        .iter()
        .map(|c| c.check.chars().count())
        .max()
        .unwrap_or(0)
        .min(MAX_LABEL);
    let indent = if fancy { "  " } else { "     " };
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!(
            "{} {:width$}  {}\n",
            mark(c.status, fancy, colour),
            c.check,
            safe_lines(&c.detail, indent)
        ));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("{indent}fix: {}\n", safe(fix)));
        }
    }
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    out.push_str(&format!(
        "\n{} ok, {} warning(s), {} failed\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checklist_marks_and_fixes() {
        let checks = vec![
            Check::ok("config", "defaults"),
            Check::warn("disk: work dir", "only 1 B free", "free space"),
            Check::fail("ffmpeg", "not on PATH", "apt install ffmpeg"),
        ];
        let plain = render(&checks, false, false);
        assert_eq!(
            plain,
            "ok   config          defaults\n\
             warn disk: work dir  only 1 B free\n     fix: free space\n\
             FAIL ffmpeg          not on PATH\n     fix: apt install ffmpeg\n\
             \n1 ok, 1 warning(s), 1 failed\n"
        );
        let fancy = render(&checks, true, false);
        assert!(fancy.starts_with("✓ config "), "{fancy}");
        assert!(fancy.contains("\n✗ ffmpeg "), "{fancy}");
        assert!(fancy.contains("\n  fix: apt install ffmpeg\n"), "{fancy}");
        assert!(render(&checks, true, true).contains("\x1b[1;31m✗\x1b[0m"));
    }
}
