//! Who may use a node's dashboard (issue 15, point 2), against a real node over real HTTP:
//! `/health` is open; everything else needs the session cookie that a one-time `dmc gui`
//! link sets; a used link is refused; a state-changing request needs the session's CSRF
//! token; only the names of the dashboard are answered as `Host`; login links are made only
//! over the control socket; a delivered result downloads from its origin, byte for byte.

use std::time::Duration;

use dmc_tests::http::{log_in, login_link, request};
use dmc_tests::{make_clip, sha512_hex, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(120);

#[test]
fn the_dashboard_needs_a_session_from_a_one_time_link_and_a_csrf_token_to_change_things() {
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let item = node.offer(&clip, "mkv-x264").unwrap();
    let (link, base) = login_link(&node).unwrap();

    everything_but_health_needs_a_session(&base);

    let cookie = log_in_once(&link);

    // With the session: the control API's routes, the page and its token.
    let items = request(
        "GET",
        &format!("{base}/v1/items?all=true"),
        &headers(&cookie, &[]),
    )
    .unwrap();
    assert_eq!(items.status, 200, "{}", items.text());
    assert_eq!(
        items.json().unwrap()["items"][0]["file_name"],
        "holiday.mp4"
    );
    let page = request("GET", &format!("{base}/"), &headers(&cookie, &[])).unwrap();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/app.js"));
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let session = request(
        "GET",
        &format!("{base}/v1/gui/session"),
        &headers(&cookie, &[]),
    )
    .unwrap();
    let csrf = session.json().unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();

    cancelling_needs_the_csrf_token(&node, &base, &cookie, &item, &csrf);

    // Another site's name for 127.0.0.1 is refused, session or not.
    let rebound = request(
        "GET",
        &format!("{base}/v1/items"),
        &headers(&cookie, &[("Host", "attacker.example:80")]),
    )
    .unwrap();
    assert_eq!(rebound.status, 403, "{}", rebound.text());

    // Login links come only from the control socket.
    let minted = request(
        "POST",
        &format!("{base}/v1/gui/login-link"),
        &headers(&cookie, &[("X-CSRF-Token", &csrf)]),
    )
    .unwrap();
    assert_eq!(minted.status, 404, "{}", minted.text());

    // An item without a result has nothing to download.
    let none = request(
        "GET",
        &format!("{base}/v1/items/{item}/result"),
        &headers(&cookie, &[]),
    )
    .unwrap();
    assert_eq!(none.status, 404, "{}", none.text());
}

/// `/health` is open; everything else answers 401, saying how to log in.
fn everything_but_health_needs_a_session(base: &str) {
    let health = request("GET", &format!("{base}/health"), &[]).unwrap();
    assert_eq!((health.status, health.text().trim()), (200, "ok"));
    for path in ["/v1/items", "/v1/peers", "/v1/events", "/", "/app.js"] {
        let a = request("GET", &format!("{base}{path}"), &[]).unwrap();
        assert_eq!(a.status, 401, "{path} without a session: {}", a.text());
        assert!(a.text().contains("dmc gui"), "{path}: {}", a.text());
    }
    let forged = request(
        "GET",
        &format!("{base}/v1/items"),
        &[("Cookie", "dmc_session=0123456789abcdef")],
    )
    .unwrap();
    assert_eq!(forged.status, 401, "a made-up session");
}

/// The link sets an HttpOnly, SameSite=Strict cookie and goes to the page, once; the cookie.
fn log_in_once(link: &str) -> String {
    let login = request("GET", link, &[]).unwrap();
    assert_eq!(login.status, 303, "{}", login.text());
    assert_eq!(login.header("location"), Some("/"));
    let set_cookie = login.header("set-cookie").expect("a session cookie");
    for part in ["dmc_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    let again = request("GET", link, &[]).unwrap();
    assert_eq!(again.status, 403, "a used link: {}", again.text());
    assert!(again.text().contains("dmc gui"), "{}", again.text());
    set_cookie.split(';').next().unwrap().to_string()
}

/// Cancelling needs the session's CSRF token: none or a wrong one is refused and changes
/// nothing; the right one cancels.
fn cancelling_needs_the_csrf_token(node: &Node, base: &str, cookie: &str, item: &str, csrf: &str) {
    let cancel = format!("{base}/v1/items/{item}/cancel");
    let no_token = request("POST", &cancel, &headers(cookie, &[])).unwrap();
    assert_eq!(no_token.status, 403, "{}", no_token.text());
    assert!(
        no_token.text().contains("X-CSRF-Token"),
        "{}",
        no_token.text()
    );
    let wrong = request(
        "POST",
        &cancel,
        &headers(cookie, &[("X-CSRF-Token", "0000")]),
    )
    .unwrap();
    assert_eq!(wrong.status, 403);
    assert_eq!(node.status(item).unwrap()["phase"], "offered");
    let done = request("POST", &cancel, &headers(cookie, &[("X-CSRF-Token", csrf)])).unwrap();
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(done.json().unwrap()["phase"], "cancelled");
    assert_eq!(node.status(item).unwrap()["phase"], "cancelled");
}

/// The session cookie, then `extra`.
fn headers<'a>(cookie: &'a str, extra: &[(&'static str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("Cookie", cookie)];
    h.extend_from_slice(extra);
    h
}

#[test]
fn a_delivered_result_downloads_from_the_dashboard_of_its_origin() {
    let lab = Lab::new().unwrap();
    let (_converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let clip = lab.path("trip.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let item = laptop.offer(&clip, "mkv-x264").unwrap();
    let done = laptop.wait_final(&item, LONG).unwrap();
    assert_eq!(done["phase"], "delivered", "{done}");
    let output = done["output_path"].as_str().unwrap().to_string();

    let (cookie, base) = log_in(&laptop).unwrap();
    let got = request(
        "GET",
        &format!("{base}/v1/items/{item}/result"),
        &[("Cookie", &cookie)],
    )
    .unwrap();
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(
        got.header("content-disposition")
            .is_some_and(|d| d.contains("attachment") && d.contains("trip.mkv")),
        "{:?}",
        got.headers
    );
    let copy = lab.path("downloaded.mkv");
    std::fs::write(&copy, &got.body).unwrap();
    assert_eq!(
        sha512_hex(&copy).unwrap(),
        sha512_hex(std::path::Path::new(&output)).unwrap()
    );
}

#[test]
fn a_script_reads_metrics_and_cancels_with_the_api_key_and_a_new_key_replaces_it() {
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let item = node.offer(&clip, "mkv-x264").unwrap();
    let (_, base) = login_link(&node).unwrap();
    let metrics = format!("{base}/metrics");
    assert_eq!(request("GET", &metrics, &[]).unwrap().status, 401);

    let key = node.json(&["gui", "api-key", "--json"]).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {key}");
    let got = request("GET", &metrics, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(got.status, 200, "{}", got.text());
    let text = got.text();
    assert!(
        text.contains("dmc_items{status=\"to_do\",phase=\"offered\"} 1"),
        "{text}"
    );
    assert!(text.contains("dmc_queue_length 1"), "{text}");
    assert!(text.contains("dmc_peers{state=\"online\"} 0"), "{text}");
    let wrong = request("GET", &metrics, &[("Authorization", "Bearer 1234")]).unwrap();
    assert_eq!(wrong.status, 401, "{}", wrong.text());

    // The key is not a cookie a browser sends by itself: no CSRF token needed.
    let cancel = format!("{base}/v1/items/{item}/cancel");
    let done = request("POST", &cancel, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(node.status(&item).unwrap()["phase"], "cancelled");

    // Only the key's hash is kept; a new key replaces the old.
    let stored = std::fs::read_to_string(node.data_dir.join("gui-api-key.sha256")).unwrap();
    assert!(!stored.contains(&key));
    let newer = node.json(&["gui", "api-key", "--json"]).unwrap()["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(newer, key);
    let old = request("GET", &metrics, &[("Authorization", &bearer)]).unwrap();
    assert_eq!(old.status, 401);
    let new = request(
        "GET",
        &metrics,
        &[("Authorization", &format!("Bearer {newer}"))],
    )
    .unwrap();
    assert_eq!(new.status, 200);
}
