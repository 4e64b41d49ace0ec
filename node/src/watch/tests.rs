//! Tests of observed folders with real files and a real store: what is offerable, settling,
//! scans, the `watched` table across reopening, `after_delivery`, and the `[[watch]]` and
//! `[notify]` configuration.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dmc_protocol::{ItemId, MediaType};

use super::after::{apply, move_into};
use super::filter::{ignored_name, in_scope, media_by_extension, wanted, Exclusions};
use super::scan::{file_key, scan};
use super::settle::Settler;
use crate::config::{AfterDelivery, Config, ConfigError};
use crate::store::{FileKey, Store, WatchedRow};

fn write(p: &Path, bytes: &[u8]) -> PathBuf {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, bytes).unwrap();
    p.to_path_buf()
}

fn names(found: &[(PathBuf, FileKey)], base: &Path) -> Vec<String> {
    let mut v: Vec<String> = found
        .iter()
        .map(|(p, _)| p.strip_prefix(base).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn media_is_told_by_extension() {
    assert_eq!(
        media_by_extension(Path::new("/a/Clip.MP4")),
        Some(MediaType::Video)
    );
    assert_eq!(
        media_by_extension(Path::new("song.flac")),
        Some(MediaType::Audio)
    );
    assert_eq!(
        media_by_extension(Path::new("x.jpeg")),
        Some(MediaType::Image)
    );
    assert_eq!(media_by_extension(Path::new("notes.txt")), None);
    assert_eq!(media_by_extension(Path::new("noext")), None);
}

#[test]
fn hidden_partial_and_own_files_are_ignored() {
    for n in [
        ".hidden.mp4",
        "clip.mp4.part",
        "clip.MP4.PART",
        ".dmc-1234-1.part",
        "x.crdownload",
        "backup.mp4~",
    ] {
        assert!(ignored_name(n), "{n}");
    }
    assert!(!ignored_name("clip.mp4"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let excl = Exclusions::new([out.clone()]);
    let all = MediaType::ALL;
    assert!(wanted(&dir.path().join("a.mp4"), &all, &excl));
    assert!(!wanted(&out.join("a.mkv"), &all, &excl));
    assert!(!wanted(
        &dir.path().join("a.mp4"),
        &[MediaType::Audio],
        &excl
    ));
}

#[test]
fn events_count_only_where_a_scan_would_look() {
    let w = Path::new("/in");
    assert!(in_scope(w, false, Path::new("/in/a.mp4")));
    assert!(!in_scope(w, false, Path::new("/in/sub/a.mp4")));
    assert!(in_scope(w, true, Path::new("/in/sub/a.mp4")));
    assert!(!in_scope(w, true, Path::new("/in/.git/a.mp4")));
    assert!(!in_scope(w, true, Path::new("/elsewhere/a.mp4")));
}

#[test]
fn scan_finds_offerable_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("in");
    write(&w.join("a.mp4"), b"video");
    write(&w.join("b.wav"), b"audio");
    write(&w.join("empty.mp4"), b"");
    write(&w.join(".hidden.mp4"), b"x");
    write(&w.join("c.mp4.part"), b"x");
    write(&w.join("notes.txt"), b"x");
    write(&w.join("sub/deep.mp4"), b"x");
    write(&w.join(".git/obj.mp4"), b"x");
    write(&w.join("done/moved.mp4"), b"x");
    std::os::unix::fs::symlink(w.join("a.mp4"), w.join("link.mp4")).unwrap();
    let excl = Exclusions::new([w.join("done")]);

    let flat = scan(&w, false, &MediaType::ALL, &excl).unwrap();
    assert_eq!(names(&flat, &w), ["a.mp4", "b.wav"]);
    let deep = scan(&w, true, &MediaType::ALL, &excl).unwrap();
    assert_eq!(names(&deep, &w), ["a.mp4", "b.wav", "sub/deep.mp4"]);
    let video = scan(&w, true, &[MediaType::Video], &excl).unwrap();
    assert_eq!(names(&video, &w), ["a.mp4", "sub/deep.mp4"]);
    assert!(scan(&dir.path().join("missing"), false, &MediaType::ALL, &excl).is_err());
}

#[test]
fn a_file_settles_once_unchanged_for_the_settle_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir.path().join("a.mp4"), b"part one");
    let t0 = Instant::now();
    let mut s = Settler::new(Duration::from_secs(5));
    assert!(s.observe(&p, file_key(&p), t0));
    assert!(s.take_settled(t0 + Duration::from_secs(3)).is_empty());
    // More bytes arrive: the wait starts again.
    std::fs::write(&p, b"part one, part two").unwrap();
    s.observe(&p, file_key(&p), t0 + Duration::from_secs(4));
    assert!(s.take_settled(t0 + Duration::from_secs(8)).is_empty());
    s.observe(&p, file_key(&p), t0 + Duration::from_secs(8));
    let ready = s.take_settled(t0 + Duration::from_secs(9));
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].1.size, 18);
    assert!(s.is_empty());
    // A file that goes away is dropped.
    s.observe(&p, file_key(&p), t0);
    std::fs::remove_file(&p).unwrap();
    s.observe(&p, file_key(&p), t0 + Duration::from_secs(1));
    assert!(s.is_empty());
}

fn row(key: FileKey, path: &Path, item: Option<ItemId>, after: &str) -> WatchedRow {
    WatchedRow {
        key,
        path: path.display().to_string(),
        watch_dir: path.parent().unwrap().display().to_string(),
        item_id: item,
        after: after.into(),
        offered_at: 1_700_000_000_000,
        after_done: false,
    }
}

#[tokio::test]
async fn watched_files_are_remembered_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir.path().join("in/a.mp4"), b"video");
    let key = file_key(&f).unwrap();
    let item = ItemId::from_random([7; 16]);
    {
        let store = Store::open(&dir.path().join("data")).await.unwrap();
        assert!(!store.watched_seen(key).await.unwrap());
        assert!(store
            .put_watched(row(key, &f, Some(item), "delete"))
            .await
            .unwrap());
        // The same version again is not recorded twice.
        assert!(!store
            .put_watched(row(key, &f, Some(item), "delete"))
            .await
            .unwrap());
        let unofferable = FileKey { size: 1, ..key };
        store
            .put_watched(row(unofferable, &f, None, "keep"))
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    let store = Store::open(&dir.path().join("data")).await.unwrap();
    assert!(store.watched_seen(key).await.unwrap());
    // Changed (another size or mtime): a new file.
    assert!(!store
        .watched_seen(FileKey {
            mtime_ns: key.mtime_ns + 1,
            ..key
        })
        .await
        .unwrap());
    let got = store.watched_by_item(item).await.unwrap().unwrap();
    assert_eq!(got.key, key);
    assert_eq!(got.after, "delete");
    let pending = store.watched_pending_after().await.unwrap();
    assert_eq!(pending.len(), 1);
    store.watched_after_done(item).await.unwrap();
    assert!(store.watched_pending_after().await.unwrap().is_empty());
    assert!(
        store
            .watched_by_item(item)
            .await
            .unwrap()
            .unwrap()
            .after_done
    );
}

#[test]
fn after_delivery_moves_with_a_new_name_or_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let done = dir.path().join("done");
    write(&done.join("a.mp4"), b"an older a");
    let a = write(&dir.path().join("in/a.mp4"), b"video a");
    let key = file_key(&a).unwrap();
    let to = apply(&row(key, &a, None, &format!("move:{}", done.display())))
        .unwrap()
        .unwrap();
    assert_eq!(to, done.join("a (1).mp4"));
    assert_eq!(std::fs::read(&to).unwrap(), b"video a");
    assert!(!a.exists());
    assert_eq!(std::fs::read(done.join("a.mp4")).unwrap(), b"an older a");

    let b = write(&dir.path().join("in/b.mp4"), b"video b");
    let key = file_key(&b).unwrap();
    assert_eq!(apply(&row(key, &b, None, "delete")).unwrap(), None);
    assert!(!b.exists());

    // A source replaced since it was offered is left alone.
    let c = write(&dir.path().join("in/c.mp4"), b"video c");
    let key = file_key(&c).unwrap();
    std::fs::write(&c, b"another video c").unwrap();
    assert!(apply(&row(key, &c, None, "delete")).is_err());
    assert!(c.exists());
    // Keep keeps.
    let key = file_key(&c).unwrap();
    assert_eq!(apply(&row(key, &c, None, "keep")).unwrap(), None);
    assert!(c.exists());
    // Into a folder that does not exist yet.
    let to = move_into(&c, &dir.path().join("new/deeper")).unwrap();
    assert!(to.exists() && !c.exists());
}

fn config(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(Path::new("/data"), text, Some(Path::new("/etc/dmc.toml")))
}

#[test]
fn watch_entries_parse_with_defaults() {
    let c = config(
        "[[watch]]\npath = \"/media/in\"\nprofile = \"mkv-x264\"\n\n\
         [[watch]]\npath = \"/media/music\"\nprofile = \"opus\"\nrecursive = true\nsettle = 2\n\
         rescan = \"5m\"\nafter_delivery = \"move:done\"\n\n\
         [[watch]]\npath = \"/media/pics\"\nprofile = \"webp\"\nafter_delivery = \"delete\"\n\
         media_types = [\"image\"]\nsettle = \"500ms\"\n",
    )
    .unwrap();
    assert_eq!(c.watch.len(), 3);
    let v = &c.watch[0];
    assert_eq!(v.path, Path::new("/media/in"));
    assert_eq!(v.media_types, vec![MediaType::Video]);
    assert!(!v.recursive);
    assert_eq!(v.settle, Duration::from_secs(5));
    assert_eq!(v.rescan, Duration::from_secs(60));
    assert_eq!(v.after_delivery, AfterDelivery::Keep);
    let m = &c.watch[1];
    assert!(m.recursive);
    assert_eq!(m.settle, Duration::from_secs(2));
    assert_eq!(m.rescan, Duration::from_secs(300));
    assert_eq!(
        m.after_delivery,
        AfterDelivery::Move(PathBuf::from("/media/music/done"))
    );
    assert_eq!(c.watch[2].after_delivery, AfterDelivery::Delete);
    assert_eq!(c.watch[2].settle, Duration::from_millis(500));
    assert_eq!(
        AfterDelivery::from_stored(&m.after_delivery.to_stored()),
        m.after_delivery
    );
    // [notify] defaults.
    assert_eq!(c.notify.on_done, None);
    assert!(c.notify.desktop);
    assert_eq!(c.notify.timeout, Duration::from_secs(30));
}

fn invalid(text: &str) -> (Option<usize>, String, String) {
    match config(text) {
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key.unwrap_or_default(), message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn bad_watch_entries_are_refused_clearly() {
    let (line, key, msg) = invalid(
        "[node]\nname = \"x\"\n\n[[watch]]\npath = \"/in\"\nprofile = \"mkv-x264\"\n\n\
         [[watch]]\npath = \"/in2\"\nprofile = \"divx\"\n",
    );
    assert_eq!(key, "watch");
    assert_eq!(line, Some(8));
    assert!(msg.contains("unknown profile `divx`"), "{msg}");
    assert!(msg.contains("mkv-x264") && msg.contains("opus"), "{msg}");

    let (_, _, msg) =
        invalid("[[watch]]\npath = \"/in\"\nprofile = \"opus\"\nmedia_types = [\"video\"]\n");
    assert!(msg.contains("does not convert video"), "{msg}");
    let (_, _, msg) =
        invalid("[[watch]]\npath = \"/in\"\nprofile = \"opus\"\nafter_delivery = \"trash\"\n");
    assert!(msg.contains("\"move:<dir>\""), "{msg}");
    let (_, _, msg) = invalid("[[watch]]\npath = \"/in\"\nprofile = \"opus\"\nsettle = \"soon\"\n");
    assert!(msg.contains("settle"), "{msg}");
    let (_, _, msg) = invalid("[[watch]]\npath = \"/in\"\n");
    assert!(msg.contains("profile"), "{msg}");
    let (_, _, msg) = invalid(
        "[[watch]]\npath = \"/in\"\nprofile = \"opus\"\n[[watch]]\npath = \"/in\"\nprofile = \"webp\"\n",
    );
    assert!(msg.contains("watched twice"), "{msg}");
    let (_, key, _) = invalid("[notify]\ntimeout = \"0s\"\n");
    assert_eq!(key, "notify.timeout");
    let c = config("[notify]\non_done = \"cat > /tmp/x\"\ndesktop = false\ntimeout = 5\n").unwrap();
    assert_eq!(c.notify.on_done.as_deref(), Some("cat > /tmp/x"));
    assert!(!c.notify.desktop);
    assert_eq!(c.notify.timeout, Duration::from_secs(5));
}

#[test]
fn a_settled_file_swapped_for_a_link_is_not_opened() {
    use super::scan::{open_settled, SettledOpenError};
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let secret = write(&dir.path().join("secret.mp4"), b"the link's target");
    let clip = write(&dir.path().join("in/clip.mp4"), b"the file that settled");
    let key = file_key(&clip).unwrap();
    // Unchanged: the very file that settled.
    let mut text = String::new();
    open_settled(&clip, key)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "the file that settled");
    // Swapped for a link between settling and offering: never followed.
    let moved = dir.path().join("moved.mp4");
    std::fs::rename(&clip, &moved).unwrap();
    std::os::unix::fs::symlink(&secret, &clip).unwrap();
    assert!(matches!(
        open_settled(&clip, key),
        Err(SettledOpenError::Link)
    ));
    // Even a link back to the file that settled: watched folders follow no link.
    std::fs::remove_file(&clip).unwrap();
    std::os::unix::fs::symlink(&moved, &clip).unwrap();
    assert!(matches!(
        open_settled(&clip, key),
        Err(SettledOpenError::Link)
    ));
    // Replaced by another file: not the version that settled.
    std::fs::remove_file(&clip).unwrap();
    std::fs::copy(&secret, &clip).unwrap();
    assert!(matches!(
        open_settled(&clip, key),
        Err(SettledOpenError::Changed)
    ));
}
