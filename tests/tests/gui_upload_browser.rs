//! Offering a file from the dashboard in a real browser (issue 15, points 4 and 6): a laptop
//! and a converter; the laptop's `dmc gui` link opened in headless chromium; a clip picked in
//! the page's file input with a chosen profile is uploaded to the laptop, appears as an item by
//! its file name, converts on the converter and reaches delivered; the result is downloaded
//! through the page's download link (with the browser's session) and checked with ffprobe. The
//! page loaded nothing from off the node. Screenshots:
//! `target/gui-screenshots/upload-offered.png`, `upload-delivered.png`.

use std::time::Duration;

use anyhow::{Context, Result};

use dmc_tests::chromium::{
    self, loaded_off, needs_chromium, save_screenshot, wait_js, wait_js_for, Driver,
};
use dmc_tests::http::{login_link, request};
use dmc_tests::webdriver::Browser;
use dmc_tests::{ffprobe_streams, make_clip, Lab, Node};

/// Long enough for a converter to take, convert and deliver a small clip on a busy machine.
const CONVERSION: Duration = Duration::from_secs(180);

/// A script giving the item id of the row of `file`, once there is one (in `phase`, if given).
fn row_of(file: &str, phase: Option<&str>) -> String {
    let phase = phase.map_or("true".to_string(), |p| {
        format!("r.querySelector('.phase').textContent === '{p}'")
    });
    format!(
        "const r = [...document.querySelectorAll('#items tbody tr')]\
           .find(r => r.querySelector('.file').textContent === '{file}'); \
         return r && {phase} ? r.dataset.itemId : null;"
    )
}

fn story(c: &Browser, lab: &Lab, laptop: &Node, link: &str) -> Result<()> {
    c.goto(link)?;
    wait_js(
        c,
        "the live stream",
        "return document.getElementById('live').textContent === 'live' ? true : null;",
    )?;
    wait_js(
        c,
        "the profiles to choose from",
        "return document.querySelector('#upload-profile option[value=\"mkv-x264\"]') \
           ? true : null;",
    )?;
    c.click("#upload-profile option[value=\"mkv-x264\"]")?;

    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 2, "160x120")?;
    c.send_keys("#upload-file", clip.to_str().context("clip path")?)?;
    let item = wait_js(c, "the uploaded item's row", &row_of("holiday.mp4", None))?;
    let item = item.as_str().context("an item id")?.to_string();
    save_screenshot(c, "upload-offered.png")?;
    let stored = laptop.data_dir.join("uploads").join("holiday.mp4");
    assert_eq!(std::fs::read(&stored)?, std::fs::read(&clip)?);
    assert_eq!(laptop.status(&item)?["conversion_type"], "mkv-x264");

    wait_js_for(
        c,
        "the upload to be delivered",
        &row_of("holiday.mp4", Some("delivered")),
        CONVERSION,
    )?;
    c.click(&format!("tr[data-item-id=\"{item}\"]"))?;
    let href = wait_js(
        c,
        "the result's download link",
        "const a = document.querySelector('#download:not([hidden])'); \
         return a ? a.getAttribute('href') : null;",
    )?;
    save_screenshot(c, "upload-delivered.png")?;

    // The link, with the browser's own session.
    let origin = link.split("/login").next().unwrap_or_default();
    let cookie = format!("dmc_session={}", c.cookie("dmc_session")?);
    let href = href.as_str().context("a link")?;
    let answer = request("GET", &format!("{origin}{href}"), &[("Cookie", &cookie)])?;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let result = lab.path("downloaded.mkv");
    std::fs::write(&result, &answer.body)?;
    let (format, streams) = ffprobe_streams(&result)?;
    assert!(format.contains("matroska"), "{format}");
    assert!(
        streams
            .iter()
            .any(|(t, codec)| t == "video" && codec == "h264"),
        "{streams:?}"
    );

    assert_eq!(loaded_off(c, origin)?, Vec::<String>::new());
    Ok(())
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_clip_uploaded_in_the_browser_is_converted_delivered_and_downloaded() {
    needs_chromium();
    let lab = Lab::new().unwrap();
    let (_converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let (link, _) = login_link(&laptop).unwrap();
    let driver = Driver::start(lab.path("chromedriver.log")).unwrap();
    let c = chromium::open(&driver, &lab.path("chromium-profile")).unwrap();
    let result = story(&c, &lab, &laptop, &link);
    let _ = c.close();
    result.unwrap();
}
