//! The story of issue 2: a laptop offers media, a converter on another node converts it, and
//! the verified result lands in the laptop's output folder with nobody watching.

use std::time::Duration;

use dmc_tests::{ffprobe_streams, make_clip, make_png, sha512_hex, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(240);

/// Starts a converter and a laptop that knows the converter's address.
fn pair(lab: &Lab) -> anyhow::Result<(Node, Node)> {
    Node::laptop_and_converter_with(lab, "")
}

fn check_delivered(
    laptop: &Node,
    item: &serde_json::Value,
    format: &str,
    video: Option<&str>,
    audio: bool,
) {
    assert_eq!(item["status"], "finished_successful", "{item:#}");
    assert_eq!(item["phase"], "delivered");
    let path = std::path::PathBuf::from(item["output_path"].as_str().expect("output_path"));
    assert!(
        path.starts_with(&laptop.output_dir),
        "{} outside the output dir",
        path.display()
    );
    let (fmt, streams) = ffprobe_streams(&path).unwrap();
    assert!(fmt.contains(format), "format {fmt}, expected {format}");
    if let Some(v) = video {
        assert!(
            streams.iter().any(|(t, c)| t == "video" && c == v),
            "no {v} video in {streams:?}"
        );
    }
    if audio {
        assert!(
            streams.iter().any(|(t, _)| t == "audio"),
            "audio was not kept: {streams:?}"
        );
    }
    // The checksum recorded in the item is the delivered file's.
    assert_eq!(
        item["output_sha512_checksum"].as_str().unwrap(),
        sha512_hex(&path).unwrap()
    );
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = Node::files_in(&laptop.output_dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
}

#[test]
fn video_converts_to_hevc_with_offer_wait() {
    let lab = Lab::new().unwrap();
    let (laptop, converter) = pair(&lab).unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 4, "320x240").unwrap();

    // `dmc offer --wait` exits 0 only once the result is delivered.
    let out = laptop
        .dmc(&[
            "offer",
            clip.to_str().unwrap(),
            "--profile",
            "mkv-x265",
            "--wait",
        ])
        .unwrap();
    assert!(
        out.status.success(),
        "offer --wait failed: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        laptop.log_tail()
    );
    let items = laptop.json(&["list", "--json"]).unwrap();
    let item = &items["items"].as_array().unwrap()[0];
    let id = item["item_id"].as_str().unwrap();
    let status = laptop.status(id).unwrap();
    check_delivered(&laptop, &status, "matroska", Some("hevc"), true);
    assert_eq!(status["conversion_type"], "mkv-x265");
    assert_eq!(
        status["sha512_checksum"].as_str().unwrap(),
        sha512_hex(&clip).unwrap()
    );
    // Progress is not history: the item keeps a handful of records on both nodes (`version`
    // counts them), however long it converted.
    let on_converter = converter.status(id).unwrap();
    for (node, s) in [("laptop", &status), ("converter", &on_converter)] {
        let records = s["version"].as_u64().unwrap();
        assert!(
            records <= 12,
            "the {node} keeps {records} records of one item"
        );
    }
}

#[test]
fn video_converts_to_h264_and_image_to_webp() {
    let lab = Lab::new().unwrap();
    let (laptop, _converter) = pair(&lab).unwrap();
    let clip = lab.path("holiday.mp4");
    make_clip(&clip, 4, "320x240").unwrap();
    let png = lab.path("picture.png");
    make_png(&png).unwrap();

    let video = laptop.offer(&clip, "mkv-x264").unwrap();
    let image = laptop.offer(&png, "webp").unwrap();
    // Both first: while one is delivered the other may still be arriving in a `.part`.
    let v = laptop.wait_final(&video, LONG).unwrap();
    let i = laptop.wait_final(&image, LONG).unwrap();
    check_delivered(&laptop, &v, "matroska", Some("h264"), true);
    assert!(v["output_path"].as_str().unwrap().ends_with("holiday.mkv"));
    check_delivered(&laptop, &i, "webp", Some("webp"), false);
    assert!(i["output_path"].as_str().unwrap().ends_with("picture.webp"));
}

#[test]
fn offering_the_same_content_again_returns_the_existing_item() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let copy = lab.path("copy-of-clip.mp4");
    std::fs::copy(&clip, &copy).unwrap();

    let first = laptop
        .json(&["offer", clip.to_str().unwrap(), "--json"])
        .unwrap();
    let again = laptop
        .json(&["offer", copy.to_str().unwrap(), "--json"])
        .unwrap();
    let (a, b) = (&first.as_array().unwrap()[0], &again.as_array().unwrap()[0]);
    assert_eq!(a["existing"], false);
    assert_eq!(b["existing"], true);
    assert_eq!(a["item"]["item_id"], b["item"]["item_id"]);
    // The default profile for video is mkv-x265; another profile is another item.
    assert_eq!(a["item"]["conversion_type"], "mkv-x265");
    let other = laptop.offer(&clip, "mkv-x264").unwrap();
    assert_ne!(other, a["item"]["item_id"].as_str().unwrap());
    // The human output says so too.
    let out = laptop.dmc(&["offer", clip.to_str().unwrap()]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("already"), "{text}");
}

#[test]
fn an_offer_that_no_converter_can_take_says_why_it_waits() {
    let lab = Lab::new().unwrap();
    // This converter takes images only: a video must wait, and say why.
    let (laptop, _converter) =
        Node::laptop_and_converter_with(&lab, "media_types = [\"image\"]\n").unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let s = laptop.status(&id).unwrap();
    assert_eq!(s["status"], "to_do", "{s:#}");
    assert!(s["server_id"].is_null());
    assert!(
        s["waiting_reason"].as_str().unwrap().contains("waiting"),
        "{s:#}"
    );
}

#[test]
fn a_converter_without_room_rejects_and_status_says_why() {
    let lab = Lab::new().unwrap();
    // A converter that must keep 1000 TiB free can take nothing.
    let (laptop, _converter) =
        Node::laptop_and_converter_with(&lab, "reserve_bytes = 1099511627776000\n").unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    let s = laptop.wait_phase(&id, &["rejected"], LONG).unwrap();
    assert_eq!(s["status"], "to_do", "{s:#}");
    let why = s["waiting_reason"].as_str().unwrap();
    assert!(why.contains("insufficient disk: need"), "{why}");
    assert!(why.contains("have"), "{why}");
    assert!(why.contains("waiting for another converter"), "{why}");
    assert_eq!(s["rejections"].as_array().unwrap().len(), 1);
    assert_eq!(s["rejections"][0]["server_name"], "converter", "{s:#}");
    // Human status says it too, naming the converter by its name (not its id ending).
    let out = laptop.dmc(&["status", &id]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("insufficient disk"), "{text}");
    assert!(
        text.contains("rejections     attempt 1 by converter at "),
        "{text}"
    );
}

#[test]
fn a_source_that_changes_before_it_is_fetched_fails_the_item_saying_so() {
    let lab = Lab::new().unwrap();
    let laptop = Node::start(&lab, "laptop", NodeOpts::default()).unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    // The file changes while no converter is around.
    std::thread::sleep(Duration::from_millis(20));
    make_clip(&clip, 3, "160x120").unwrap();
    let converter = Node::start(
        &lab,
        "converter",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    // Introduce the laptop to the converter by restarting it with the converter as a peer.
    let mut laptop = laptop;
    laptop.stop();
    let cfg = std::fs::read_to_string(&laptop.config).unwrap();
    std::fs::write(
        &laptop.config,
        cfg.replace(
            "peers = []",
            &format!("peers = [{:?}]", converter.addr().unwrap()),
        ),
    )
    .unwrap();
    laptop.restart().unwrap();
    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(s["status"], "finished_with_errors", "{s:#}");
    let errors = s["errors"].to_string();
    assert!(
        errors.contains("changed"),
        "the error says the source changed: {errors}"
    );
    assert!(s["output_path"].is_null());
    assert!(
        Node::files_in(&laptop.output_dir).is_empty(),
        "no wrong result delivered"
    );
}

#[test]
fn a_lone_converter_converts_its_own_offers_and_stops_cleanly() {
    let lab = Lab::new().unwrap();
    let mut desktop = Node::start(
        &lab,
        "desktop",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let png = lab.path("photo.png");
    make_png(&png).unwrap();
    let id = desktop.offer(&png, "webp").unwrap();
    let s = desktop.wait_final(&id, LONG).unwrap();
    check_delivered(&desktop, &s, "webp", Some("webp"), false);
    assert_eq!(s["server_id"], s["client_id"]);
    // Nothing is left in the work dir once the result is delivered.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        Node::files_in(&desktop.work_dir).is_empty(),
        "{:?}",
        Node::files_in(&desktop.work_dir)
    );
    // SIGTERM: a clean exit with status 0.
    assert_eq!(desktop.stop(), Some(0));
}

#[test]
fn a_converter_never_converts_its_own_source_after_it_changed() {
    let lab = Lab::new().unwrap();
    let mut desktop = Node::start(&lab, "desktop", NodeOpts::default()).unwrap();
    let png = lab.path("photo.png");
    make_png(&png).unwrap();
    let id = desktop.offer(&png, "webp").unwrap();
    // The file changes, then the node becomes a converter and finds its own item.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&png, b"not the picture that was offered").unwrap();
    desktop.stop();
    let cfg = std::fs::read_to_string(&desktop.config).unwrap();
    std::fs::write(
        &desktop.config,
        cfg.replace("enabled = false", "enabled = true"),
    )
    .unwrap();
    desktop.restart().unwrap();
    let s = desktop.wait_final(&id, LONG).unwrap();
    assert_eq!(s["status"], "finished_with_errors", "{s:#}");
    assert!(s["errors"].to_string().contains("changed"), "{s:#}");
    assert!(Node::files_in(&desktop.output_dir).is_empty());
}
