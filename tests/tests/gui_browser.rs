//! The dashboard in a real browser (issue 15): Debian's chromium, headless, driven through
//! chromedriver (WebDriver, `tests/src/webdriver.rs`). A node with an offered item; `dmc gui` gives the
//! link; the browser opens it, lists the item by its file name with its phase, shows a new
//! offer live, raises the item's priority and cancels it from its page and sees it cancelled,
//! filters the list by
//! state (answered by the node); the page loads nothing
//! from off the node and fits a phone's width. Screenshots go to `target/gui-screenshots/`.

use anyhow::Result;

use dmc_tests::chromium::{
    self, loaded_off, needs_chromium, save_screenshot as save, wait_js, Driver,
};
use dmc_tests::http::{login_link, origin_of};
use dmc_tests::webdriver::Browser;
use dmc_tests::{make_clip, Lab, Node, NodeOpts};

/// A script that gives the file name in the row of `item`, once its phase is `phase`.
fn row_phase_is(item: &str, phase: &str) -> String {
    format!(
        "const r = document.querySelector('tr[data-item-id=\"{item}\"]'); \
         return r && r.querySelector('.phase').textContent === '{phase}' \
           ? r.querySelector('.file').textContent : null;"
    )
}

/// A script that answers true once the list shows exactly the items `ids` (space-separated).
fn listed_are(ids: &str) -> String {
    format!(
        "const ids = [...document.querySelectorAll('#items tbody tr')]\
           .map(r => r.dataset.itemId).join(' '); \
         return ids === '{ids}' ? true : null;"
    )
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

    // Raise the first one's priority from its page (as `dmc priority` does), then cancel it.
    c.click(&format!("tr[data-item-id=\"{item}\"]"))?;
    wait_js(
        c,
        "the item's page with its cancel button and priority control",
        "return document.querySelector('#cancel:not([hidden])') \
           && document.querySelector('#priority-form:not([hidden])') ? true : null;",
    )?;
    assert_eq!(
        c.execute("return document.getElementById('detail-attempts').textContent")?,
        "none"
    );
    c.execute("document.getElementById('priority-value').value = ''; return true;")?;
    c.send_keys("#priority-value", "7")?;
    c.click("#set-priority")?;
    wait_js(
        c,
        "the item's page to show priority 7",
        "const dt = [...document.querySelectorAll('#detail-fields dt')]\
           .find(d => d.textContent === 'Priority'); \
         return dt && dt.nextElementSibling.textContent === '7' ? true : null;",
    )?;
    assert_eq!(node.status(item)?["priority"], 7);
    save(c, "item-priority.png")?;
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

    // The state filter asks the node: only the cancelled item, then only the open one.
    c.click("#state-filter option[value=\"cancelled\"]")?;
    wait_js(c, "only the cancelled item listed", &listed_are(item))?;
    c.click("#state-filter option[value=\"open\"]")?;
    wait_js(c, "only the open item listed", &listed_are(&second))?;
    assert_eq!(
        c.execute("return document.getElementById('page-info').textContent")?,
        "1–1 of 1"
    );
    save(c, "items-filtered.png")?;

    // Nothing was loaded from anywhere but this node.
    let origin = origin_of(link);
    assert_eq!(loaded_off(c, origin)?, Vec::<String>::new());

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
    needs_chromium();
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let item = node.offer(&clip, "mkv-x264").unwrap();
    let (link, _) = login_link(&node).unwrap();

    let driver = Driver::start(lab.path("chromedriver.log")).unwrap();
    let c = chromium::open(&driver, &lab.path("chromium-profile")).unwrap();
    let result = story(&c, &node, &lab, &link, &item);
    let _ = c.close();
    result.unwrap();
}
