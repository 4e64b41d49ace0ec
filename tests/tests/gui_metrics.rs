//! `/metrics` after real conversions (issue 15, point 5): a laptop and a converter, one clip
//! delivered and one broken source failed; the laptop's scrape counts items by status and
//! phase, the conversion and the failure by profile and converter name, the bytes it pulled,
//! the queue, the peers and the converter's busy ratio; the converter's counts the bytes it
//! served. Every line of both is Prometheus' text format.

use std::time::Duration;

use dmc_tests::http::request;
use dmc_tests::{make_clip, make_corrupt_clip, wait_until, Lab, Node};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn metrics_count_conversions_failures_and_bytes_by_profile_and_converter() {
    let lab = Lab::new().unwrap();
    let (converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let clip = lab.path("trip.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let broken = lab.path("broken.mp4");
    make_corrupt_clip(&broken).unwrap();
    let good = laptop.offer(&clip, "mkv-x264").unwrap();
    let bad = laptop.offer(&broken, "mkv-x264").unwrap();
    assert_eq!(
        laptop.wait_final(&good, LONG).unwrap()["phase"],
        "delivered"
    );
    assert_eq!(laptop.wait_final(&bad, LONG).unwrap()["phase"], "failed");

    let text = wait_until(
        "the converter online and free in the laptop's metrics",
        LONG,
        || {
            let text = scrape(&laptop);
            text.lines()
                .any(|l| l == "dmc_converter_busy_ratio{converter=\"converter\"} 0")
                .then_some(text)
        },
    )
    .unwrap();
    eprintln!("the laptop's /metrics:\n{text}");
    check_text_format(&text);
    for line in [
        "dmc_items{status=\"finished_successful\",phase=\"delivered\"} 1",
        "dmc_items{status=\"finished_with_errors\",phase=\"failed\"} 1",
        "dmc_queue_length 0",
        "dmc_conversions{profile=\"mkv-x264\",converter=\"converter\"} 1",
        "dmc_failures{profile=\"mkv-x264\",converter=\"converter\"} 1",
        "dmc_peers{state=\"online\"} 1",
        "dmc_converter_workers{state=\"all\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    assert!(
        bytes(&text, "received") > 0,
        "the laptop pulled the result:\n{text}"
    );

    let served = scrape(&converter);
    check_text_format(&served);
    assert!(
        bytes(&served, "sent") > 0,
        "the converter served it:\n{served}"
    );
    assert!(
        bytes(&served, "received") > 0,
        "and pulled the sources:\n{served}"
    );
}

/// `/metrics` of `node`, read with a new API key.
fn scrape(node: &Node) -> String {
    let key = node.json(&["gui", "api-key", "--json"]).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let base = node.json(&["gui", "--json", "--no-open"]).unwrap()["dashboard"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let got = request(
        "GET",
        &format!("{base}/metrics"),
        &[("Authorization", &format!("Bearer {key}"))],
    )
    .unwrap();
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    got.text()
}

/// The value of `dmc_transfer_bytes_total{direction="…"}`.
fn bytes(text: &str, direction: &str) -> u64 {
    let prefix = format!("dmc_transfer_bytes_total{{direction=\"{direction}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
}

/// Every line is `# HELP name text`, `# TYPE name gauge|counter` or `name{labels} value`,
/// and every sample's family was typed before it.
fn check_text_format(text: &str) {
    let mut typed: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect(line);
            assert!(is_name(name) && !help.is_empty(), "{line}");
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(
                is_name(name) && ["gauge", "counter"].contains(&kind),
                "{line}"
            );
            typed.push(name.to_string());
        } else {
            let name = check_sample(line);
            assert!(typed.contains(&name), "{line}: untyped");
        }
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Checks `name{label="value",…} value` and gives the name.
fn check_sample(line: &str) -> String {
    let (head, value) = line.rsplit_once(' ').expect(line);
    assert!(value.parse::<f64>().is_ok(), "{line}: value");
    let (name, labels) = match head.split_once('{') {
        Some((name, rest)) => (name, Some(rest.strip_suffix('}').expect(line))),
        None => (head, None),
    };
    assert!(is_name(name), "{line}: name");
    let mut rest = labels.unwrap_or("");
    while !rest.is_empty() {
        let (label, after) = rest.split_once("=\"").expect(line);
        assert!(
            is_name(label) && !label.contains(':'),
            "{line}: label {label}"
        );
        // The value runs to the first unescaped quote.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match (escaped, c) {
                (true, '\\' | '"' | 'n') => escaped = false,
                (true, _) => panic!("{line}: bad escape"),
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, '\n') => panic!("{line}: raw newline"),
                _ => {}
            }
        }
        let end = end.expect(line);
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or_else(|| {
            assert!(rest.is_empty(), "{line}: after a label");
            rest
        });
    }
    name.to_string()
}
