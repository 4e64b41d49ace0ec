//! A converter's word is not enough (issue 13, point 3): the origin checks a result with its
//! own ffprobe before it counts as delivered; a result that fails is refused, counted as a
//! failed attempt and the item converted elsewhere, and a watched source is left alone until
//! a result passes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_tests::tools::{script, which};
use dmc_tests::{ffprobe_streams, make_clip, wait_until, Lab, Node, NodeOpts};
use serde_json::Value;

/// A folder with a lying converter's tools: its `ffmpeg` drops the video of every conversion
/// (an audio-only result for a video profile), and its `ffprobe` describes a good H.264 file
/// (`good`) whenever asked about a result, so the converter's own check passes.
fn lying_tools(lab: &Lab, good: &Path) -> PathBuf {
    let (ffmpeg, ffprobe) = (which("ffmpeg"), which("ffprobe"));
    let dir = lab.path("liar-bin");
    std::fs::create_dir_all(&dir).unwrap();
    script(
        &dir,
        "ffmpeg",
        &format!(
            "case \" $* \" in *\" -progress \"*) ;; *) exec {f} \"$@\";; esac\n\
             prev=; for a in \"$@\"; do [ \"$prev\" = -i ] && in=\"$a\"; prev=\"$a\"; out=\"$a\"; done\n\
             exec {f} -hide_banner -nostdin -y -protocol_whitelist file -i \"$in\" -vn -c:a copy \
             -f matroska -progress pipe:1 -nostats \"$out\"\n",
            f = ffmpeg.display()
        ),
    );
    script(
        &dir,
        "ffprobe",
        &format!(
            "for a in \"$@\"; do last=\"$a\"; done\n\
             case \"$last\" in *result.mkv.part) exec {p} -v error -print_format json \
             -show_format -show_streams -i 'file:{g}';; esac\n\
             exec {p} \"$@\"\n",
            p = ffprobe.display(),
            g = good.display()
        ),
    );
    dir
}

/// The origin's view of the item offered from its watched folder as `name`, once it exists.
fn item_named(node: &Node, name: &str) -> Option<Value> {
    let list = node.json(&["list", "--json"]).ok()?;
    list["items"]
        .as_array()?
        .iter()
        .find(|i| i["file_name"] == name)
        .cloned()
}

/// Whether the item's errors name a result the origin refused.
fn refused_once(item: &Value) -> bool {
    item["errors"].as_array().is_some_and(|e| {
        e.iter().any(|e| {
            let e = e.as_str().unwrap_or_default();
            e.contains("result refused by origin") && e.contains("expected video codec h264")
        })
    })
}

#[test]
fn a_result_that_is_not_what_the_profile_promises_is_refused_and_converted_elsewhere() {
    let lab = Lab::new().unwrap();
    let good = lab.path("good.mkv");
    make_clip(&good, 2, "160x120").unwrap();
    let liar = Node::start(
        &lab,
        "liar",
        NodeOpts {
            converter: true,
            path_prefix: Some(lying_tools(&lab, &good)),
            ..Default::default()
        },
    )
    .unwrap();
    let inbox = lab.path("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let origin = Node::start(
        &lab,
        "origin",
        NodeOpts {
            peers: vec![liar.addr().unwrap()],
            // The liar may get the item again before the honest converter is up: enough
            // attempts that it never runs out of them.
            node_extra: "max_attempts = 10\nretry_backoff = \"1s\"".into(),
            extra: format!(
                "\n[[watch]]\npath = {:?}\nprofile = \"mkv-x264\"\nsettle = \"1s\"\n\
                 after_delivery = \"delete\"\n",
                inbox.display().to_string()
            ),
            ..Default::default()
        },
    )
    .unwrap();
    let clip = inbox.join("clip.mp4");
    make_clip(&lab.path("clip.mp4"), 2, "160x120").unwrap();
    std::fs::rename(lab.path("clip.mp4"), &clip).unwrap();

    // The liar's result is refused: a failed attempt, the item waits for another converter.
    let item = wait_until(
        "the liar's result refused",
        Duration::from_secs(180),
        || item_named(&origin, "clip.mp4").filter(refused_once),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", origin.log_tail()));
    assert_ne!(item["phase"], "failed", "{item:#}");
    assert!(
        liar.log_text().contains("converted:"),
        "the liar's own check passed: {}",
        liar.log_tail()
    );
    // Nothing entered the output folder, and the watched source is untouched.
    assert_eq!(Node::files_in(&origin.output_dir), Vec::<PathBuf>::new());
    assert!(
        clip.is_file(),
        "after_delivery touched a refused item's source"
    );

    // An honest converter joins; the item is converted there and delivered once.
    let honest = Node::start(
        &lab,
        "honest",
        NodeOpts {
            converter: true,
            peers: vec![origin.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    let id = item["item_id"].as_str().unwrap().to_string();
    let status = origin.wait_final(&id, Duration::from_secs(240)).unwrap();
    assert_eq!(
        status["phase"],
        "delivered",
        "{status:#}\n{}",
        origin.log_tail()
    );
    assert_eq!(status["server_id"], honest.node_id().unwrap(), "{status:#}");
    assert!(refused_once(&status), "{status:#}");
    let out = Node::files_in(&origin.output_dir);
    assert_eq!(out, vec![PathBuf::from("clip.mkv")], "delivered once");
    let (_, streams) = ffprobe_streams(&origin.output_dir.join("clip.mkv")).unwrap();
    assert!(
        streams.iter().any(|(t, c)| t == "video" && c == "h264"),
        "{streams:?}"
    );
    // Only now, with a result that passed, is the watched source deleted.
    wait_until(
        "the watched source deleted",
        Duration::from_secs(30),
        || (!clip.exists()).then_some(()),
    )
    .unwrap();
}
