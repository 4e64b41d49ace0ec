//! Offering a file by upload on the dashboard (issue 15, point 4), against a real node over
//! real HTTP: `POST /v1/uploads` stores the body under `[gui] upload_dir` by its name (a taken
//! name gets `name (1).ext`, nothing is replaced), offers it as `dmc offer` does, refuses a
//! name that is not a plain file name, an upload larger than the free disk (507, before a
//! byte is written) and one without the CSRF token; an offer the node refuses leaves no copy.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use serde_json::Value;

use dmc_tests::http::{log_in, request, request_with_body, Answer};
use dmc_tests::{make_clip, Lab, Node, NodeOpts};

/// A logged-in dashboard: base URL, session cookie and CSRF token.
struct Session {
    base: String,
    cookie: String,
    csrf: String,
}

impl Session {
    fn open(node: &Node) -> Session {
        let (cookie, base) = log_in(node).unwrap();
        let answer = request(
            "GET",
            &format!("{base}/v1/gui/session"),
            &[("Cookie", &cookie)],
        )
        .unwrap();
        let csrf = answer.json().unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_string();
        Session { base, cookie, csrf }
    }

    fn upload(&self, query: &str, body: &[u8]) -> Answer {
        request_with_body(
            "POST",
            &format!("{}/v1/uploads?{query}", self.base),
            &[("Cookie", &self.cookie), ("X-CSRF-Token", &self.csrf)],
            body,
        )
        .unwrap()
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn an_upload_is_stored_under_its_name_never_over_a_file_and_offered() {
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let uploads = node.data_dir.join("uploads");
    let s = Session::open(&node);
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 1, "160x120").unwrap();
    let bytes = std::fs::read(&clip).unwrap();

    let answer = s.upload("name=holiday.mp4&profile=mkv-x264", &bytes);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let v = answer.json().unwrap();
    let stored = uploads.join("holiday.mp4");
    assert_eq!(v["path"], stored.to_str().unwrap(), "{v}");
    assert_eq!(v["existing"], false);
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);
    let item = v["item"]["item_id"].as_str().unwrap();
    let status = node.status(item).unwrap();
    assert_eq!(status["file_name"], "holiday.mp4");
    assert_eq!(status["conversion_type"], "mkv-x264");

    // Other content under a taken name: the next free name; the first file is untouched.
    let other = lab.path("other.mp4");
    make_clip(&other, 1, "176x144").unwrap();
    let other_bytes = std::fs::read(&other).unwrap();
    let answer = s.upload("name=holiday.mp4&profile=mkv-x264", &other_bytes);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let v = answer.json().unwrap();
    assert_eq!(v["path"], uploads.join("holiday (1).mp4").to_str().unwrap());
    assert_eq!(std::fs::read(&stored).unwrap(), bytes);

    // The same content with the same profile again: that item, and no third copy.
    let answer = s.upload("name=again.mp4&profile=mkv-x264", &bytes);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let v = answer.json().unwrap();
    assert_eq!(v["existing"], true, "{v}");
    assert_eq!(v["path"], Value::Null);
    assert_eq!(v["item"]["item_id"], item);
    assert_eq!(names_in(&uploads), ["holiday (1).mp4", "holiday.mp4"]);

    // A profile the node does not know: refused, and the copy goes with the refusal.
    let answer = s.upload("name=bad.mp4&profile=no-such-profile", &other_bytes);
    assert!(answer.status >= 400, "{}", answer.text());
    assert_eq!(names_in(&uploads), ["holiday (1).mp4", "holiday.mp4"]);
}

#[test]
fn names_that_are_not_plain_file_names_and_uploads_without_the_token_are_refused() {
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let uploads = node.data_dir.join("uploads");
    let s = Session::open(&node);
    for name in [
        "..%2Fevil.mp4",
        "..",
        ".hidden.mp4",
        "a%5Cb.mp4",
        "a%0Ab.mp4",
        "",
    ] {
        let answer = s.upload(&format!("name={name}"), b"data");
        assert_eq!(answer.status, 400, "{name}: {}", answer.text());
        let error = answer.json().unwrap()["error"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(error.contains("the upload's name"), "{name}: {error}");
    }
    let long = "x".repeat(201);
    let answer = s.upload(&format!("name={long}.mp4"), b"data");
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(names_in(&uploads), Vec::<String>::new());

    // The session without its CSRF token.
    let answer = request_with_body(
        "POST",
        &format!("{}/v1/uploads?name=a.mp4", s.base),
        &[("Cookie", &s.cookie)],
        b"data",
    )
    .unwrap();
    assert_eq!(answer.status, 403, "{}", answer.text());
    assert_eq!(names_in(&uploads), Vec::<String>::new());
}

#[test]
fn an_upload_larger_than_the_free_disk_is_refused_before_a_byte_is_written() {
    let lab = Lab::new().unwrap();
    let node = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let s = Session::open(&node);
    // A petabyte announced; only its head is sent, the answer comes before the body.
    let host = s.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    write!(
        stream,
        "POST /v1/uploads?name=huge.mkv HTTP/1.1\r\nHost: {host}\r\nCookie: {}\r\n\
         X-CSRF-Token: {}\r\nContent-Length: 1000000000000000\r\nConnection: close\r\n\r\n",
        s.cookie, s.csrf
    )
    .unwrap();
    stream.write_all(&[0u8; 4096]).unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 507"), "{text}");
    assert!(
        text.contains("the upload is 1000000000000000 bytes but"),
        "{text}"
    );
    assert!(text.contains("[gui] upload_dir"), "{text}");
    assert_eq!(
        names_in(&node.data_dir.join("uploads")),
        Vec::<String>::new()
    );
}
