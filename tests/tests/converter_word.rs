//! A converter's word is not enough (issue 13, point 3): the origin checks a result with its
//! own ffprobe before it counts as delivered.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dmc_tests::{make_clip, Lab, Node, NodeOpts};

fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

fn script(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

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

#[test]
fn a_result_that_is_not_what_the_profile_promises_is_refused_by_the_origin() {
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
    let origin = Node::start(
        &lab,
        "origin",
        NodeOpts {
            peers: vec![liar.addr().unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "160x120").unwrap();
    let item = origin.offer(&clip, "mkv-x264").unwrap();
    let status = origin.wait_final(&item, Duration::from_secs(240)).unwrap();
    let text = status.to_string();
    assert_eq!(
        status["phase"],
        "failed",
        "{status:#}\n{}",
        origin.log_tail()
    );
    assert!(
        text.contains("result refused") && text.contains("expected video codec h264"),
        "{status:#}"
    );
    // The converter's own check passed (its ffprobe lied): it recorded a result.
    assert!(
        liar.log_text().contains("converted:"),
        "{}",
        liar.log_tail()
    );
    // Nothing entered the output folder, not even a .part; the source is untouched.
    assert_eq!(Node::files_in(&origin.output_dir), Vec::<PathBuf>::new());
    assert!(clip.is_file());
}
