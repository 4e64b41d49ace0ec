//! `offer FILE... [--profile P] [--priority N] [--again] [--wait] [--json]`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use dmc_node::control::api::{ErrorKind, OfferOutcome};
use serde::Serialize;

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
    let done = offer_all(client, files, how, wait, as_json).await;
    if as_json {
        emit(&json_of(&done)?)?;
    }
    match done {
        Ok(Done { failure: None, .. }) => Ok(()),
        Ok(Done {
            failure: Some(f), ..
        }) => Err(anyhow!(f)),
        Err(e) => Err(e),
    }
}

/// What `offer` did: the items offered (as they ended, with `--wait`), the files that could
/// not be offered and why, and what went wrong overall.
struct Done {
    offered: Vec<(String, OfferOutcome)>,
    not_offered: Vec<NotOffered>,
    /// "1 of 2 files could not be offered", "… did not end delivered"; `None` when all is well.
    failure: Option<String>,
}

/// A file the node did not take, as `offer --json` reports it.
#[derive(Serialize)]
struct NotOffered {
    file: String,
    error: String,
}

/// The JSON `offer --json` prints: the outcomes when all went well, else an object with the
/// `error`, the outcomes (`offered`) and the files not offered.
fn json_of(done: &Result<Done>) -> Result<String> {
    #[derive(Serialize)]
    struct Failure<'a> {
        error: String,
        offered: Vec<&'a OfferOutcome>,
        not_offered: &'a [NotOffered],
    }
    match done {
        Ok(d) => match &d.failure {
            None => json(&outcomes(&d.offered)),
            Some(f) => json(&Failure {
                error: f.clone(),
                offered: outcomes(&d.offered),
                not_offered: &d.not_offered,
            }),
        },
        Err(e) => json(&Failure {
            error: format!("{e:#}"),
            offered: Vec::new(),
            not_offered: &[],
        }),
    }
}

/// Offers every file and, with `wait`, follows them until each ends.
async fn offer_all(
    client: &Client,
    files: &[PathBuf],
    how: How<'_>,
    wait: bool,
    as_json: bool,
) -> Result<Done> {
    let (mut offered, not_offered) = offer_each(client, files, how, as_json).await?;
    let mut failure = (!not_offered.is_empty()).then(|| {
        format!(
            "{} of {} files could not be offered",
            not_offered.len(),
            files.len()
        )
    });
    if wait && !offered.is_empty() {
        let failed = wait_for_all(client, &mut offered, as_json).await? + not_offered.len();
        failure = (failed > 0)
            .then(|| format!("{failed} of {} files did not end delivered", files.len()));
    }
    Ok(Done {
        offered,
        not_offered,
        failure,
    })
}

/// Offers each file, printing a line for each (unless `as_json`) and an error for each that
/// could not be offered; the outcomes with their labels, and the files not offered. Without a
/// node it stops at once.
async fn offer_each(
    client: &Client,
    files: &[PathBuf],
    how: How<'_>,
    as_json: bool,
) -> Result<(Vec<(String, OfferOutcome)>, Vec<NotOffered>)> {
    let mut offered: Vec<(String, OfferOutcome)> = Vec::new();
    let mut not_offered = Vec::new();
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
                let tag = crate::style::paint(
                    "error:",
                    crate::style::Colour::Red,
                    crate::style::stderr(),
                );
                let what = safe(&format!("{label}: {e:#}")).into_owned();
                eprintln!("{tag} {what}{}", next_step(&e));
                not_offered.push(NotOffered {
                    file: label,
                    error: format!("{e:#}{}", next_step(&e)),
                });
            }
        }
    }
    Ok((offered, not_offered))
}

/// `--wait`: follows the offered items until each ends, updates them, prints the summary
/// (unless `as_json`); how many did not end delivered.
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
    if !as_json {
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
            crate::output::status_word(i),
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
