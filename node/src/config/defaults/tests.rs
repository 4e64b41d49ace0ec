//! The docs cannot drift from the defaults: every default of the table appears in
//! `docs/configuration.md`'s tables with the same value; an empty file parses to them.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::{format_duration, parse_duration, Config};

const DOCS: &str = include_str!("../../../../docs/configuration.md");

/// A default as the docs write it in the `Default` column (its first `` `…` `` span).
enum Shown {
    /// Exactly this text.
    Text(String),
    /// A quoted duration that parses to this.
    Duration(Duration),
}

fn text(s: impl ToString) -> Shown {
    Shown::Text(s.to_string())
}

fn quoted(s: &str) -> Shown {
    Shown::Text(format!("\"{s}\""))
}

fn toml_list(items: &[&str]) -> Shown {
    let quoted: Vec<String> = items.iter().map(|s| format!("\"{s}\"")).collect();
    Shown::Text(format!("[{}]", quoted.join(", ")))
}

/// `(heading of the docs' section, key, default)` for every key the table gives a default.
fn documented() -> Vec<(&'static str, &'static str, Shown)> {
    let media: Vec<&str> = converter::MEDIA_TYPES.iter().map(|m| m.as_str()).collect();
    let t = converter::TIME_LIMIT;
    vec![
        (
            "`--data-dir`",
            "--data-dir",
            text(format!("~/{DATA_DIR_UNDER_HOME}")),
        ),
        ("`[node]`", "listen", toml_list(&[node::LISTEN])),
        ("`[node]`", "output_dir", text(node::OUTPUT_DIR)),
        ("`[node]`", "lease", Shown::Duration(node::LEASE)),
        ("`[node]`", "max_attempts", text(node::MAX_ATTEMPTS)),
        (
            "`[node]`",
            "retry_backoff",
            Shown::Duration(node::RETRY_BACKOFF),
        ),
        (
            "`[node]`",
            "keep_finished",
            Shown::Duration(node::KEEP_FINISHED),
        ),
        ("`[discovery]`", "mdns", text(discovery::MDNS)),
        ("`[discovery]`", "peers", text("[]")),
        ("`[discovery]`", "interfaces", text("[]")),
        ("`[discovery]`", "loopback", text(discovery::LOOPBACK)),
        ("`[converter]`", "enabled", text(converter::ENABLED)),
        ("`[converter]`", "media_types", toml_list(&media)),
        ("`[converter]`", "workers", text(converter::WORKERS)),
        ("`[converter]`", "work_dir", text("\"\"")),
        ("`[converter]`", "profiles", text("[]")),
        (
            "`[converter]`",
            "reserve_bytes",
            text(converter::RESERVE_BYTES),
        ),
        (
            "`[converter]`",
            "retention",
            Shown::Duration(converter::RETENTION),
        ),
        ("`[converter]`", "threads", text(converter::THREADS)),
        (
            "`[converter]`",
            "verify",
            quoted(converter::VERIFY.as_str()),
        ),
        (
            "`[converter]`",
            "allow_larger",
            text(converter::ALLOW_LARGER),
        ),
        ("`[converter]`", "nice", text(converter::NICE)),
        ("`[converter]`", "time_limit_factor", text(t.factor)),
        ("`[converter]`", "time_limit_min", Shown::Duration(t.min)),
        (
            "`[converter]`",
            "time_limit_unknown",
            Shown::Duration(t.unknown),
        ),
        (
            "`[converter]`",
            "split_min",
            Shown::Duration(converter::SPLIT.split_min),
        ),
        (
            "`[converter]`",
            "segment",
            Shown::Duration(converter::SPLIT.segment),
        ),
        ("`[converter]`", "custom_profiles", text("[]")),
        ("`[transfer]`", "max_rate", quoted(transfer::MAX_RATE)),
        ("`[[watch]]`", "recursive", text(watch::RECURSIVE)),
        ("`[[watch]]`", "settle", Shown::Duration(watch::SETTLE)),
        ("`[[watch]]`", "rescan", Shown::Duration(watch::RESCAN)),
        (
            "`[[watch]]`",
            "after_delivery",
            quoted(&watch::AFTER_DELIVERY.to_stored()),
        ),
        ("`[[watch]]`", "priority", text(watch::PRIORITY)),
        ("`[notify]`", "timeout", Shown::Duration(notify::TIMEOUT)),
        ("`[notify]`", "desktop", text(notify::DESKTOP)),
        ("`[network]`", "allowed_peers", text("[]")),
        ("`[gui]`", "listen", quoted(gui::LISTEN)),
        ("`[gui]`", "upload_dir", text("\"\"")),
        (
            "`[network]`",
            "peer_records_per_minute",
            text(network::PEER_RECORDS_PER_MINUTE),
        ),
        (
            "`[network]`",
            "peer_bytes_per_minute",
            text(network::PEER_BYTES_PER_MINUTE),
        ),
    ]
}

/// `(heading, key) → Default cell` of every table in the docs that has a `Default` column.
fn docs_defaults() -> HashMap<(String, String), String> {
    let mut out = HashMap::new();
    let (mut heading, mut column, mut fenced) = (String::new(), None, false);
    for line in DOCS.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if fenced {
        } else if line.starts_with('#') {
            heading = line.to_string();
            column = None;
        } else if let Some(row) = line.strip_prefix('|') {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            if let Some(i) = cells.iter().position(|c| *c == "Default") {
                column = Some(i);
            } else if let (Some(i), Some(key)) = (column, cells.first()) {
                if let Some(cell) = cells.get(i) {
                    let key = key.trim_matches('`').to_string();
                    out.insert((heading.clone(), key), cell.to_string());
                }
            }
        } else {
            column = None;
        }
    }
    out
}

/// The text of the first `` `…` `` span of `cell`.
fn first_code(cell: &str) -> Option<&str> {
    let rest = &cell[cell.find('`')? + 1..];
    Some(&rest[..rest.find('`')?])
}

#[test]
fn the_docs_show_every_default_with_its_value() {
    let docs = docs_defaults();
    for (section, key, shown) in documented() {
        let cell = docs
            .iter()
            .find(|((h, k), _)| h.contains(section) && k == key)
            .map(|(_, cell)| cell.as_str())
            .unwrap_or_else(|| panic!("docs/configuration.md: no row `{key}` under {section}"));
        let code = first_code(cell)
            .unwrap_or_else(|| panic!("{section} `{key}`: no `value` in the Default column"));
        match shown {
            Shown::Text(want) => assert_eq!(code, want, "{section} `{key}` in the docs"),
            Shown::Duration(want) => {
                let got = code.trim_matches('"');
                assert_eq!(
                    parse_duration(got),
                    Ok(want),
                    "{section} `{key}` in the docs is {code}, the code's default is \"{}\"",
                    format_duration(want)
                );
            }
        }
    }
}

#[test]
fn an_empty_file_gives_the_table() {
    let c = Config::from_toml(Path::new("/data"), "", None).unwrap();
    assert_eq!(c.node.listen[0].to_string(), node::LISTEN);
    assert_eq!(c.node.lease, node::LEASE);
    assert_eq!(c.node.max_attempts, node::MAX_ATTEMPTS);
    assert_eq!(c.node.retry_backoff, node::RETRY_BACKOFF);
    assert_eq!(c.node.keep_finished, node::KEEP_FINISHED);
    assert_eq!(c.discovery.mdns, discovery::MDNS);
    assert_eq!(c.discovery.loopback, discovery::LOOPBACK);
    assert_eq!(c.converter.enabled, converter::ENABLED);
    assert_eq!(c.converter.media_types, converter::MEDIA_TYPES.to_vec());
    assert_eq!(c.converter.workers, converter::WORKERS);
    assert_eq!(c.converter.work_dir, Path::new("/data/work"));
    assert_eq!(c.converter.reserve_bytes, converter::RESERVE_BYTES);
    assert_eq!(c.converter.retention, converter::RETENTION);
    assert_eq!(c.converter.threads, converter::THREADS);
    assert_eq!(c.converter.verify, converter::VERIFY);
    assert_eq!(c.converter.allow_larger, converter::ALLOW_LARGER);
    assert_eq!(c.converter.nice, converter::NICE);
    assert_eq!(c.converter.time_limit, converter::TIME_LIMIT);
    assert_eq!(c.transfer.max_rate, None);
    assert_eq!(c.notify.timeout, notify::TIMEOUT);
    assert_eq!(c.notify.desktop, notify::DESKTOP);
    assert_eq!(
        c.gui.listen.map(|a| a.to_string()).as_deref(),
        Some(gui::LISTEN)
    );
    assert_eq!(c.gui.upload_dir, Path::new("/data/uploads"));
}

#[test]
fn a_watch_entry_without_options_gets_the_table() {
    let text = "[[watch]]\npath = \"/in\"\nprofile = \"opus\"\n";
    let w = &Config::from_toml(Path::new("/data"), text, None)
        .unwrap()
        .watch[0];
    assert_eq!(w.recursive, watch::RECURSIVE);
    assert_eq!(w.settle, watch::SETTLE);
    assert_eq!(w.rescan, watch::RESCAN);
    assert_eq!(w.after_delivery, watch::AFTER_DELIVERY);
    assert_eq!(w.priority, watch::PRIORITY);
}

/// The protocol's test constructor, which its simulations use, runs with a node's defaults.
#[test]
fn the_engines_test_constructor_uses_the_same_defaults() {
    let signer = dmc_protocol::Signer::from_seed([1; 32]);
    let e = dmc_protocol::engine::EngineConfig::new(signer, "n", None);
    let ms = |d: Duration| d.as_millis() as u64;
    assert_eq!(e.lease, ms(node::LEASE));
    assert_eq!(e.retention, ms(converter::RETENTION));
    assert_eq!(e.max_attempts, node::MAX_ATTEMPTS);
    assert_eq!(e.retry_backoff, ms(node::RETRY_BACKOFF));
    assert_eq!(e.keep_finished, ms(node::KEEP_FINISHED));
    assert_eq!(e.budget.records, network::PEER_RECORDS_PER_MINUTE);
    assert_eq!(e.budget.bytes, network::PEER_BYTES_PER_MINUTE);
}
