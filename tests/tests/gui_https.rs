//! The dashboard facing the LAN (issue 15, point 2), against a real node process: with
//! `[gui] listen = "0.0.0.0:0"` and a password, it is served over HTTPS only (plain HTTP to
//! its port gets no answer) with a certificate made once in the data dir, whose fingerprint
//! `dmc gui` prints; the password opens a `Secure` session, wrong ones are refused, logged and
//! make the client wait; the one-time link still works. The rule is checked on the configured
//! address, so the test binds every address but talks over 127.0.0.1 only.

use std::time::Duration;

use dmc_tests::http::{expose_with_password, fingerprint_of, https_request, request, Answer};
use dmc_tests::{make_clip, wait_until, Lab, Node, NodeOpts};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const PASSWORD: &str = "correct-horse-battery";
const LONG: Duration = Duration::from_secs(60);

/// A node that has an item and serves its dashboard on every address with a password.
fn exposed_node(lab: &Lab) -> Node {
    let mut node = Node::start(lab, "exposed", NodeOpts::default()).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    node.offer(&clip, "mkv-x264").unwrap();
    expose_with_password(&mut node, PASSWORD).unwrap();
    node
}

/// `dmc gui --json --no-open`: (link, base URL on 127.0.0.1, fingerprint).
fn link_of(node: &Node) -> (String, String, String) {
    let v = node.json(&["gui", "--json", "--no-open"]).unwrap();
    let url = v["url"].as_str().unwrap().to_string();
    let base = v["dashboard"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let fingerprint = v["fingerprint"]
        .as_str()
        .expect("a fingerprint over HTTPS")
        .to_string();
    (url, base, fingerprint)
}

fn post_password(base: &str, fingerprint: &str, password: &str) -> Answer {
    https_request(
        "POST",
        &format!("{base}/login"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("password={password}").as_bytes(),
        fingerprint,
    )
    .unwrap()
}

#[test]
fn a_dashboard_on_every_address_is_https_with_the_password_and_a_pinned_certificate() {
    let lab = Lab::new().unwrap();
    let mut node = exposed_node(&lab);
    let (link, base, fingerprint) = link_of(&node);
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");

    // The fingerprint is the certificate's in the data dir, whose key is private.
    let cert = CertificateDer::from_pem_file(node.data_dir.join("gui-tls.crt")).unwrap();
    assert_eq!(fingerprint_of(&cert), fingerprint);
    let key_mode = std::fs::metadata(node.data_dir.join("gui-tls.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
        0o600
    );
    let human = node.dmc(&["gui", "--no-open"]).unwrap();
    let said = String::from_utf8_lossy(&human.stdout);
    assert!(
        said.contains(&fingerprint) && said.contains("https://"),
        "{said}"
    );

    // Only TLS is spoken, and only with that certificate.
    let plain = request(
        "GET",
        &format!("{}/health", base.replacen("https", "http", 1)),
        &[],
    );
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    let other_pin = fingerprint.replace(
        &fingerprint[..2],
        if &fingerprint[..2] == "00" {
            "11"
        } else {
            "00"
        },
    );
    assert!(https_request("GET", &format!("{base}/health"), &[], b"", &other_pin).is_err());
    let health = https_request("GET", &format!("{base}/health"), &[], b"", &fingerprint).unwrap();
    assert_eq!(health.status, 200);

    // Without a session: the API refuses, a page goes to the login form.
    let items = format!("{base}/v1/items?all=true");
    assert_eq!(
        https_request("GET", &items, &[], b"", &fingerprint)
            .unwrap()
            .status,
        401
    );
    let page = https_request("GET", &format!("{base}/"), &[], b"", &fingerprint).unwrap();
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/login"))
    );
    let form = https_request("GET", &format!("{base}/login"), &[], b"", &fingerprint).unwrap();
    assert_eq!(form.status, 200);
    assert!(form.text().contains("type=\"password\""), "{}", form.text());

    wrong_passwords_are_refused_logged_and_slowed_down(&node, &base, &fingerprint);
    let cookie = the_password_opens_a_secure_session(&base, &fingerprint);
    let listed = https_request("GET", &items, &[("Cookie", &cookie)], b"", &fingerprint).unwrap();
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(
        listed.json().unwrap()["items"][0]["file_name"],
        "holiday.mp4"
    );
    // Over HTTPS the machine's other names pass the Host check (a rebound name fails TLS).
    let named = https_request(
        "GET",
        &items,
        &[("Cookie", &cookie), ("Host", "nas.local:8747")],
        b"",
        &fingerprint,
    )
    .unwrap();
    assert_eq!(named.status, 200, "{}", named.text());

    // A login form posted from another site is refused whatever the password.
    let forged = https_request(
        "POST",
        &format!("{base}/login"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "https://attacker.example"),
        ],
        format!("password={PASSWORD}").as_bytes(),
        &fingerprint,
    )
    .unwrap();
    assert_eq!(forged.status, 403, "{}", forged.text());

    // The one-time link works over HTTPS too, and its cookie is Secure.
    let by_link = https_request("GET", &link, &[], b"", &fingerprint).unwrap();
    assert_eq!(by_link.status, 303, "{}", by_link.text());
    assert!(by_link.header("set-cookie").unwrap().contains("Secure"));

    // The certificate is made once: a restart serves the same one.
    node.stop();
    node.restart().unwrap();
    assert_eq!(link_of(&node).2, fingerprint);
}

/// A wrong password answers 401 and is logged with the client's address; tries that follow
/// at once wait (429, `Retry-After`), even with the right password.
fn wrong_passwords_are_refused_logged_and_slowed_down(node: &Node, base: &str, fingerprint: &str) {
    let wrong = post_password(base, fingerprint, "not-the-password");
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    assert!(wrong.text().contains("Wrong password"), "{}", wrong.text());
    assert!(wrong.header("set-cookie").is_none());
    let log = node.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("wrong dashboard password") && l.contains("127.0.0.1")),
        "{log}"
    );
    // Each failure doubles the wait, so a try soon meets one (bounded: 8 tries).
    let slowed = (0..8)
        .map(|_| post_password(base, fingerprint, "still-not-the-password"))
        .find(|a| a.status == 429)
        .expect("a try that has to wait");
    let retry_after: u64 = slowed.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
}

/// Once the wait is over the password opens a session: HttpOnly, SameSite=Strict, Secure.
fn the_password_opens_a_secure_session(base: &str, fingerprint: &str) -> String {
    let opened = wait_until("the password to be taken after the wait", LONG, || {
        let a = post_password(base, fingerprint, PASSWORD);
        (a.status != 429).then_some(a)
    })
    .unwrap();
    assert_eq!(opened.status, 303, "{}", opened.text());
    assert_eq!(opened.header("location"), Some("/"));
    let set_cookie = opened.header("set-cookie").unwrap();
    for part in ["dmc_session=", "HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    set_cookie.split(';').next().unwrap().to_string()
}
