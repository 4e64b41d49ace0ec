//! Human-readable rendering (aligned tables, detail blocks) and JSON printing. Every cell and
//! value of human output goes through [`safe`]: names, errors and reasons come from peers.

use std::io::{self, Write};

use anyhow::{Context, Result};
use dmc_node::control::api::{
    ItemView, NodeView, PeerView, ProfileView, QueueEstimate, SpeedSource,
};
use dmc_protocol::ItemId;
use serde::Serialize;

/// Text made safe for a terminal: control characters and bidi overrides escaped (`\x1b`,
/// `\u{202e}`). The one rule, shared with the node's desktop notifications.
pub use dmc_node::announce::for_terminal as safe;

/// Several lines made [`safe`] each, joined by a newline and `indent`: a message of our own
/// that lists problems one a line (a configuration's) keeps its lines.
pub fn safe_lines(text: &str, indent: &str) -> String {
    let lines: Vec<String> = text.split('\n').map(|l| safe(l).into_owned()).collect();
    lines.join(&format!("\n{indent}"))
}

/// Writes `text` to stdout; a closed pipe (`dmc list | head`) is not an error.
pub fn emit(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Pretty JSON with the server's field names, ending in a newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut s = serde_json::to_string_pretty(value).context("encoding JSON")?;
    s.push('\n');
    Ok(s)
}

/// A table with left-aligned columns separated by two spaces.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// Columns whose words get their phase colour ([`crate::style::of_phase`]).
    painted: Vec<usize>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
            painted: Vec::new(),
        }
    }

    /// Colours the phase words of column `col` in data rows when `on`.
    pub fn paint_column(&mut self, col: usize, on: bool) {
        if on {
            self.painted.push(col);
        }
    }

    /// Adds a row; each cell is made [`safe`] (tabs and newlines too, which would break the
    /// columns).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| safe(&c).into_owned()).collect());
    }

    pub fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for (r, row) in std::iter::once(&header).chain(&self.rows).enumerate() {
            let mut line = String::new();
            for (i, cell) in row.iter().take(n).enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                match crate::style::of_phase(cell) {
                    Some(c) if r > 0 && self.painted.contains(&i) => {
                        line.push_str(&crate::style::paint(cell, c, true))
                    }
                    _ => line.push_str(cell),
                }
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The first 8 characters of an item id, as tables show it.
pub fn short_item(id: &ItemId) -> String {
    id.to_string().chars().take(8).collect()
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

pub fn percent(fraction: f64) -> String {
    let p = if fraction.is_finite() {
        (fraction * 100.0).clamp(0.0, 100.0)
    } else {
        0.0
    };
    format!("{p:.0}%")
}

pub fn duration(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The `list` table; `colour` paints the status and phase words.
pub fn items_table(items: &[ItemView], colour: bool) -> String {
    let mut t = Table::new(&[
        "ID", "FILE", "PROFILE", "STATUS", "PHASE", "PROGRESS", "SERVER",
    ]);
    t.paint_column(3, colour);
    t.paint_column(4, colour);
    for i in items {
        t.row(vec![
            short_item(&i.item_id),
            truncate(&safe(&i.file_name), 40),
            i.conversion_type.clone(),
            status_word(i).to_string(),
            i.phase.as_str().to_string(),
            percent(i.progress),
            server_cell(i),
        ]);
    }
    t.render()
}

/// The status a person reads: "cancelled" for a cancelled item (whose JSON `status` stays
/// `finished_with_errors`), else the item's `status`.
pub fn status_word(i: &ItemView) -> &'static str {
    if i.phase == dmc_protocol::Phase::Cancelled {
        "cancelled"
    } else {
        i.status.as_str()
    }
}

/// The converter as tables show it: its name (the node's label, with an id ending only when
/// names clash), else its id ending ([`dmc_protocol::NodeId::short`], the one width of every table).
fn server_cell(i: &ItemView) -> String {
    match (&i.server_name, &i.server_id) {
        (Some(n), _) => truncate(n, 30),
        (None, Some(s)) => s.short().to_string(),
        (None, None) => "-".into(),
    }
}

/// Aligned `label  value` lines, each value made [`safe`].
fn block(lines: &[(&str, String)]) -> String {
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {}\n", safe(v)))
        .collect()
}

/// The `status ITEM` block: every field of the item.
pub fn item_block(i: &ItemView) -> String {
    let none = || "-".to_string();
    let mut lines = vec![
        ("item", i.item_id.to_string()),
        (
            "file",
            format!(
                "{} ({}, {})",
                i.file_name,
                size(i.file_size),
                i.media_type.as_str()
            ),
        ),
        ("profile", i.conversion_type.clone()),
        (
            "duration",
            i.duration_ms
                .map(|ms| duration(u32::try_from(ms / 1000).unwrap_or(u32::MAX)))
                .unwrap_or_else(none),
        ),
        ("status", status_word(i).to_string()),
        ("phase", i.phase.as_str().to_string()),
        ("queue", i.queue_text().unwrap_or_else(none)),
        ("priority", i.priority.to_string()),
        ("progress", progress_line(i)),
        ("waiting", i.waiting_reason.clone().unwrap_or_else(none)),
        ("client", i.client_id.to_string()),
        (
            "server",
            match (&i.server_name, &i.server_id) {
                (Some(n), Some(s)) => format!("{n} ({s})"),
                (_, s) => s.as_ref().map(|s| s.to_string()).unwrap_or_else(none),
            },
        ),
        (
            "attempt",
            i.epoch.map(|e| e.to_string()).unwrap_or_else(none),
        ),
        ("created", i.created_at.clone()),
        ("updated", i.updated_at.clone()),
        ("sha512", source_sha512_text(&i.sha512_checksum)),
        ("version", i.version.to_string()),
    ];
    if let Some(segments) = i.segments_text() {
        // Only items converted in segments have the line, right under the progress.
        let at = lines
            .iter()
            .position(|(k, _)| *k == "progress")
            .map_or(0, |p| p + 1);
        lines.insert(at, ("segments", segments));
    }
    lines.extend(result_lines(i));
    lines.extend(error_lines(i));
    block(&lines)
}

/// The percentage, with fps, speed and ETA when known: `42.0% (24.1 fps, 1.05x, ETA 1m 3s)`.
fn progress_line(i: &ItemView) -> String {
    let mut extra = Vec::new();
    if let Some(fps) = i.fps {
        extra.push(format!("{fps:.1} fps"));
    }
    if let Some(speed) = i.speed {
        extra.push(format!("{speed:.2}x"));
    }
    if let Some(eta) = i.eta_secs {
        extra.push(format!("ETA {}", duration(eta)));
    }
    let progress = percent(i.progress);
    if extra.is_empty() {
        progress
    } else {
        format!("{progress} ({})", extra.join(", "))
    }
}

/// The source's SHA-512 as `status ITEM` shows it: empty while the origin still reads it.
fn source_sha512_text(sha512: &str) -> String {
    if sha512.is_empty() {
        "being read by the origin (the offer was published before it)".into()
    } else {
        sha512.into()
    }
}

/// `result`, `result sha512` and `output path`.
fn result_lines(i: &ItemView) -> Vec<(&'static str, String)> {
    let none = || "-".to_string();
    vec![
        (
            "result",
            match (&i.output_file_name, i.output_file_size) {
                (Some(n), Some(s)) => format!("{n} ({})", size(s)),
                (Some(n), None) => n.clone(),
                _ => none(),
            },
        ),
        (
            "result sha512",
            i.output_sha512_checksum.clone().unwrap_or_else(none),
        ),
        ("output path", i.output_path.clone().unwrap_or_else(none)),
    ]
}

/// `errors` (`-` when none), `attempts` (each with its converter and times) and
/// `rejections`, one line each, the label on the first only.
fn error_lines(i: &ItemView) -> Vec<(&'static str, String)> {
    let mut lines = Vec::new();
    if i.errors.is_empty() {
        lines.push(("errors", "-".to_string()));
    }
    for (n, e) in i.errors.iter().enumerate() {
        lines.push((if n == 0 { "errors" } else { "" }, e.clone()));
    }
    for (n, a) in i.attempts.iter().enumerate() {
        lines.push((if n == 0 { "attempts" } else { "" }, a.line(n + 1)));
    }
    for (n, r) in i.rejections.iter().enumerate() {
        lines.push((
            if n == 0 { "rejections" } else { "" },
            format!(
                "attempt {} by {} at {}: {}",
                r.rejection.epoch,
                r.converter_label(),
                dmc_protocol::time::rfc3339(r.rejection.at),
                r.rejection.reason
            ),
        ));
    }
    lines
}

/// The `peers` table: an offline peer's SEEN says how long ago ("3 min ago"; `--json` keeps
/// the RFC 3339 time), FREE slots only for a converter online, PROFILES what it runs.
pub fn peers_table(peers: &[PeerView]) -> String {
    let mut t = Table::new(&[
        "NAME",
        "ID",
        "ADDRESSES",
        "SEEN",
        "ROLE",
        "FREE",
        "SPEED",
        "PROFILES",
    ]);
    for p in peers {
        t.row(vec![
            p.name.clone().unwrap_or_else(|| "-".into()),
            p.node_id.short().to_string(),
            if p.addresses.is_empty() {
                "-".into()
            } else {
                p.addresses.join(", ")
            },
            seen_cell(p),
            p.role.clone(),
            match (p.free_slots, p.workers) {
                (Some(free), Some(w)) if p.online => format!("{free}/{w}"),
                (None, Some(w)) if p.online => format!("?/{w}"),
                _ => "-".into(),
            },
            p.measured_speed.map_or_else(|| "-".into(), factor),
            if p.profiles.is_empty() {
                "-".into()
            } else {
                truncate(&p.profiles.join(","), 60)
            },
        ]);
    }
    t.render()
}

/// SEEN: why the peer is refused, "online", how long ago it was seen, or "never"; then a
/// refusal of its records over budget.
fn seen_cell(p: &PeerView) -> String {
    let mut seen = if let Some(r) = &p.rejected {
        r.clone()
    } else if p.online {
        "online".to_string()
    } else {
        match (p.seen_secs_ago, &p.last_seen) {
            (Some(secs), _) => ago(secs),
            (None, Some(at)) => at.clone(),
            (None, None) => "never".into(),
        }
    };
    if let Some(o) = &p.over_budget {
        seen = format!("{seen}; {} (at {})", o.reason, o.at);
    }
    seen
}

/// `secs` ago in words: "40 s ago", "3 min ago", "5 h ago", "2 days ago".
pub fn ago(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..172_800 => format!("{} h ago", secs / 3_600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// The `profiles` table.
pub fn profiles_table(profiles: &[ProfileView]) -> String {
    let mut t = Table::new(&["NAME", "MEDIA", "ENCODER", "EXT", "LOCAL", "CONVERTERS"]);
    for p in profiles {
        t.row(vec![
            p.name.clone(),
            p.media_types
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(","),
            p.encoder.clone(),
            p.extension.clone(),
            if p.local { "yes" } else { "no" }.into(),
            converters_cell(p),
        ]);
    }
    t.render()
}

/// The converters that run a profile, by name (short id when a name is missing).
fn converters_cell(p: &ProfileView) -> String {
    if p.converters.is_empty() {
        return "-".into();
    }
    let names: Vec<String> = p
        .converters
        .iter()
        .enumerate()
        .map(|(i, id)| match p.converter_names.get(i) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => id.short().to_string(),
        })
        .collect();
    truncate(&names.join(", "), 60)
}

/// A rough span: seconds under 90 s, minutes under 90 min, else hours.
fn rough(secs: u64) -> (u64, &'static str) {
    if secs < 90 {
        (secs, "s")
    } else if secs < 90 * 60 {
        ((secs + 30) / 60, "min")
    } else {
        ((secs + 1800) / 3600, "h")
    }
}

/// The `queue:` line under the items table; `None` when nothing is left to do.
pub fn queue_line(e: &QueueEstimate) -> Option<String> {
    if e.to_do == 0 {
        return None;
    }
    let what = format!(
        "queue: {} item{} to do",
        e.to_do,
        if e.to_do == 1 { "" } else { "s" }
    );
    if e.converters_online == 0 {
        return Some(format!("{what}, no converter online\n"));
    }
    let Some((lo, hi)) = e.done_in_secs else {
        return Some(format!("{what}, finish time unknown\n"));
    };
    let ((a, ua), (b, ub)) = (rough(lo), rough(hi));
    let span = if (a, ua) == (b, ub) {
        format!("{a} {ua}")
    } else if ua == ub {
        format!("{a}–{b} {ub}")
    } else {
        format!("{a} {ua}–{b} {ub}")
    };
    let (slow, fast) = (factor(e.speeds.0), factor(e.speeds.1));
    let speeds = if slow == fast {
        slow
    } else {
        format!("{slow}–{fast}")
    };
    let basis = match e.speed_source {
        SpeedSource::Measured => format!("at {speeds}, measured on this LAN"),
        SpeedSource::Assumed => format!("no speed measured yet: assumed {speeds}"),
    };
    Some(format!("{what}, done in about {span} ({basis})\n"))
}

/// A realtime factor, to two decimals without trailing zeros: `0.25x`, `1.5x`, `2x`.
fn factor(speed: f32) -> String {
    let text = format!("{speed:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}x")
}

/// The `info` block, under the upgrade's line while the node fills in its database.
pub fn info_block(n: &NodeView) -> String {
    let upgrading = n.upgrading.map(|u| format!("{}\n", u.text()));
    upgrading.unwrap_or_default()
        + &block(&[
            ("node", n.node_id.to_string()),
            ("name", n.name.clone()),
            ("version", n.version.clone()),
            ("data dir", n.data_dir.clone()),
            (
                "listening",
                if n.listen_addrs.is_empty() {
                    "-".into()
                } else {
                    n.listen_addrs.join(", ")
                },
            ),
            ("converter", if n.converter { "yes" } else { "no" }.into()),
            ("output dir", n.output_dir.clone()),
        ])
}

#[cfg(test)]
pub(crate) mod tests {
    use dmc_node::control::api::RejectionView;
    use dmc_protocol::item::Rejection;
    use dmc_protocol::{MediaType, NodeId, Phase};

    use super::*;

    pub fn sample(id: &str, name: &str, phase: Phase, progress: f64) -> ItemView {
        ItemView {
            item_id: ItemId::parse(id).unwrap(),
            created_at: "2025-11-25T20:43:17.123Z".into(),
            updated_at: "2025-11-25T20:44:00.000Z".into(),
            client_id: NodeId::new("12D3KooWClientAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            server_id: Some(NodeId::new(
                "12D3KooWServerBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBxyz123",
            )),
            server_name: None,
            file_name: name.into(),
            media_type: MediaType::Video,
            conversion_type: "mkv-x265".into(),
            sha512_checksum: "ab".repeat(64),
            file_size: 5 * 1024 * 1024,
            duration_ms: Some(60_000),
            status: phase.status(),
            phase,
            progress,
            fps: Some(87.25),
            speed: Some(3.5),
            eta_secs: Some(83),
            segments: None,
            epoch: Some(1),
            waiting_reason: None,
            errors: vec![],
            rejections: vec![],
            attempts: Vec::new(),
            priority: 0,
            queue_position: None,
            version: 4,
            output_file_name: None,
            output_file_size: None,
            output_sha512_checksum: None,
            output_path: None,
            segment_converters: Vec::new(),
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn items_table_is_aligned() {
        let items = [
            sample(
                "7f1c2a90-1111-4222-8333-444455556666",
                "clip.mp4",
                Phase::Converting,
                0.456,
            ),
            ItemView {
                server_name: Some("studio".into()),
                ..sample(
                    "0a0b0c0d-1111-4222-8333-444455556666",
                    "a-much-longer-name.mkv",
                    Phase::Delivered,
                    1.0,
                )
            },
            sample(
                "1a0b0c0d-1111-4222-8333-444455556666",
                "stopped.mkv",
                Phase::Cancelled,
                0.0,
            ),
        ];
        let t = items_table(&items, false);
        let expected = "\
ID        FILE                    PROFILE   STATUS               PHASE       PROGRESS  SERVER
7f1c2a90  clip.mp4                mkv-x265  in_progress          converting  46%       BBBBBBxyz123
0a0b0c0d  a-much-longer-name.mkv  mkv-x265  finished_successful  delivered   100%      studio
1a0b0c0d  stopped.mkv             mkv-x265  cancelled            cancelled   0%        BBBBBBxyz123
";
        assert_eq!(t, expected);
    }

    #[test]
    fn painted_table_keeps_its_alignment() {
        let items = [sample(
            "7f1c2a90-1111-4222-8333-444455556666",
            "clip.mp4",
            Phase::Failed,
            0.0,
        )];
        let plain = items_table(&items, false);
        let painted = items_table(&items, true);
        assert!(painted.contains("\x1b[1;31mfailed\x1b[0m"), "{painted:?}");
        let stripped = painted.replace("\x1b[1;31m", "").replace("\x1b[0m", "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn empty_table_has_only_headers() {
        assert_eq!(items_table(&[], false).lines().count(), 1);
    }

    #[test]
    fn item_block_shows_every_field() {
        let mut i = sample(
            "7f1c2a90-1111-4222-8333-444455556666",
            "clip.mp4",
            Phase::Rejected,
            0.0,
        );
        i.waiting_reason =
            Some("converter x rejected it: busy; waiting for another converter".into());
        i.errors = vec!["attempt 1 on abc: ffmpeg exited 1".into(), "second".into()];
        let rejection = Rejection {
            server_id: NodeId::new("12D3KooWQQ"),
            epoch: 1,
            reason: "busy".into(),
            until_fewer: None,
            at: 0,
        };
        i.rejections = vec![
            RejectionView {
                rejection: rejection.clone(),
                server_name: Some("studio".into()),
            },
            // Stored by an older version: no name, so the id ending.
            RejectionView {
                rejection,
                server_name: None,
            },
        ];
        i.output_path = Some("/out/clip.mkv".into());
        assert!(
            !item_block(&i).contains("segments"),
            "only items in segments"
        );
        i.segments = Some(dmc_protocol::SegmentProgress {
            done: 5,
            total: 8,
            kept: 1,
        });
        let b = item_block(&i);
        for needle in [
            "item           7f1c2a90-1111-4222-8333-444455556666\n",
            "file           clip.mp4 (5.0 MiB, video)\n",
            "profile        mkv-x265\n",
            "status         to_do\n",
            "phase          rejected\n",
            "progress       0% (87.2 fps, 3.50x, ETA 1m23s)\n\
             segments       5 of 8 done, 1 kept from before a restart\n",
            "waiting        converter x rejected it: busy; waiting for another converter\n",
            "errors         attempt 1 on abc: ffmpeg exited 1\n               second\n",
            "rejections     attempt 1 by studio at 1970-01-01T00:00:00.000Z: busy\n               \
             attempt 1 by 12D3KooWQQ at 1970-01-01T00:00:00.000Z: busy\n",
            "output path    /out/clip.mkv\n",
            "version        4\n",
        ] {
            assert!(b.contains(needle), "missing {needle:?} in\n{b}");
        }
    }

    #[test]
    fn json_uses_the_server_field_names() {
        let i = sample(
            "7f1c2a90-1111-4222-8333-444455556666",
            "clip.mp4",
            Phase::Converting,
            0.5,
        );
        let v: serde_json::Value = serde_json::from_str(&json(&[i]).unwrap()).unwrap();
        let obj = v[0].as_object().unwrap();
        for key in [
            "item_id",
            "created_at",
            "client_id",
            "server_id",
            "file_name",
            "conversion_type",
            "sha512_checksum",
            "file_size",
            "status",
            "phase",
            "progress",
            "errors",
            "version",
            "output_path",
        ] {
            assert!(obj.contains_key(key), "missing {key}");
        }
        assert_eq!(obj["status"], "in_progress");
        assert_eq!(obj["phase"], "converting");
        assert_eq!(obj["item_id"], "7f1c2a90-1111-4222-8333-444455556666");
    }

    #[test]
    fn peer_text_is_escaped_in_tables_and_blocks_but_exact_in_json() {
        let mut i = sample(
            "7f1c2a90-1111-4222-8333-444455556666",
            "evil\x1b[31mred\t\u{202e}.png",
            Phase::Failed,
            0.0,
        );
        i.errors = vec!["peer said \x1b]0;pwned\x07\nno".into()];
        i.waiting_reason = Some("busy\u{9b}2J".into());
        let table = items_table(std::slice::from_ref(&i), false);
        let block = item_block(&i);
        for text in [&table, &block] {
            assert!(
                !text.contains(['\x1b', '\t', '\u{202e}', '\u{9b}', '\x07']),
                "{text:?}"
            );
        }
        assert!(
            table.contains("evil\\x1b[31mred\\x09\\u{202e}.png"),
            "{table}"
        );
        assert!(
            block.contains("errors         peer said \\x1b]0;pwned\\x07\\x0ano\n"),
            "{block}"
        );
        assert!(block.contains("waiting        busy\\u{9b}2J\n"), "{block}");
        assert_eq!(table.lines().count(), 2);
        // JSON keeps the exact name: serde escapes the controls, the rest is valid UTF-8.
        let j = json(&i).unwrap();
        assert!(
            !j.contains('\x1b') && j.contains("evil\\u001b[31mred\\t"),
            "{j}"
        );
        let back: ItemView = serde_json::from_str(&j).unwrap();
        assert_eq!(back.file_name, i.file_name);
        assert_eq!(back.errors, i.errors);
    }

    #[test]
    fn peer_names_are_escaped_in_the_peers_table() {
        let p = PeerView {
            node_id: NodeId::new("12D3KooWPeer"),
            name: Some("box\x1b[2J\r".into()),
            addresses: vec![],
            online: true,
            last_seen: None,
            seen_secs_ago: None,
            role: "converter".into(),
            media_types: vec![],
            profiles: vec![],
            workers: None,
            free_slots: None,
            measured_speed: None,
            rejected: None,
            over_budget: None,
        };
        let t = peers_table(&[p]);
        assert!(t.contains("box\\x1b[2J\\x0d "), "{t}");
        assert!(!t.contains(['\x1b', '\r']));
    }

    #[test]
    fn small_formatters() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(83), "1m23s");
        assert_eq!(duration(3720), "1h02m");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(percent(f64::NAN), "0%");
        assert_eq!(percent(1.7), "100%");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn peers_and_profiles_tables() {
        let p = PeerView {
            node_id: NodeId::new("12D3KooWPeer"),
            name: None,
            addresses: vec!["/ip4/127.0.0.1/tcp/4001".into()],
            online: false,
            last_seen: None,
            seen_secs_ago: None,
            role: "client".into(),
            media_types: vec![],
            profiles: vec![],
            workers: None,
            free_slots: None,
            measured_speed: None,
            rejected: None,
            over_budget: None,
        };
        assert_eq!(
            peers_table(std::slice::from_ref(&p)),
            "NAME  ID            ADDRESSES                SEEN   ROLE    FREE  SPEED  PROFILES\n-     12D3KooWPeer  /ip4/127.0.0.1/tcp/4001  never  client  -     -      -\n"
        );
        let conv = PeerView {
            online: true,
            role: "converter".into(),
            workers: Some(4),
            free_slots: Some(3),
            measured_speed: Some(2.5),
            rejected: None,
            over_budget: None,
            ..p
        };
        assert!(peers_table(std::slice::from_ref(&conv)).contains("online  converter  3/4   2.5x"));
        let away = PeerView {
            online: false,
            last_seen: Some("2026-12-02T08:00:00.000Z".into()),
            seen_secs_ago: Some(190),
            profiles: vec!["mkv-x265".into(), "opus".into()],
            ..conv.clone()
        };
        assert!(
            peers_table(std::slice::from_ref(&away))
                .contains("3 min ago  converter  -     2.5x   mkv-x265,opus"),
            "{}",
            peers_table(std::slice::from_ref(&away))
        );
        assert_eq!(ago(59), "59 s ago");
        assert_eq!(ago(7_300), "2 h ago");
        assert_eq!(ago(3 * 86_400), "3 days ago");
        let flooding = PeerView {
            over_budget: Some(dmc_node::control::api::OverBudgetView {
                reason: "over budget: more than 50 new records in a minute".into(),
                at: "2026-12-02T08:00:00Z".into(),
            }),
            ..conv
        };
        assert!(peers_table(&[flooding]).contains(
            "online; over budget: more than 50 new records in a minute (at 2026-12-02T08:00:00Z)"
        ));
    }

    #[test]
    fn profiles_table_names_converters() {
        let pr = ProfileView {
            name: "mp3".into(),
            media_types: vec![MediaType::Audio],
            encoder: "libmp3lame".into(),
            extension: "mp3".into(),
            local: true,
            converters: vec![],
            converter_names: vec![],
        };
        assert!(profiles_table(std::slice::from_ref(&pr))
            .contains("mp3   audio  libmp3lame  mp3  yes    -"));
        let two = ProfileView {
            converters: vec![
                NodeId::new("12D3KooWAAAAbbbbccccdddd"),
                NodeId::new("12D3KooWNoName123456"),
            ],
            converter_names: vec!["attic".into()],
            ..pr
        };
        let t = profiles_table(&[two]);
        assert!(t.contains("yes    attic, "), "{t}");
        assert!(
            t.lines()
                .nth(1)
                .unwrap()
                .ends_with(NodeId::new("12D3KooWNoName123456").short()),
            "{t}"
        );
    }

    fn estimate(
        to_do: u64,
        converters_online: u32,
        done_in_secs: Option<(u64, u64)>,
    ) -> QueueEstimate {
        QueueEstimate {
            to_do,
            converters_online,
            done_in_secs,
            speeds: (0.5, 2.0),
            speed_source: SpeedSource::Measured,
        }
    }

    #[test]
    fn the_queue_line_says_when_and_at_what_speeds() {
        assert_eq!(
            queue_line(&estimate(3, 2, Some((60, 240)))).unwrap(),
            "queue: 3 items to do, done in about 60 s–4 min (at 0.5x–2x, measured on this LAN)\n"
        );
        assert_eq!(
            queue_line(&estimate(3, 0, None)).unwrap(),
            "queue: 3 items to do, no converter online\n"
        );
        assert_eq!(
            queue_line(&estimate(1, 1, None)).unwrap(),
            "queue: 1 item to do, finish time unknown\n"
        );
        // Nothing left: no line.
        assert_eq!(queue_line(&estimate(0, 2, None)), None);
        let assumed = QueueEstimate {
            speeds: dmc_node::control::api::ASSUMED_SPEEDS,
            speed_source: SpeedSource::Assumed,
            ..estimate(1, 1, Some((300, 2400)))
        };
        assert_eq!(
            queue_line(&assumed).unwrap(),
            "queue: 1 item to do, done in about 5–40 min (no speed measured yet: assumed 0.25x–2x)\n"
        );
        let one = QueueEstimate {
            speeds: (1.25, 1.25),
            ..estimate(1, 1, Some((30, 30)))
        };
        assert_eq!(
            queue_line(&one).unwrap(),
            "queue: 1 item to do, done in about 30 s (at 1.25x, measured on this LAN)\n"
        );
    }

    /// A node filling in an upgraded database says so above its `info` block.
    #[test]
    fn info_says_when_the_node_is_upgrading() {
        let mut node = NodeView {
            node_id: NodeId::new("12D3KooWSelf"),
            name: "box".into(),
            version: "0.1.0".into(),
            data_dir: "/data".into(),
            listen_addrs: vec![],
            converter: false,
            output_dir: "/out".into(),
            upgrading: None,
        };
        assert!(
            info_block(&node).starts_with("node"),
            "{}",
            info_block(&node)
        );
        node.upgrading = Some(dmc_node::control::api::UpgradingView {
            done: 1024,
            total: 100_000,
        });
        let text = info_block(&node);
        assert!(
            text.starts_with("upgrading the database: 1024 of 100000 items\nnode"),
            "{text}"
        );
    }
}
