//! `GET /metrics`: Prometheus' text format, gathered when scraped (nothing is counted while
//! nobody asks, but the bytes moved): items by status and phase, the queue, conversions and
//! failures by profile and converter (from the item summaries), file bytes moved, peers, and
//! the workers and busy ratio of the converters online. Label sets are bounded: converters by
//! name (at most [`MAX_CONVERTERS`]), profiles the [`MAX_PROFILES`] most used, the rest `other`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::metrics_text::Text;
use crate::control::api::PeerView;
use crate::control::ApiError;
use crate::core::CoreHandle;
use crate::store::{ItemCount, Store};

/// Profiles named in labels at most; the rest are `other`.
pub const MAX_PROFILES: usize = 32;
/// Converters named in labels at most; the rest are `other`.
pub const MAX_CONVERTERS: usize = 64;
/// Phases after which an item does not change.
const FINAL_PHASES: [&str; 3] = ["delivered", "failed", "cancelled"];

/// What `/metrics` reads.
#[derive(Clone)]
pub(super) struct Sources {
    pub core: CoreHandle,
    pub store: Store,
}

/// Everything one scrape shows.
pub(super) struct Snapshot {
    pub counts: Vec<ItemCount>,
    /// This node's id and name (an item it converts is labelled with its name).
    pub me: (String, String),
    pub peers: Vec<PeerView>,
    /// File bytes (received, sent) since the node started.
    pub transfer: (u64, u64),
}

pub(super) async fn metrics(State(s): State<Sources>) -> Result<impl IntoResponse, ApiError> {
    let counts = s.store.item_counts().await.map_err(|e| {
        tracing::warn!("/metrics: {e}");
        ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?;
    let info = s.core.info().await?;
    let snapshot = Snapshot {
        counts,
        me: (info.node_id.as_str().to_string(), info.name),
        peers: s.core.peers().await?,
        transfer: crate::transfer::counters::totals(),
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&snapshot),
    ))
}

/// The text of a scrape.
pub(super) fn render(s: &Snapshot) -> String {
    let mut out = Text::default();
    items(&mut out, &s.counts);
    outcomes(&mut out, s);
    let (received, sent) = s.transfer;
    out.family(
        "dmc_transfer_bytes_total",
        "counter",
        "File bytes moved between this node and its peers since it started.",
    );
    out.sample(
        "dmc_transfer_bytes_total",
        &[("direction", "received")],
        received as f64,
    );
    out.sample(
        "dmc_transfer_bytes_total",
        &[("direction", "sent")],
        sent as f64,
    );
    peers(&mut out, &s.peers);
    out.finish()
}

/// `dmc_items` by status and phase, and `dmc_queue_length`.
fn items(out: &mut Text, counts: &[ItemCount]) {
    let mut by_state: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for c in counts {
        *by_state.entry((&c.status, &c.phase)).or_default() += c.count;
    }
    out.family(
        "dmc_items",
        "gauge",
        "Items this node knows, of the whole network, by status and phase.",
    );
    for ((status, phase), n) in &by_state {
        out.sample(
            "dmc_items",
            &[("status", status), ("phase", phase)],
            *n as f64,
        );
    }
    let open: u64 = counts
        .iter()
        .filter(|c| !FINAL_PHASES.contains(&c.phase.as_str()))
        .map(|c| c.count)
        .sum();
    out.family(
        "dmc_queue_length",
        "gauge",
        "Items not ended yet: offered, waiting, transferring, converting or delivering.",
    );
    out.sample("dmc_queue_length", &[], open as f64);
}

/// `dmc_conversions` (delivered) and `dmc_failures` (ended failed) by profile and converter.
fn outcomes(out: &mut Text, s: &Snapshot) {
    let profiles = top_profiles(&s.counts);
    let names = converter_names(s);
    let mut delivered: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut failed: BTreeMap<(String, String), u64> = BTreeMap::new();
    for c in &s.counts {
        let table = match c.phase.as_str() {
            "delivered" => &mut delivered,
            "failed" => &mut failed,
            _ => continue,
        };
        let profile = profiles
            .get(c.profile.as_str())
            .map_or("other", |_| c.profile.as_str());
        let converter = match &c.server_id {
            None => "none",
            Some(id) => names.get(id.as_str()).map_or("unknown", String::as_str),
        };
        *table
            .entry((profile.to_string(), converter.to_string()))
            .or_default() += c.count;
    }
    for (name, help, table) in [
        (
            "dmc_conversions",
            "Items delivered, by profile and the converter that converted them.",
            delivered,
        ),
        (
            "dmc_failures",
            "Items that ended failed, by profile and the converter of their last attempt (none: never assigned).",
            failed,
        ),
    ] {
        out.family(name, "gauge", help);
        for ((profile, converter), n) in &table {
            out.sample(name, &[("profile", profile), ("converter", converter)], *n as f64);
        }
    }
}

/// The [`MAX_PROFILES`] profiles with the most items.
fn top_profiles(counts: &[ItemCount]) -> HashMap<&str, u64> {
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for c in counts {
        *totals.entry(c.profile.as_str()).or_default() += c.count;
    }
    let mut ranked: Vec<(&str, u64)> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ranked.truncate(MAX_PROFILES);
    ranked.into_iter().collect()
}

/// Node id → the name its items are labelled with: this node's and the peers' names (a peer
/// without one by the start of its id), the first [`MAX_CONVERTERS`] by id, the rest `other`.
fn converter_names(s: &Snapshot) -> HashMap<&str, String> {
    let mut names: HashMap<&str, String> = HashMap::new();
    names.insert(s.me.0.as_str(), s.me.1.clone());
    let mut peers: Vec<&PeerView> = s.peers.iter().collect();
    peers.sort_by(|a, b| a.node_id.as_str().cmp(b.node_id.as_str()));
    for (i, p) in peers.into_iter().enumerate() {
        let name = if i + 1 >= MAX_CONVERTERS {
            "other".to_string()
        } else {
            peer_name(p)
        };
        names.insert(p.node_id.as_str(), name);
    }
    names
}

fn peer_name(p: &PeerView) -> String {
    p.name
        .clone()
        .unwrap_or_else(|| p.node_id.as_str().chars().take(12).collect())
}

/// `dmc_peers`, `dmc_converter_workers` and `dmc_converter_busy_ratio`.
fn peers(out: &mut Text, peers: &[PeerView]) {
    let online: Vec<&PeerView> = peers.iter().filter(|p| p.online).collect();
    out.family(
        "dmc_peers",
        "gauge",
        "Other nodes this node knows, and those connected now.",
    );
    out.sample("dmc_peers", &[("state", "known")], peers.len() as f64);
    out.sample("dmc_peers", &[("state", "online")], online.len() as f64);
    // Per converter name: (workers, free).
    let mut converters: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for p in online
        .iter()
        .filter(|p| p.role == "converter")
        .take(MAX_CONVERTERS)
    {
        let w = converters.entry(peer_name(p)).or_default();
        w.0 += u64::from(p.workers.unwrap_or(0));
        w.1 += u64::from(p.free_slots.unwrap_or(0));
    }
    let (all, free) = converters
        .values()
        .fold((0, 0), |(a, f), (w, fr)| (a + w, f + fr));
    out.family(
        "dmc_converter_workers",
        "gauge",
        "Workers of the converters online: all, and those no item is assigned to.",
    );
    out.sample("dmc_converter_workers", &[("state", "all")], all as f64);
    out.sample("dmc_converter_workers", &[("state", "free")], free as f64);
    out.family(
        "dmc_converter_busy_ratio",
        "gauge",
        "Share of each online converter's workers that items are assigned to (0 to 1).",
    );
    for (name, (workers, free)) in &converters {
        if *workers > 0 {
            let busy = workers.saturating_sub(*free) as f64 / *workers as f64;
            out.sample("dmc_converter_busy_ratio", &[("converter", name)], busy);
        }
    }
}

#[cfg(test)]
mod tests;
