//! `offer --wait`: polls items until each reaches a final phase, drawing progress bars on a
//! terminal; otherwise (a log) printing a line at each phase change and at most one progress
//! line a minute, when another 10 % is done. The summary is each item's one final line.

use std::time::{Duration, Instant};

use anyhow::Result;
use dmc_node::control::api::ItemView;
use dmc_protocol::Phase;

use crate::client::Client;
use crate::output::{self, emit, percent, safe, truncate};

/// How often each item is polled.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Least time between two progress lines of one item off a terminal.
const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(60);
/// Width of a drawn progress line: wider lines would wrap and break the redraw.
const LINE_WIDTH: usize = 79;
const BAR_WIDTH: usize = 20;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bars redrawn in place (stdout is a terminal).
    Bars,
    /// A line per phase change, and at most one a minute as progress crosses a 10 % step.
    Lines,
    /// Nothing (`--json`).
    Quiet,
}

/// An item being waited for, under the name the user gave its file.
pub struct Tracked {
    pub label: String,
    pub item: ItemView,
    last_line: LastLine,
}

/// What the last line printed for an item (off a terminal) showed, and when.
#[derive(Clone, Copy, Debug, Default)]
pub struct LastLine {
    phase: Option<Phase>,
    /// The 10 % step shown (0 before any sample).
    step: u8,
    at: Option<Instant>,
}

impl Tracked {
    pub fn new(label: String, item: ItemView) -> Self {
        Tracked {
            label,
            item,
            last_line: LastLine::default(),
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
                let now = Instant::now();
                let text: String = tracked
                    .iter_mut()
                    .filter_map(|t| line_update(&mut t.last_line, &t.label, &t.item, now))
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
    // Speed and ETA matter more than fps, and then segment counts, on a narrow line.
    let fits = |l: &String| l.trim_end().chars().count() <= LINE_WIDTH;
    let mut full = line(detail(item, true, true));
    if !fits(&full) {
        full = line(detail(item, false, true));
    }
    if !fits(&full) {
        full = line(detail(item, false, false));
    }
    truncate(full.trim_end(), LINE_WIDTH)
}

/// What to show after the phase, made [`safe`]; `with_fps` adds the frame rate to speed and
/// ETA, `with_segments` the segment counts of an item converted in segments.
fn detail(item: &ItemView, with_fps: bool, with_segments: bool) -> String {
    let text = match item.phase {
        Phase::Transferring | Phase::Converting if !sampled(item) => String::new(),
        Phase::Transferring | Phase::Converting => {
            let mut parts = Vec::new();
            // ffmpeg's first reports say 0 fps: no rate yet, not a stall.
            if let Some(fps) = item.fps.filter(|f| with_fps && f.is_finite() && *f >= 0.5) {
                parts.push(format!("{fps:.0} fps"));
            }
            if let Some(speed) = item.speed.filter(|s| s.is_finite() && *s > 0.0) {
                parts.push(format!("{speed:.1}x"));
            }
            if let Some(eta) = item.eta_secs {
                parts.push(format!("ETA {}", output::duration(eta)));
            }
            if let Some(segments) = item.segments_short().filter(|_| with_segments) {
                parts.push(segments);
            }
            parts.join(" ")
        }
        Phase::Delivered => item.output_path.clone().unwrap_or_default(),
        Phase::Failed | Phase::Cancelled => item.errors.last().cloned().unwrap_or_default(),
        _ => item.waiting_reason.clone().unwrap_or_default(),
    };
    safe(&text).into_owned()
}

/// Whether the item's numbers come from a real sample: ffmpeg reported a frame (or the pull
/// moved a chunk); before that, speed and ETA are noise.
fn sampled(item: &ItemView) -> bool {
    item.progress.is_finite() && item.progress > 0.0
}

/// The line to print off a terminal at `now`, given what `last` printed: one at each phase
/// change but the final one (the summary reports it), and a progress line when another 10 %
/// is done, at most one a minute; else `None`.
pub fn line_update(
    last: &mut LastLine,
    label: &str,
    item: &ItemView,
    now: Instant,
) -> Option<String> {
    if item.phase.is_final() {
        return None;
    }
    let step = if sampled(item) {
        (item.progress.clamp(0.0, 1.0) * 10.0).floor() as u8
    } else {
        0
    };
    if last.phase == Some(item.phase) {
        let recent = last
            .at
            .is_some_and(|t| now.saturating_duration_since(t) < PROGRESS_LINE_EVERY);
        if step <= last.step || recent {
            return None;
        }
    }
    *last = LastLine {
        phase: Some(item.phase),
        step,
        at: Some(now),
    };
    let mut line = format!("{}: {}", safe(label), item.phase.as_str());
    if sampled(item) {
        line.push_str(&format!(" {}", percent(item.progress)));
    }
    let detail = detail(item, true, true);
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
        let mut s = sample(ID, "clip.mp4", Phase::Converting, 0.5);
        s.segments = Some(dmc_protocol::SegmentProgress {
            done: 5,
            total: 8,
            kept: 1,
        });
        // Segment counts where there is room; speed and ETA first.
        assert_eq!(bar_line("clip.mp4", &s), l);
        (s.speed, s.eta_secs) = (None, None);
        assert_eq!(
            bar_line("c.mp4", &s),
            "c.mp4                [##########----------]  50% converting   seg 5/8 (1 kept)"
        );
        let mut last = LastLine::default();
        let logged = line_update(&mut last, "c.mp4", &s, Instant::now()).unwrap();
        assert!(logged.ends_with("seg 5/8 (1 kept))"), "{logged}");
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
    fn lines_come_at_phase_changes_and_at_most_a_minute_apart_every_ten_percent() {
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut last = LastLine::default();
        let mut i = sample(ID, "clip.mp4", Phase::Offered, 0.0);
        i.waiting_reason = Some("waiting for a converter".into());
        assert_eq!(
            line_update(&mut last, "clip.mp4", &i, at(0)).as_deref(),
            Some("clip.mp4: offered (waiting for a converter)")
        );
        assert_eq!(line_update(&mut last, "clip.mp4", &i, at(1)), None);
        // ffmpeg has reported no frame yet: the phase, without made-up numbers.
        i.phase = Phase::Converting;
        i.progress = 0.0;
        assert_eq!(
            line_update(&mut last, "clip.mp4", &i, at(2)).as_deref(),
            Some("clip.mp4: converting")
        );
        i.progress = 0.12;
        i.fps = Some(0.0);
        assert_eq!(
            line_update(&mut last, "clip.mp4", &i, at(30)),
            None,
            "within a minute"
        );
        assert_eq!(
            line_update(&mut last, "clip.mp4", &i, at(62)).as_deref(),
            Some("clip.mp4: converting 12% (3.5x ETA 1m23s)"),
            "no rate until ffmpeg has one"
        );
        i.progress = 0.19;
        assert_eq!(
            line_update(&mut last, "clip.mp4", &i, at(200)),
            None,
            "same 10 %"
        );
        i.progress = 0.95;
        assert!(line_update(&mut last, "clip.mp4", &i, at(201)).is_some());
        // The end is the summary's line alone.
        i.phase = Phase::Delivered;
        assert_eq!(line_update(&mut last, "clip.mp4", &i, at(202)), None);
    }

    #[test]
    fn two_hours_of_polls_give_at_most_a_dozen_lines() {
        let t0 = Instant::now();
        let mut last = LastLine::default();
        let mut i = sample(ID, "film.mkv", Phase::Converting, 0.0);
        let polls = 2 * 3600 * 2;
        let lines = (0..polls)
            .filter(|n| {
                i.progress = *n as f64 / polls as f64;
                let now = t0 + Duration::from_millis(*n as u64 * 500);
                line_update(&mut last, "film.mkv", &i, now).is_some()
            })
            .count();
        assert!(lines <= 11, "{lines} lines");
    }

    #[test]
    fn progress_lines_and_summary_escape_peer_text() {
        let mut bad = sample(ID, "x.png", Phase::Failed, 0.0);
        bad.errors = vec!["no\x1b[31m\u{202e}".into()];
        let label = "a\x1bb.png";
        bad.phase = Phase::Retrying;
        let mut last = LastLine::default();
        let lines = [
            bar_line(label, &bad),
            line_update(&mut last, label, &bad, Instant::now()).unwrap(),
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
