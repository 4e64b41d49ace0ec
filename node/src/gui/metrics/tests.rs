//! `/metrics`' text from a snapshot: the families, labels by converter name, bounded profiles.

use dmc_protocol::NodeId;

use super::*;

fn count(status: &str, phase: &str, profile: &str, server: Option<&str>, n: u64) -> ItemCount {
    ItemCount {
        status: status.into(),
        phase: phase.into(),
        profile: profile.into(),
        server_id: server.map(str::to_string),
        count: n,
    }
}

fn peer(id: &str, name: &str, online: bool, workers: u32, free: u32) -> PeerView {
    let v = serde_json::json!({
        "node_id": id, "name": name, "addresses": [], "online": online, "last_seen": null,
        "seen_secs_ago": null, "role": "converter", "media_types": [], "profiles": [],
        "workers": workers, "free_slots": free, "measured_speed": null, "rejected": null,
        "over_budget": null,
    });
    serde_json::from_value(v).unwrap()
}

fn snapshot(counts: Vec<ItemCount>, peers: Vec<PeerView>) -> Snapshot {
    Snapshot {
        counts,
        me: ("12D3KooWMe".into(), "laptop".into()),
        peers,
        transfer: (2048, 0),
    }
}

#[test]
fn a_scrape_counts_items_outcomes_by_converter_name_bytes_and_busy_workers() {
    let text = render(&snapshot(
        vec![
            count(
                "finished_successful",
                "delivered",
                "mkv-x264",
                Some("12D3KooWConv"),
                3,
            ),
            count(
                "finished_with_errors",
                "failed",
                "mkv-x264",
                Some("12D3KooWConv"),
                1,
            ),
            count("finished_with_errors", "failed", "webm", None, 2),
            count("to_do", "offered", "webm", None, 4),
            count(
                "in_progress",
                "converting",
                "mkv-x264",
                Some("12D3KooWMe"),
                1,
            ),
        ],
        vec![peer("12D3KooWConv", "big \"box\"", true, 4, 3)],
    ));
    for line in [
        "dmc_items{status=\"to_do\",phase=\"offered\"} 4",
        "dmc_queue_length 5",
        "dmc_conversions{profile=\"mkv-x264\",converter=\"big \\\"box\\\"\"} 3",
        "dmc_failures{profile=\"mkv-x264\",converter=\"big \\\"box\\\"\"} 1",
        "dmc_failures{profile=\"webm\",converter=\"none\"} 2",
        "dmc_transfer_bytes_total{direction=\"received\"} 2048",
        "dmc_peers{state=\"online\"} 1",
        "dmc_converter_workers{state=\"all\"} 4",
        "dmc_converter_busy_ratio{converter=\"big \\\"box\\\"\"} 0.25",
        "# TYPE dmc_transfer_bytes_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}

#[test]
fn profiles_beyond_the_bound_are_other() {
    let counts: Vec<ItemCount> = (0..(MAX_PROFILES + 8))
        .map(|i| {
            count(
                "finished_successful",
                "delivered",
                &format!("p{i:03}"),
                None,
                1 + i as u64,
            )
        })
        .collect();
    let text = render(&snapshot(counts, vec![]));
    let named = text
        .lines()
        .filter(|l| l.starts_with("dmc_conversions{"))
        .count();
    assert_eq!(named, MAX_PROFILES + 1, "{text}");
    assert!(text.contains("dmc_conversions{profile=\"other\",converter=\"none\"}"));
    // NodeId is what peers carry; the label is never the id when a name is known.
    assert!(!text.contains(NodeId::new("12D3KooWMe").as_str()));
}
