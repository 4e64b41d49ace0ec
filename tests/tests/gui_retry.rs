//! Retrying a failed item (issue 15, point 4) against real nodes: a source that does not
//! decode fails for good on the converter; `POST /v1/items/{id}/retry` on the dashboard offers
//! the same source again as a new item with the same profile (the failed one stays failed);
//! an item that did not fail, and one whose source is gone from the origin, are refused with
//! a 409 saying why; in the browser, the failed item's page has a Retry button that opens the
//! new item.

use std::time::Duration;

use dmc_tests::chromium::{self, needs_chromium, save_screenshot, wait_js, Driver};
use dmc_tests::http::{log_in, login_link, request};
use dmc_tests::{make_clip, make_corrupt_clip, Lab, Node};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(300);

/// `POST /v1/items/{item}/retry` with the session and its CSRF token: status and body.
fn retry(base: &str, cookie: &str, item: &str) -> (u16, Value) {
    let session = request(
        "GET",
        &format!("{base}/v1/gui/session"),
        &[("Cookie", cookie)],
    )
    .unwrap();
    let csrf = session.json().unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let answer = request(
        "POST",
        &format!("{base}/v1/items/{item}/retry"),
        &[("Cookie", cookie), ("X-CSRF-Token", &csrf)],
    )
    .unwrap();
    (answer.status, answer.json().unwrap())
}

#[test]
fn a_failed_item_is_offered_again_from_its_source_and_others_are_refused_saying_why() {
    let lab = Lab::new().unwrap();
    let (_converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let broken = lab.path("broken.mp4");
    make_corrupt_clip(&broken).unwrap();
    let failed = laptop.offer(&broken, "mkv-x264").unwrap();
    let done = laptop.wait_final(&failed, LONG).unwrap();
    assert_eq!(done["phase"], "failed", "{done}");
    let (cookie, base) = log_in(&laptop).unwrap();

    let (status, v) = retry(&base, &cookie, &failed);
    assert_eq!(status, 200, "{v}");
    let again = v["item"]["item_id"].as_str().unwrap().to_string();
    assert_ne!(again, failed);
    assert_eq!(v["existing"], false);
    assert_eq!(v["item"]["file_name"], "broken.mp4");
    assert_eq!(v["item"]["conversion_type"], "mkv-x264");
    assert_eq!(laptop.status(&failed).unwrap()["phase"], "failed");

    // An item that did not fail.
    let clip = lab.path("fine.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let fine = laptop.offer(&clip, "mkv-x265").unwrap();
    laptop.dmc(&["cancel", &fine]).unwrap();
    let (status, v) = retry(&base, &cookie, &fine);
    assert_eq!(status, 409, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("is cancelled: only a failed item can be retried"),
        "{v}"
    );

    // The source is gone from where it was offered.
    std::fs::remove_file(&broken).unwrap();
    let (status, v) = retry(&base, &cookie, &failed);
    assert_eq!(status, 409, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("is no longer at"), "{error}");
    assert!(error.contains("broken.mp4"), "{error}");
}

#[test]
#[ignore = "needs chromium and chromedriver"]
fn the_failed_items_page_retries_it_and_opens_the_new_item() {
    needs_chromium();
    let lab = Lab::new().unwrap();
    let (_converter, laptop) = Node::converter_and_laptop(&lab, false).unwrap();
    let broken = lab.path("broken.mp4");
    make_corrupt_clip(&broken).unwrap();
    let failed = laptop.offer(&broken, "mkv-x264").unwrap();
    assert_eq!(laptop.wait_final(&failed, LONG).unwrap()["phase"], "failed");
    let (link, _) = login_link(&laptop).unwrap();
    let driver = Driver::start(lab.path("chromedriver.log")).unwrap();
    let c = chromium::open(&driver, &lab.path("chromium-profile")).unwrap();
    let story = || -> anyhow::Result<String> {
        c.goto(&link)?;
        let row = format!("tr[data-item-id=\"{failed}\"]");
        wait_js(
            &c,
            "the failed item's row",
            &format!("return document.querySelector('{row}') ? true : null;"),
        )?;
        c.click(&row)?;
        wait_js(
            &c,
            "the failed item's page with its errors and a Retry button",
            "return document.querySelector('#retry:not([hidden])') && \
               document.getElementById('detail-errors').textContent.includes('does not decode') \
               ? true : null;",
        )?;
        save_screenshot(&c, "item-failed.png")?;
        c.click("#retry")?;
        let new_id = wait_js(
            &c,
            "the new item's page",
            &format!(
                "const id = [...document.querySelectorAll('#detail-fields dd')].at(-1)?.textContent; \
                 return id && id !== '{failed}' ? id : null;"
            ),
        )?;
        Ok(new_id.as_str().unwrap_or_default().to_string())
    };
    let result = story();
    let _ = c.close();
    let new_id = result.unwrap();
    let v = laptop.status(&new_id).unwrap();
    assert_eq!(v["file_name"], "broken.mp4");
    assert_eq!(laptop.status(&failed).unwrap()["phase"], "failed");
}
