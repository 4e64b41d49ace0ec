//! Observed folders and `[notify] on_done`, end to end with real nodes on 127.0.0.1: a clip
//! copied slowly into a watched folder is offered once it has settled, converted, delivered,
//! its source moved away, and announced once; hidden and `.part` files are never offered; a
//! restart offers nothing again and announces nothing again, but offers what arrived while
//! the node was down; an item failing for good is announced too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dmc_tests::{make_clip, make_truncated_clip, sha512_hex, wait_until, Lab, Node, NodeOpts};
use serde_json::Value;

const LONG: Duration = Duration::from_secs(300);

/// The JSON documents `on_done` wrote, one file each.
fn announced(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        // A file being written right now may still be partial: only whole documents count.
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            out.push(v);
        }
    }
    out
}

fn items(node: &Node) -> Vec<Value> {
    node.json(&["list", "--json"]).unwrap()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn item_named(node: &Node, name: &str) -> Option<Value> {
    items(node).into_iter().find(|i| i["file_name"] == name)
}

#[test]
fn a_watched_folder_offers_each_new_file_once_and_announces_the_end() {
    let lab = Lab::new().unwrap();
    let inbox = lab.path("inbox");
    let done = lab.path("done");
    let notes = lab.path("notes");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::create_dir_all(&notes).unwrap();

    // Files that must never be offered, there before the node starts.
    let clip = lab.path("clip.mp4");
    make_clip(&clip, 2, "320x240").unwrap();
    std::fs::copy(&clip, inbox.join(".hidden.mp4")).unwrap();
    std::fs::copy(&clip, inbox.join("copying.mp4.part")).unwrap();
    std::fs::write(inbox.join("notes.txt"), b"not media").unwrap();
    std::fs::write(inbox.join("empty.mp4"), b"").unwrap();

    let conv = Node::start(
        &lab,
        "conv",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let watch = format!(
        "\n[[watch]]\npath = {:?}\nprofile = \"mkv-x264\"\nsettle = \"3s\"\n\
         after_delivery = \"move:{}\"\n\n\
         [notify]\non_done = \"cat > \\\"$(mktemp {}/done.XXXXXX)\\\"\"\ndesktop = false\n",
        inbox.display().to_string(),
        done.display(),
        notes.display()
    );
    let mut laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![conv.addr().unwrap()],
            node_extra: "max_attempts = 1".into(),
            extra: watch,
            ..Default::default()
        },
    )
    .unwrap();

    // Copy a clip in slowly: two parts with a pause shorter than `settle`.
    let movie_src = lab.path("movie-src.mp4");
    make_clip(&movie_src, 3, "320x240").unwrap();
    let bytes = std::fs::read(&movie_src).unwrap();
    let movie = inbox.join("movie.mp4");
    {
        let mut f = std::fs::File::create(&movie).unwrap();
        f.write_all(&bytes[..bytes.len() / 2]).unwrap();
        f.sync_all().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        f.write_all(&bytes[bytes.len() / 2..]).unwrap();
        f.sync_all().unwrap();
    }

    let found = wait_until("movie.mp4 to be offered", LONG, || {
        item_named(&laptop, "movie.mp4")
    })
    .unwrap();
    let id = found["item_id"].as_str().unwrap().to_string();
    // Offered whole, after the copy ended.
    assert_eq!(found["file_size"], bytes.len() as u64);
    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(s["phase"], "delivered", "{s}\n{}", laptop.log_tail());

    // Delivered into the output folder, verified.
    let out = PathBuf::from(s["output_path"].as_str().unwrap());
    assert!(out.starts_with(&laptop.output_dir));
    assert_eq!(
        sha512_hex(&out).unwrap(),
        s["output_sha512_checksum"].as_str().unwrap()
    );
    // The source moved to `done`.
    let moved = done.join("movie.mp4");
    wait_until("the source to be moved", LONG, || {
        (moved.exists() && !movie.exists()).then_some(())
    })
    .unwrap();
    assert_eq!(std::fs::read(&moved).unwrap(), bytes);

    // on_done ran once, with the item's JSON as `dmc status --json` prints it.
    let notes_now = wait_until("on_done to run", LONG, || {
        let a = announced(&notes);
        (!a.is_empty()).then_some(a)
    })
    .unwrap();
    assert_eq!(notes_now.len(), 1);
    assert_eq!(notes_now[0]["item_id"], id.as_str());
    assert_eq!(notes_now[0]["phase"], "delivered");
    assert_eq!(notes_now[0]["status"], "finished_successful");
    assert_eq!(notes_now[0]["output_path"], s["output_path"]);
    assert_eq!(notes_now[0], laptop.status(&id).unwrap());

    // Only the movie was offered: hidden, `.part`, empty and non-media files never are.
    let all = items(&laptop);
    assert_eq!(all.len(), 1, "{all:?}");

    // While the node is down, the moved source comes back (the same file: same inode, size
    // and mtime). After the restart it is not offered again.
    assert_eq!(laptop.stop(), Some(0));
    std::fs::rename(&moved, &movie).unwrap();
    // And a new file arrives while it is down: the start-up scan finds it.
    let late = inbox.join("late.mp4");
    make_clip(&late, 1, "160x120").unwrap();
    laptop.restart().unwrap();
    let found = wait_until("late.mp4 to be offered", LONG, || {
        item_named(&laptop, "late.mp4")
    })
    .unwrap();
    let late_id = found["item_id"].as_str().unwrap().to_string();
    let s = laptop.wait_final(&late_id, LONG).unwrap();
    assert_eq!(s["phase"], "delivered", "{s}");

    // A file that cannot be converted: offered, fails for good (max_attempts = 1), announced.
    let broken = inbox.join("broken.mp4");
    make_truncated_clip(&lab.path("broken-src.mp4")).unwrap();
    std::fs::rename(lab.path("broken-src.mp4"), &broken).unwrap();
    let found = wait_until("broken.mp4 to be offered", LONG, || {
        item_named(&laptop, "broken.mp4")
    })
    .unwrap();
    let bad_id = found["item_id"].as_str().unwrap().to_string();
    let s = laptop.wait_final(&bad_id, LONG).unwrap();
    assert_eq!(s["phase"], "failed", "{s}");
    let notes_now = wait_until("on_done to run for the failure", LONG, || {
        let a = announced(&notes);
        (a.len() >= 3).then_some(a)
    })
    .unwrap();
    assert_eq!(notes_now.len(), 3, "{notes_now:?}");
    let failed: Vec<&Value> = notes_now
        .iter()
        .filter(|v| v["item_id"] == bad_id.as_str())
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["status"], "finished_with_errors");
    assert_eq!(*failed[0], laptop.status(&bad_id).unwrap());
    // The delivered item was not announced again after the restart.
    assert_eq!(
        notes_now
            .iter()
            .filter(|v| v["item_id"] == id.as_str())
            .count(),
        1
    );
    // A failed item's source stays where it is.
    assert!(broken.exists());

    // The movie that came back was seen at start and not offered again (not even as the
    // same content): three items in all, and the log says it was offered once.
    assert_eq!(items(&laptop).len(), 3);
    assert!(movie.exists());
    let log = laptop.log_text();
    let offered_lines = log
        .lines()
        .filter(|l| l.contains("offered watched file") && l.contains("movie.mp4"))
        .count();
    assert_eq!(offered_lines, 1, "{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("movie.mp4") && l.contains("offered before")),
        "{log}"
    );
    if std::env::var_os("DMC_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    drop(conv);
}

/// A WAV file with a sine tone.
fn make_wav(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=2"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_folder_made_after_start_is_watched_recursively_and_sources_deleted() {
    let lab = Lab::new().unwrap();
    let music = lab.path("music");
    let conv = Node::start(
        &lab,
        "conv",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let watch = format!(
        "\n[[watch]]\npath = {:?}\nprofile = \"opus\"\nrecursive = true\nsettle = 1\n\
         rescan = \"2s\"\nafter_delivery = \"delete\"\n\n[notify]\ndesktop = false\n",
        music.display().to_string()
    );
    let laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![conv.addr().unwrap()],
            extra: watch,
            ..Default::default()
        },
    )
    .unwrap();
    // The folder does not exist yet when the node starts; it is made later, with a file in a
    // sub-folder, a video the opus profile does not take, and a hidden sub-folder.
    let song = music.join("album/song.wav");
    std::fs::create_dir_all(song.parent().unwrap()).unwrap();
    std::fs::create_dir_all(music.join(".cache")).unwrap();
    make_wav(&lab.path("song.wav"));
    std::fs::copy(lab.path("song.wav"), music.join(".cache/other.wav")).unwrap();
    make_clip(&music.join("video.mp4"), 1, "160x120").unwrap();
    std::fs::rename(lab.path("song.wav"), &song).unwrap();

    let found = wait_until("song.wav to be offered", LONG, || {
        item_named(&laptop, "song.wav")
    })
    .unwrap();
    let id = found["item_id"].as_str().unwrap().to_string();
    let s = laptop.wait_final(&id, LONG).unwrap();
    assert_eq!(s["phase"], "delivered", "{s}\n{}", laptop.log_tail());
    assert!(s["output_path"].as_str().unwrap().ends_with("song.opus"));
    wait_until("the source to be deleted", LONG, || {
        (!song.exists()).then_some(())
    })
    .unwrap();
    // Only the song: not the video (not audio), not the file in the hidden folder.
    assert_eq!(items(&laptop).len(), 1, "{:?}", items(&laptop));
    assert!(music.join("video.mp4").exists());
    assert!(music.join(".cache/other.wav").exists());
    drop(conv);
}

/// Sets a watched source's `after_done` back to not done, in a stopped node's database: the
/// state a node is in when it stopped after the delivery and before `after_delivery` ran. The
/// item must be compacted there already (its tombstone kept), so the next start's engine does
/// not know it.
fn after_delivery_pending(node: &Node, item: &str) {
    let db = rusqlite::Connection::open(node.data_dir.join(dmc_node::store::DB_FILE_NAME)).unwrap();
    let tombstones: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM tombstones WHERE item_id = ?1",
            [item],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tombstones, 1, "{item} is compacted");
    let n = db
        .execute(
            "UPDATE watched SET after_done = 0 WHERE item_id = ?1",
            [item],
        )
        .unwrap();
    assert_eq!(n, 1, "one watched row of {item}");
}

/// The node stopped between a watched source's delivery and its `after_delivery`, and the
/// item was compacted (short `keep_finished`) before the node's catch-up at its next start:
/// the catch-up finds the delivery in the summary the origin keeps, and still moves the source.
#[test]
fn after_delivery_catches_up_on_a_source_whose_item_was_compacted() {
    let lab = Lab::new().unwrap();
    let (inbox, done) = (lab.path("inbox"), lab.path("done"));
    std::fs::create_dir_all(&inbox).unwrap();
    let conv = Node::start(
        &lab,
        "conv",
        NodeOpts {
            converter: true,
            ..Default::default()
        },
    )
    .unwrap();
    let watch = format!(
        "\n[[watch]]\npath = {:?}\nprofile = \"mkv-x264\"\nsettle = \"1s\"\n\
         after_delivery = \"move:{}\"\n\n[notify]\ndesktop = false\n",
        inbox.display().to_string(),
        done.display(),
    );
    let mut laptop = Node::start(
        &lab,
        "laptop",
        NodeOpts {
            peers: vec![conv.addr().unwrap()],
            node_extra: "keep_finished = \"1s\"".into(),
            extra: watch,
            ..Default::default()
        },
    )
    .unwrap();
    let source = inbox.join("clip.mp4");
    make_clip(&source, 1, "160x120").unwrap();
    let moved = done.join("clip.mp4");
    wait_until("the source to be delivered and moved", LONG, || {
        (moved.exists() && !source.exists()).then_some(())
    })
    .unwrap();
    let id = items(&laptop)
        .into_iter()
        .chain(
            laptop.json(&["list", "--all", "--json"]).unwrap()["items"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
        .find(|i| i["file_name"] == "clip.mp4")
        .map(|i| i["item_id"].as_str().unwrap().to_string())
        .unwrap();
    // Records gone, the origin's summary kept: what compaction leaves.
    std::thread::sleep(Duration::from_secs(4));
    laptop.stop();

    // As if the node had stopped before `after_delivery`: the source back where it was (the
    // same file: a rename keeps what identifies it), its move not done.
    std::fs::rename(&moved, &source).unwrap();
    after_delivery_pending(&laptop, &id);
    laptop.restart().unwrap();
    wait_until("the catch-up to move the source", LONG, || {
        (moved.exists() && !source.exists()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", laptop.log_tail()));
    assert_eq!(laptop.status(&id).unwrap()["phase"], "delivered");
}
