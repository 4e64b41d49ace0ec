//! Converters get only what they can do: media types route video to one and images to
//! another, and a profile whose encoder a converter's ffmpeg lacks is never assigned to it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_tests::{make_clip, make_png, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

/// A folder with an `ffmpeg` that is the real one, except that `ffmpeg -encoders` does not list
/// libx265: an ffmpeg build without it, as far as a converter can tell.
fn ffmpeg_without_x265(lab: &Lab) -> PathBuf {
    let real = which("ffmpeg");
    let dir = lab.path("ffmpeg-no-x265");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("ffmpeg");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = -encoders ]; then {real} \"$@\" | grep -v libx265; exit 0; fi\ndone\n\
             exec {real} \"$@\"\n",
            real = real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

fn converter(
    lab: &Lab,
    name: &str,
    media: &str,
    ffmpeg: Option<&Path>,
    peers: Vec<String>,
) -> Node {
    Node::start(
        lab,
        name,
        NodeOpts {
            converter: true,
            extra: format!("media_types = [{media}]\n"),
            path_prefix: ffmpeg.map(Path::to_path_buf),
            peers,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn video_and_images_go_to_the_converters_that_take_them_and_a_missing_encoder_is_never_used() {
    let lab = Lab::new().unwrap();
    let no_x265 = ffmpeg_without_x265(&lab);
    // A video converter whose ffmpeg has no libx265, and an images-only converter.
    let video = converter(&lab, "video", "\"video\"", Some(&no_x265), vec![]);
    let stills = converter(&lab, "stills", "\"image\"", None, vec![]);
    let mut laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![video.addr().unwrap(), stills.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    let laptop_addr = laptop.pin_port().unwrap();
    let (video_id, stills_id) = (video.node_id().unwrap(), stills.node_id().unwrap());

    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let png = lab.path("frame.png");
    make_png(&png).unwrap();
    let h264 = laptop.offer(&clip, "mkv-x264").unwrap();
    let hevc = laptop.offer(&clip, "mkv-x265").unwrap();
    let webp = laptop.offer(&png, "webp").unwrap();

    // Video to the video converter, the image to the images converter.
    let s = laptop.wait_final(&h264, LONG).unwrap();
    assert_eq!(s["status"], "finished_successful", "{s:#}");
    assert_eq!(s["server_id"], video_id.as_str());
    let s = laptop.wait_final(&webp, LONG).unwrap();
    assert_eq!(s["status"], "finished_successful", "{s:#}");
    assert_eq!(s["server_id"], stills_id.as_str());

    // Nobody online can run mkv-x265: it waits, never assigned to the converter without x265.
    let s = laptop.status(&hevc).unwrap();
    assert_eq!(s["status"], "to_do", "{s:#}");
    assert!(s["server_id"].is_null(), "{s:#}");
    assert!(s["rejections"].as_array().unwrap().is_empty(), "{s:#}");
    let profiles = laptop.json(&["profiles", "--json"]).unwrap();
    let x265 = profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mkv-x265")
        .expect("mkv-x265 listed");
    assert_eq!(
        x265["converter_names"],
        serde_json::json!([]),
        "no online converter offers it: {x265}"
    );
    let x264 = profiles
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "mkv-x264")
        .expect("mkv-x264 listed");
    assert_eq!(
        x264["converter_names"],
        serde_json::json!(["video"]),
        "{x264}"
    );

    // A converter with a full ffmpeg joins: the item goes to it.
    let full = converter(&lab, "full", "\"video\"", None, vec![laptop_addr]);
    let s = laptop.wait_final(&hevc, LONG).unwrap();
    assert_eq!(s["status"], "finished_successful", "{s:#}");
    assert_eq!(s["server_id"], full.node_id().unwrap().as_str());
}
