//! `offer FILE... [--profile P] [--priority N] [--again] [--wait] [--json]`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use dmc_node::control::api::{ErrorKind, OfferOutcome};

use crate::client::{Client, NoNode, NodeRefused};
use crate::output::{emit, json, safe};
use crate::wait::{self, Mode, Tracked};

/// What to do about a file the node could not read, by the kind of its refusal ("" when
/// nothing more can be said).
fn next_step(error: &anyhow::Error) -> &'static str {
    let kind = error.downcast_ref::<NodeRefused>().and_then(|r| r.kind);
    match kind {
        Some(ErrorKind::FileNotFound) => {
            "; check the path (relative paths start in the current folder)"
        }
        Some(ErrorKind::FilePermissionDenied) => {
            "; the node reads the file itself: when it runs as another user (the system service \
             runs as dmc), make the file readable by it (e.g. chgrp dmc FILE; chmod g+r FILE, and \
             g+x on its folders) or copy it to a folder it can read"
        }
        None => "",
    }
}

/// How each file is offered: `--profile`, `--priority`, `--again`.
#[derive(Clone, Copy, Debug)]
pub struct How<'a> {
    pub profile: Option<&'a str>,
    pub priority: i32,
    /// A new item even for content offered before.
    pub again: bool,
}

pub async fn run(
    client: &Client,
    files: &[PathBuf],
    how: How<'_>,
    wait: bool,
    as_json: bool,
) -> Result<()> {
    let (mut offered, failed_offers) = offer_each(client, files, how, as_json).await?;
    if wait && !offered.is_empty() {
        let failed = wait_for_all(client, &mut offered, as_json).await?;
        if failed > 0 || failed_offers > 0 {
            bail!(
                "{} of {} files did not end delivered",
                failed + failed_offers,
                files.len()
            );
        }
        return Ok(());
    }

    if as_json {
        emit(&json(&outcomes(&offered))?)?;
    }
    if failed_offers > 0 {
        return Err(anyhow!(
            "{failed_offers} of {} files could not be offered",
            files.len()
        ));
    }
    Ok(())
}

/// Offers each file, printing a line for each (unless `as_json`) and an error for each that
/// could not be offered; the outcomes with their labels, and how many failed. Without a node
/// it stops at once.
async fn offer_each(
    client: &Client,
    files: &[PathBuf],
    how: How<'_>,
    as_json: bool,
) -> Result<(Vec<(String, OfferOutcome)>, usize)> {
    let mut offered: Vec<(String, OfferOutcome)> = Vec::new();
    let mut failed_offers = 0usize;
    for file in files {
        let label = file.display().to_string();
        let outcome = async {
            let abs = std::path::absolute(file)
                .with_context(|| format!("cannot make {label} absolute"))?;
            client
                .offer(&abs, how.profile, how.priority, how.again)
                .await
        }
        .await;
        match outcome {
            Ok(o) => {
                if !as_json {
                    emit(&offer_line(&label, &o))?;
                }
                offered.push((label, o));
            }
            // Without a node no other file can be offered either.
            Err(e) if e.downcast_ref::<NoNode>().is_some() => return Err(e),
            Err(e) => {
                failed_offers += 1;
                let tag = crate::style::paint(
                    "error:",
                    crate::style::Colour::Red,
                    crate::style::stderr(),
                );
                let what = safe(&format!("{label}: {e:#}")).into_owned();
                eprintln!("{tag} {what}{}", next_step(&e));
            }
        }
    }
    Ok((offered, failed_offers))
}

/// `--wait`: follows the offered items until each ends, updates them, prints the summary
/// (or the JSON); how many did not end delivered.
async fn wait_for_all(
    client: &Client,
    offered: &mut [(String, OfferOutcome)],
    as_json: bool,
) -> Result<usize> {
    let mode = if as_json {
        Mode::Quiet
    } else if std::io::stdout().is_terminal() {
        Mode::Bars
    } else {
        Mode::Lines
    };
    let mut tracked: Vec<Tracked> = offered
        .iter()
        .map(|(label, o)| Tracked::new(label.clone(), o.item.clone()))
        .collect();
    wait::wait_all(client, &mut tracked, mode).await?;
    for ((_, o), t) in offered.iter_mut().zip(tracked.iter()) {
        o.item = t.item.clone();
    }
    let (text, failed) = wait::summary(&tracked);
    if as_json {
        emit(&json(&outcomes(offered))?)?;
    } else {
        emit(&text)?;
    }
    Ok(failed)
}

fn outcomes(offered: &[(String, OfferOutcome)]) -> Vec<&OfferOutcome> {
    offered.iter().map(|(_, o)| o).collect()
}

/// `offered <file> as <id>` or `<file> was already offered as <id> (status …)`.
pub fn offer_line(label: &str, o: &OfferOutcome) -> String {
    let (i, label) = (&o.item, safe(label));
    if o.existing {
        format!(
            "{label} was already offered as {} (status {}, phase {})\n",
            i.item_id,
            i.status.as_str(),
            i.phase.as_str()
        )
    } else {
        format!(
            "offered {label} as {} (profile {})\n",
            i.item_id, i.conversion_type
        )
    }
}

#[cfg(test)]
mod tests {
    use dmc_protocol::Phase;

    use super::*;
    use crate::output::tests::sample;

    #[test]
    fn unreadable_files_get_a_next_step() {
        let refused = |kind| {
            anyhow::Error::from(NodeRefused {
                message: "cannot read /x".into(),
                kind,
            })
        };
        assert!(next_step(&refused(Some(ErrorKind::FileNotFound))).contains("check the path"));
        assert!(next_step(&refused(Some(ErrorKind::FilePermissionDenied))).contains("chgrp dmc"));
        assert_eq!(next_step(&refused(None)), "");
        // The kind decides, never the text.
        assert_eq!(
            next_step(&anyhow!(
                "cannot read /x: No such file or directory (os error 2)"
            )),
            ""
        );
    }

    #[test]
    fn offer_lines() {
        let item = sample(
            "7f1c2a90-1111-4222-8333-444455556666",
            "clip.mp4",
            Phase::Offered,
            0.0,
        );
        let new = OfferOutcome {
            existing: false,
            item: item.clone(),
        };
        assert_eq!(
            offer_line("clip.mp4", &new),
            "offered clip.mp4 as 7f1c2a90-1111-4222-8333-444455556666 (profile mkv-x265)\n"
        );
        let old = OfferOutcome {
            existing: true,
            item,
        };
        assert_eq!(
            offer_line("clip.mp4", &old),
            "clip.mp4 was already offered as 7f1c2a90-1111-4222-8333-444455556666 (status to_do, phase offered)\n"
        );
    }
}
