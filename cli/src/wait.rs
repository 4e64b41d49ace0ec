//! `offer --wait`: polls items until each reaches a final phase, drawing progress bars on a
//! terminal or printing a line at each phase change and every 10 % otherwise.

use std::time::Duration;

use anyhow::Result;
use dmc_node::control::api::ItemView;
use dmc_protocol::Phase;

use crate::client::Client;
use crate::output::{self, emit, percent, safe, truncate};

/// How often each item is polled.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Width of a drawn progress line: wider lines would wrap and break the redraw.
const LINE_WIDTH: usize = 79;
const BAR_WIDTH: usize = 20;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bars redrawn in place (stdout is a terminal).
    Bars,
    /// A line per phase change or 10 % step.
    Lines,
    /// Nothing (`--json`).
    Quiet,
}

/// An item being waited for, under the name the user gave its file.
pub struct Tracked {
    pub label: String,
    pub item: ItemView,
    last_line: Option<(Phase, u8)>,
}

impl Tracked {
    pub fn new(label: String, item: ItemView) -> Self {
        Tracked {
            label,
            item,
            last_line: None,
        }
    }
}

/// Polls every tracked item until all are final, showing progress as `mode` says.
pub async fn wait_all(client: &Client, tracked: &mut [Tracked], mode: Mode) -> Result<()> {
    let mut drawn = 0usize;
    loop {
        match mode {
            Mode::Bars => {
                let mut text = String::new();
                if drawn > 0 {
                    text.push_str(&format!("\x1b[{drawn}A"));
                }
                for t in tracked.iter() {
                    text.push_str("\x1b[2K");
                    text.push_str(&bar_line(&t.label, &t.item));
                    text.push('\n');
                }
                drawn = tracked.len();
                emit(&text)?;
            }
            Mode::Lines => {
                let text: String = tracked
                    .iter_mut()
                    .filter_map(|t| line_update(&mut t.last_line, &t.label, &t.item))
                    .map(|l| l + "\n")
                    .collect();
                emit(&text)?;
            }
            Mode::Quiet => {}
        }
        if tracked.iter().all(|t| t.item.phase.is_final()) {
            return Ok(());
        }
        tokio::time::sleep(POLL_EVERY).await;
        for t in tracked.iter_mut().filter(|t| !t.item.phase.is_final()) {
            t.item = client.status(t.item.item_id).await?;
        }
    }
}

/// Phase, progress and detail of one item, cut to fit a terminal line.
pub fn bar_line(label: &str, item: &ItemView) -> String {
    let fraction = if item.progress.is_finite() {
        item.progress.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let filled = (fraction * BAR_WIDTH as f64).round() as usize;
    let bar: String = "#".repeat(filled) + &"-".repeat(BAR_WIDTH - filled);
    let line = |detail: String| {
        format!(
            "{:<20} [{bar}] {:>4} {:<12} {detail}",
            truncate(&safe(label), 20),
            percent(fraction),
            item.phase.as_str()
        )
    };
    let mut full = line(detail(item, true));
    if full.trim_end().chars().count() > LINE_WIDTH {
        // Speed and ETA matter more than fps on a narrow line.
        full = line(detail(item, false));
    }
    truncate(full.trim_end(), LINE_WIDTH)
}

/// What to show after the phase, made [`safe`]; `with_fps` adds the frame rate to speed and
/// ETA.
fn detail(item: &ItemView, with_fps: bool) -> String {
    let text = match item.phase {
        Phase::Transferring | Phase::Converting => {
            let mut parts = Vec::new();
            if let Some(fps) = item.fps.filter(|_| with_fps) {
                parts.push(format!("{fps:.0} fps"));
            }
            if let Some(speed) = item.speed.filter(|s| s.is_finite() && *s > 0.0) {
                parts.push(format!("{speed:.1}x"));
            }
            if let Some(eta) = item.eta_secs {
                parts.push(format!("ETA {}", output::duration(eta)));
            }
            parts.join(" ")
        }
        Phase::Delivered => item.output_path.clone().unwrap_or_default(),
        Phase::Failed | Phase::Cancelled => item.errors.last().cloned().unwrap_or_default(),
        _ => item.waiting_reason.clone().unwrap_or_default(),
    };
    safe(&text).into_owned()
}

/// The line to print when the phase or the 10 % step changed since `last`, else `None`.
pub fn line_update(last: &mut Option<(Phase, u8)>, label: &str, item: &ItemView) -> Option<String> {
    let step = if item.progress.is_finite() {
        (item.progress.clamp(0.0, 1.0) * 10.0).floor() as u8
    } else {
        0
    };
    let now = (item.phase, step);
    if *last == Some(now) {
        return None;
    }
    *last = Some(now);
    let mut line = format!(
        "{}: {} {}",
        safe(label),
        item.phase.as_str(),
        percent(item.progress)
    );
    let detail = detail(item, true);
    if !detail.is_empty() {
        line.push_str(&format!(" ({detail})"));
    }
    Some(line)
}

/// The final report of each item, and how many did not end delivered.
pub fn summary(tracked: &[Tracked]) -> (String, usize) {
    let mut text = String::new();
    let mut failed = 0;
    for t in tracked {
        let (i, label) = (&t.item, safe(&t.label));
        if i.phase == Phase::Delivered {
            let to = i
                .output_path
                .as_deref()
                .unwrap_or("the node's output folder");
            text.push_str(&format!("{label}: delivered to {}\n", safe(to)));
            continue;
        }
        failed += 1;
        text.push_str(&format!("{label}: {} ({})\n", i.phase.as_str(), i.item_id));
        if i.errors.is_empty() {
            text.push_str("  error: no reason recorded\n");
        }
        for e in &i.errors {
            text.push_str(&format!("  error: {}\n", safe(e)));
        }
    }
    (text, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::tests::sample;

    const ID: &str = "7f1c2a90-1111-4222-8333-444455556666";

    #[test]
    fn bar_line_shows_phase_progress_and_eta() {
        let i = sample(ID, "clip.mp4", Phase::Converting, 0.5);
        let l = bar_line("clip.mp4", &i);
        assert_eq!(
            l,
            "clip.mp4             [##########----------]  50% converting   3.5x ETA 1m23s"
        );
        assert!(l.chars().count() <= LINE_WIDTH);
        let mut w = sample(ID, "clip.mp4", Phase::Offered, 0.0);
        w.waiting_reason =
            Some("waiting for a converter that accepts this item, for a long long time".into());
        let l = bar_line("a/very/long/path/to/some/clip.mp4", &w);
        assert_eq!(l.chars().count(), LINE_WIDTH);
        assert!(
            l.starts_with("a/very/long/path/to… [--------------------]   0% offered      waiting"),
            "{l}"
        );
    }

    #[test]
    fn lines_are_printed_on_phase_change_and_every_ten_percent() {
        let mut last = None;
        let mut i = sample(ID, "clip.mp4", Phase::Offered, 0.0);
        i.waiting_reason = Some("waiting for a converter".into());
        assert_eq!(
            line_update(&mut last, "clip.mp4", &i).as_deref(),
            Some("clip.mp4: offered 0% (waiting for a converter)")
        );
        assert_eq!(line_update(&mut last, "clip.mp4", &i), None);
        i.phase = Phase::Converting;
        i.progress = 0.05;
        assert!(line_update(&mut last, "clip.mp4", &i)
            .unwrap()
            .starts_with("clip.mp4: converting 5%"));
        i.progress = 0.09;
        assert_eq!(line_update(&mut last, "clip.mp4", &i), None);
        i.progress = 0.12;
        assert!(line_update(&mut last, "clip.mp4", &i)
            .unwrap()
            .starts_with("clip.mp4: converting 12%"));
    }

    #[test]
    fn progress_lines_and_summary_escape_peer_text() {
        let mut bad = sample(ID, "x.png", Phase::Failed, 0.0);
        bad.errors = vec!["no\x1b[31m\u{202e}".into()];
        let label = "a\x1bb.png";
        let mut last = None;
        let lines = [
            bar_line(label, &bad),
            line_update(&mut last, label, &bad).unwrap(),
            summary(&[Tracked::new(label.into(), bad)]).0,
        ];
        for l in lines {
            assert!(!l.contains(['\x1b', '\u{202e}']), "{l:?}");
            assert!(l.contains("a\\x1bb.png"), "{l:?}");
        }
    }

    #[test]
    fn summary_counts_failures_and_lists_errors() {
        let mut ok = sample(ID, "a.mp4", Phase::Delivered, 1.0);
        ok.output_path = Some("/out/a.mkv".into());
        let mut bad = sample(ID, "b.mp4", Phase::Failed, 0.3);
        bad.errors = vec!["attempt 1 on x: ffmpeg exited 1".into()];
        let tracked = [
            Tracked::new("a.mp4".into(), ok),
            Tracked::new("b.mp4".into(), bad),
        ];
        let (text, failed) = summary(&tracked);
        assert_eq!(failed, 1);
        assert_eq!(
            text,
            format!("a.mp4: delivered to /out/a.mkv\nb.mp4: failed ({ID})\n  error: attempt 1 on x: ffmpeg exited 1\n")
        );
    }
}
