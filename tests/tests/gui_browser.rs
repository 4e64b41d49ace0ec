//! The dashboard in a real browser (issue 15): Debian's chromium, headless, driven through
//! chromedriver (WebDriver, `tests/src/webdriver.rs`). A node with an offered item; `dmc gui` gives the
//! link; the browser opens it, lists the item by its file name with its phase, shows a new
//! offer live, cancels the item from its page and sees it cancelled; the page loads nothing
//! from off the node and fits a phone's width. Screenshots go to `target/gui-screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use dmc_tests::http::login_link;
use dmc_tests::webdriver::Browser;
use dmc_tests::{dmc_bin, make_clip, needs, wait_until, Lab, Node, NodeOpts};

const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(log: PathBuf) -> Result<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(log)?;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting chromedriver")?;
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_until("chromedriver to listen", WAIT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })?;
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the screenshots go: `target/gui-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let bin = dmc_bin();
    let target = bin.parent().and_then(|p| p.parent()).expect("target dir");
    target.join("gui-screenshots")
}

fn browser(driver: &Driver, profile: &std::path::Path) -> Result<Browser> {
    Browser::open(
        &driver.url,
        json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1200,800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }),
    )
}

/// Runs `script` in the page until it returns something other than null, or fails.
fn wait_js(c: &Browser, what: &str, script: &str) -> Result<Value> {
    let found = wait_until(what, WAIT, || match c.execute(script) {
        Ok(Value::Null) => None,
        Ok(v) => Some(Ok(v)),
        Err(e) => Some(Err(e)),
    });
    match found {
        Ok(v) => v,
        Err(e) => {
            let page = c
                .execute("return document.documentElement.outerHTML")
                .unwrap_or_default();
            Err(e.context(format!("the page is:\n{page}")))
        }
    }
}

/// A script that gives the file name in the row of `item`, once its phase is `phase`.
fn row_phase_is(item: &str, phase: &str) -> String {
    format!(
        "const r = document.querySelector('tr[data-item-id=\"{item}\"]'); \
         return r && r.querySelector('.phase').textContent === '{phase}' \
           ? r.querySelector('.file').textContent : null;"
    )
}

fn save(c: &Browser, name: &str) -> Result<()> {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), c.screenshot()?)?;
    Ok(())
}

fn story(c: &Browser, node: &Node, lab: &Lab, link: &str, item: &str) -> Result<()> {
    c.goto(link)?;
    let name = wait_js(c, "the offered item's row", &row_phase_is(item, "offered"))?;
    assert_eq!(name, "holiday.mp4");
    wait_js(
        c,
        "the live stream",
        "return document.getElementById('live').textContent === 'live' ? true : null;",
    )?;
    assert_eq!(
        c.execute("return document.getElementById('node-name').textContent")?,
        "laptop"
    );
    // The queue's estimate, as `dmc list` words it: no converter is online here.
    assert_eq!(
        c.execute("return document.getElementById('queue').textContent")?,
        "1 item to do, no converter online"
    );

    // A new offer appears without a reload, through /v1/events.
    let second_clip = lab.path("second.mp4");
    make_clip(&second_clip, 1, "176x144")?;
    let second = node.offer(&second_clip, "mkv-x264")?;
    let name = wait_js(c, "the live new row", &row_phase_is(&second, "offered"))?;
    assert_eq!(name, "second.mp4");
    wait_js(
        c,
        "the queue's estimate to count the new offer",
        "return document.getElementById('queue').textContent === \
           '2 items to do, no converter online' ? true : null;",
    )?;
    save(c, "items.png")?;

    // Cancel the first from its page.
    c.click(&format!("tr[data-item-id=\"{item}\"]"))?;
    wait_js(
        c,
        "the item's page with its cancel button",
        "return document.querySelector('#cancel:not([hidden])') ? true : null;",
    )?;
    c.click("#cancel")?;
    wait_js(
        c,
        "the item's page to show cancelled",
        "return [...document.querySelectorAll('#detail-fields dd')]\
           .some(d => d.textContent === 'cancelled') ? true : null;",
    )?;
    save(c, "item-cancelled.png")?;
    c.click("#back")?;
    wait_js(
        c,
        "the row to show cancelled",
        &row_phase_is(item, "cancelled"),
    )?;
    assert_eq!(node.status(item)?["phase"], "cancelled");

    // Nothing was loaded from anywhere but this node.
    let origin = link.split("/login").next().unwrap_or_default().to_string();
    let urls = c.execute("return performance.getEntriesByType('resource').map(e => e.name)")?;
    for url in urls.as_array().into_iter().flatten() {
        let url = url.as_str().unwrap_or_default();
        assert!(url.starts_with(&origin), "the page loaded {url}");
    }

    // A phone's width: the table becomes cards, nothing wider than the screen.
    c.set_window_size(390, 844)?;
    let too_wide = c.execute("return document.documentElement.scrollWidth > window.innerWidth")?;
    assert_eq!(too_wide, false, "the page is wider than a phone's screen");
    save(c, "items-phone.png")?;
    Ok(())
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_browser_logs_in_with_the_dmc_gui_link_sees_the_item_live_and_cancels_it() {
    needs::tool("chromium", &["--version"], "apt-get install chromium");
    needs::tool(
        "chromedriver",
        &["--version"],
        "apt-get install chromium-driver",
    );
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let item = node.offer(&clip, "mkv-x264").unwrap();
    let (link, _) = login_link(&node).unwrap();

    let driver = Driver::start(lab.path("chromedriver.log")).unwrap();
    let c = browser(&driver, &lab.path("chromium-profile")).unwrap();
    let result = story(&c, &node, &lab, &link, &item);
    let _ = c.close();
    result.unwrap();
}
