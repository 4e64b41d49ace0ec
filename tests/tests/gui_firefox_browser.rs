//! The dashboard in Firefox (issue 15, point 1: works in current Chromium and Firefox): Debian's
//! firefox-esr, headless, driven through its built-in Marionette protocol
//! (`tests/src/marionette.rs`; Debian has no geckodriver). A node with an offered item; the
//! browser opens `dmc gui`'s one-time link (a GET that sets the session cookie), the page lists
//! the item by its file name with its phase and the node's name, its live stream connects, and
//! a `dmc cancel` shows on the open page without a reload (server-sent events in Firefox). No
//! error shown, nothing loaded from off the node. `firefox-esr --headless --screenshot` alone is
//! not enough: it shoots at the load event, before the page's scripts have asked the node for
//! anything. Screenshot: `target/gui-screenshots/firefox-items.png`.

use anyhow::{ensure, Result};

use dmc_tests::chromium::{screenshot_dir, urls_off, RESOURCE_URLS};
use dmc_tests::http::{login_link, origin_of};
use dmc_tests::marionette::{needs_firefox, Firefox};
use dmc_tests::{make_clip, Lab, Node, NodeOpts};

/// A script giving the file name in the row of `item`, once its phase is `phase`.
fn row_phase_is(item: &str, phase: &str) -> String {
    format!(
        "const r = document.querySelector('tr[data-item-id=\"{item}\"]'); \
         return r && r.querySelector('.phase').textContent === '{phase}' \
           ? r.querySelector('.file').textContent : null;"
    )
}

fn story(f: &mut Firefox, node: &Node, link: &str, item: &str) -> Result<()> {
    f.goto(link)?;
    let name = f.wait_js("the offered item's row", &row_phase_is(item, "offered"))?;
    assert_eq!(name, "holiday.mp4");
    f.wait_js(
        "the live stream",
        "return document.getElementById('live').textContent === 'live' ? true : null;",
    )?;
    assert_eq!(
        f.execute("return document.getElementById('node-name').textContent")?,
        "laptop"
    );
    assert_eq!(
        f.execute("return document.getElementById('page-info').textContent")?,
        "1–1 of 1"
    );

    // An update arrives on the open page through /v1/events.
    node.json(&["cancel", item, "--json"])?;
    f.wait_js(
        "the row to show cancelled",
        &row_phase_is(item, "cancelled"),
    )?;
    assert_eq!(
        f.execute("return document.getElementById('error').hidden")?,
        true,
        "the page shows an error"
    );

    let png = f.screenshot()?;
    ensure!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is no PNG"
    );
    std::fs::create_dir_all(screenshot_dir())?;
    std::fs::write(screenshot_dir().join("firefox-items.png"), &png)?;

    // Nothing was loaded from anywhere but this node.
    let origin = origin_of(link);
    let off = urls_off(&f.execute(RESOURCE_URLS)?, origin);
    assert_eq!(off, Vec::<String>::new());
    Ok(())
}

#[test]
#[ignore = "needs firefox-esr"]
fn firefox_logs_in_with_the_dmc_gui_link_lists_the_item_and_sees_it_cancelled_live() {
    needs_firefox();
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let item = node.offer(&clip, "mkv-x264").unwrap();
    let (link, _) = login_link(&node).unwrap();

    let mut firefox = Firefox::start(&lab.path("firefox-profile")).unwrap();
    story(&mut firefox, &node, &link, &item).unwrap();
}
