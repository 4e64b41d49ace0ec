//! Offering a file from the dashboard in a real browser (issue 15, points 4 and 6): a laptop
//! and a converter; the laptop's `dmc gui` link opened in headless chromium; a clip picked in
//! the page's file input with a chosen profile is uploaded to the laptop, appears as an item by
//! its file name, converts on the converter (its progress bar showing a progress between 0 and
//! 100 %) and reaches delivered; the result is downloaded through the page's download link
//! (with the browser's session) and checked with ffprobe; both machines are on the page (this
//! node's name, the converter online in the Machines tab with its profiles). The
//! page loaded nothing from off the node. The same with a clip dropped on the page's drop zone:
//! WebDriver cannot drag a file from the desktop, so the story builds a `File` in the page from
//! the clip's bytes and dispatches `dragover` and `drop` events carrying it in a `DataTransfer`
//! on the zone, which is what the zone's own handlers receive from a real drag. Screenshots:
//! `target/gui-screenshots/upload-offered.png`, `machines.png`, `upload-delivered.png`, `drop-offered.png`,
//! `drop-delivered.png`.

use std::time::Duration;

use anyhow::{Context, Result};

use dmc_tests::chromium::{
    self, loaded_off, needs_chromium, save_screenshot, wait_js, wait_js_for, Driver,
};
use dmc_tests::http::{login_link, origin_of, request};
use dmc_tests::webdriver::Browser;
use dmc_tests::{ffprobe_streams, make_clip, Lab, Node};

/// The item of the upload `name` once its row shows (screenshot `shot`), after checking that
/// the laptop stored it byte for byte (`bytes`) under its name and offered it with the chosen
/// profile.
fn offered_upload(
    c: &Browser,
    laptop: &Node,
    name: &str,
    bytes: &[u8],
    shot: &str,
) -> Result<String> {
    let item = wait_js(c, &format!("the row of {name}"), &row_of(name, None))?;
    let item = item.as_str().context("an item id")?.to_string();
    save_screenshot(c, shot)?;
    let stored = laptop.data_dir.join("uploads").join(name);
    assert_eq!(std::fs::read(&stored)?, bytes);
    assert_eq!(laptop.status(&item)?["conversion_type"], "mkv-x264");
    Ok(item)
}

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

/// Opens the dashboard through the login link and chooses `mkv-x264` to offer with.
fn open_and_choose_profile(c: &Browser, link: &str) -> Result<()> {
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
    c.click("#upload-profile option[value=\"mkv-x264\"]")
}

/// Records, in the page, each progress the items' bars show (their `title`, "37%"), in the
/// order shown: read back with [`BARS_SHOWN`] once the item is delivered.
const WATCH_BARS: &str = "window.barsShown = []; \
    const note = () => document.querySelectorAll('#items tbody tr .bar').forEach((b) => { \
      if (window.barsShown[window.barsShown.length - 1] !== b.title) window.barsShown.push(b.title); \
    }); \
    new MutationObserver(note).observe(document.getElementById('items'), \
      { subtree: true, childList: true, attributes: true }); \
    return true;";
const BARS_SHOWN: &str = "return window.barsShown;";

/// Both machines on the page: this node's name in the header, and in the Machines tab the
/// converter by name, online, with the profile it converted with; then back to the items.
fn machines_listed(c: &Browser, laptop: &Node, converter: &Node) -> Result<()> {
    let header = c.execute("return document.getElementById('node-name').textContent;")?;
    assert_eq!(header, laptop.name.as_str());
    c.click("#tab-machines")?;
    let row = format!(
        "const r = [...document.querySelectorAll('#machines tbody tr')]\
           .find(r => r.cells[0].textContent === '{}'); \
         return r && r.cells[2].textContent === 'online' ? \
           [r.cells[1].textContent, r.cells[3].textContent] : null;",
        converter.name
    );
    let found = wait_js(c, "the converter in the Machines tab", &row)?;
    assert_eq!(found[0], "converter", "{found}");
    assert!(
        found[1].as_str().unwrap_or_default().contains("mkv-x264"),
        "{found}"
    );
    save_screenshot(c, "machines.png")?;
    c.click("#tab-items")
}

fn story(c: &Browser, lab: &Lab, laptop: &Node, converter: &Node, link: &str) -> Result<()> {
    open_and_choose_profile(c, link)?;
    c.execute(WATCH_BARS)?;

    // Long enough for the converter (one thread) to report its progress several times.
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 40, "640x360")?;
    c.send_keys("#upload-file", clip.to_str().context("clip path")?)?;
    let item = offered_upload(
        c,
        laptop,
        "holiday.mp4",
        &std::fs::read(&clip)?,
        "upload-offered.png",
    )?;

    wait_js_for(
        c,
        "the upload to be delivered",
        &row_of("holiday.mp4", Some("delivered")),
        CONVERSION,
    )?;
    // The bar moved while it converted: it showed a progress between its ends.
    let shown = c.execute(BARS_SHOWN)?;
    let shown: Vec<String> = serde_json::from_value(shown)?;
    eprintln!("progress bars shown: {shown:?}");
    let between = |t: &String| !matches!(t.as_str(), "0%" | "100%");
    assert!(
        shown.iter().any(between),
        "the progress bar never moved: {shown:?}"
    );
    machines_listed(c, laptop, converter)?;
    c.click(&format!("tr[data-item-id=\"{item}\"]"))?;
    let href = wait_js(
        c,
        "the result's download link",
        "const a = document.querySelector('#download:not([hidden])'); \
         return a ? a.getAttribute('href') : null;",
    )?;
    save_screenshot(c, "upload-delivered.png")?;

    // The link, with the browser's own session.
    let origin = origin_of(link);
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

/// Builds a `File` named `arguments[0]` from the bytes `arguments[1]` in the page and drags it
/// onto the drop zone: `dragover`, then `drop`, each with a `DataTransfer` holding the file (as
/// a drag from the desktop delivers it). Returns whether each event was taken (its default
/// prevented) and whether the zone was highlighted while dragged over and plain after the drop.
const DROP: &str = "const [name, bytes] = arguments; \
    const file = new File([Uint8Array.from(bytes)], name, { type: 'video/mp4' }); \
    const zone = document.getElementById('drop-zone'); \
    const drag = (type) => { \
      const dataTransfer = new DataTransfer(); \
      dataTransfer.items.add(file); \
      const e = new DragEvent(type, { dataTransfer, bubbles: true, cancelable: true }); \
      zone.dispatchEvent(e); \
      return e.defaultPrevented; \
    }; \
    const over = drag('dragover'); \
    const highlighted = zone.classList.contains('over'); \
    const dropped = drag('drop'); \
    return { over, highlighted, dropped, plain_after: !zone.classList.contains('over') };";

fn drop_story(c: &Browser, lab: &Lab, laptop: &Node, link: &str) -> Result<()> {
    open_and_choose_profile(c, link)?;
    let clip = lab.path("dropped.mp4");
    make_clip(&clip, 2, "160x120")?;
    let bytes = std::fs::read(&clip)?;
    let taken = c.execute_with(DROP, serde_json::json!(["dropped.mp4", bytes]))?;
    assert_eq!(
        taken,
        serde_json::json!({ "over": true, "highlighted": true, "dropped": true, "plain_after": true }),
        "the drop zone's handlers"
    );
    wait_js(
        c,
        "the drop to be offered",
        "return document.getElementById('upload-status').textContent === 'dropped.mp4 offered' \
           ? true : null;",
    )?;
    let item = offered_upload(c, laptop, "dropped.mp4", &bytes, "drop-offered.png")?;

    wait_js_for(
        c,
        "the dropped clip to be delivered",
        &row_of("dropped.mp4", Some("delivered")),
        CONVERSION,
    )?;
    save_screenshot(c, "drop-delivered.png")?;
    let delivered = laptop.status(&item)?;
    assert_eq!(delivered["phase"], "delivered", "{delivered}");
    let origin = origin_of(link);
    assert_eq!(loaded_off(c, origin)?, Vec::<String>::new());
    Ok(())
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_clip_uploaded_in_the_browser_is_converted_delivered_and_downloaded() {
    needs_chromium();
    let lab = Lab::new().unwrap();
    let (laptop, converter) = Node::laptop_and_converter_with(&lab, "threads = 1\n").unwrap();
    let (link, _) = login_link(&laptop).unwrap();
    let driver = Driver::start(lab.path("chromedriver.log")).unwrap();
    let c = chromium::open(&driver, &lab.path("chromium-profile")).unwrap();
    let result = story(&c, &lab, &laptop, &converter, &link);
    let _ = c.close();
    result.unwrap();
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn a_clip_dropped_on_the_drop_zone_is_offered_with_the_chosen_profile_and_delivered() {
    needs_chromium();
    let lab = Lab::new().unwrap();
    let (_converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let (link, _) = login_link(&laptop).unwrap();
    let driver = Driver::start(lab.path("chromedriver.log")).unwrap();
    let c = chromium::open(&driver, &lab.path("chromium-profile")).unwrap();
    let result = drop_story(&c, &lab, &laptop, &link);
    let _ = c.close();
    result.unwrap();
}
