//! The dashboard over HTTPS in a real browser (issue 15, point 2): headless chromium (told to
//! accept the self-signed certificate, as a person does after checking its fingerprint) opens
//! `https://127.0.0.1:PORT/` of a node listening on every address, is sent to the login form,
//! logs in with the password, and sees the node's item; the session cookie is not readable by
//! the page. Screenshots: `target/gui-screenshots/https-login.png`, `https-items.png`.

use anyhow::Result;

use dmc_tests::chromium::{self, needs_chromium, save_screenshot as save, wait_js, Driver};
use dmc_tests::http::expose_with_password;
use dmc_tests::webdriver::Browser;
use dmc_tests::{make_clip, Lab, Node, NodeOpts};

const PASSWORD: &str = "correct-horse-battery";

fn story(c: &Browser, base: &str, item: &str) -> Result<()> {
    c.goto(&format!("{base}/"))?;
    wait_js(
        c,
        "the login form",
        "return location.pathname === '/login' && document.getElementById('password') ? true : null;",
    )?;
    save(c, "https-login.png")?;
    c.send_keys("#password", "not-the-password")?;
    c.click("#log-in")?;
    wait_js(
        c,
        "the refusal",
        "const e = document.querySelector('.error'); return e && e.textContent.includes('Wrong password') ? true : null;",
    )?;
    // The refusal's wait is short (1 s after the first wrong try); the page says how long.
    log_in_once_the_wait_is_over(c)?;
    let name = wait_js(
        c,
        "the item's row",
        &format!(
            "const r = document.querySelector('tr[data-item-id=\"{item}\"]'); \
             return r ? r.querySelector('.file').textContent : null;"
        ),
    )?;
    assert_eq!(name, "holiday.mp4");
    assert_eq!(c.execute("return location.protocol")?, "https:");
    assert_eq!(c.execute("return document.cookie")?, "", "HttpOnly");
    save(c, "https-items.png")?;
    Ok(())
}

/// Types the password until the form takes it (a try during the wait is answered 429 with
/// the form again).
fn log_in_once_the_wait_is_over(c: &Browser) -> Result<()> {
    dmc_tests::wait_until(
        "the password to be taken",
        std::time::Duration::from_secs(60),
        || {
            if c.execute("return location.pathname").ok()? == "/" {
                return Some(());
            }
            c.send_keys("#password", PASSWORD).ok()?;
            c.click("#log-in").ok()?;
            std::thread::sleep(std::time::Duration::from_millis(500));
            None
        },
    )?;
    Ok(())
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_browser_logs_in_over_https_with_the_password_and_sees_the_items() {
    needs_chromium();
    let lab = Lab::new().unwrap();
    let mut node = Node::start(&lab, "nas", NodeOpts::default()).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let item = node.offer(&clip, "mkv-x264").unwrap();
    expose_with_password(&mut node, PASSWORD).unwrap();
    let base = node.json(&["gui", "--json", "--no-open"]).unwrap()["dashboard"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert!(base.starts_with("https://"), "{base}");

    let driver = Driver::start(lab.path("chromedriver.log")).unwrap();
    let c = chromium::open_with(
        &driver,
        &lab.path("chromium-profile"),
        &["--ignore-certificate-errors"],
    )
    .unwrap();
    let result = story(&c, &base, &item);
    let _ = c.close();
    result.unwrap();
}
