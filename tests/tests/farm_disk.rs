//! A converter short of disk: with its work dir on a small tmpfs it refuses an item it has no
//! room for (`insufficient disk: need …, have …`), and when the disk fills up mid-job it
//! records a clear error, frees the partial file, and the item goes on. Needs root (mount), so
//! both tests are `#[ignore]`d: `-- --include-ignored` runs them, and fails them without root.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dmc_tests::{make_noisy_clip, needs, wait_until, Lab, Node, NodeOpts};

const LONG: Duration = Duration::from_secs(300);

/// A tmpfs mounted for the test, unmounted when dropped (also on failure).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `20m`) at `at`; panics, saying why, when it can't.
    fn mount(at: &Path, size: &str) -> Tmpfs {
        needs::root("mount a tmpfs");
        std::fs::create_dir_all(at).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "dmc-test"])
            .arg(at)
            .output()
            .unwrap_or_else(|e| panic!("running mount (apt-get install mount): {e}"));
        assert!(
            out.status.success(),
            "mount -t tmpfs at {} failed ({}): {}",
            at.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The converter's work dir in the lab (where `Node::start` puts it).
fn work_dir_of(lab: &Lab, name: &str) -> PathBuf {
    lab.path(name).join("work")
}

fn converter(lab: &Lab, name: &str, extra: &str) -> Node {
    Node::start(
        lab,
        name,
        NodeOpts {
            converter: true,
            extra: format!("reserve_bytes = 1048576\n{extra}"),
            ..Default::default()
        },
    )
    .unwrap()
}

fn laptop(lab: &Lab, peers: Vec<String>) -> Node {
    Node::start(
        lab,
        "laptop",
        NodeOpts {
            peers,
            extra: "[transfer]\nmax_rate = \"4MiB\"\n".into(),
            ..Default::default()
        },
    )
    .unwrap()
}

fn partials(dir: &Path) -> Vec<PathBuf> {
    Node::files_in(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect()
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn a_converter_without_room_rejects_with_the_sizes() {
    let lab = Lab::new().unwrap();
    let _mount = Tmpfs::mount(&work_dir_of(&lab, "converter"), "20m");
    let conv = converter(&lab, "converter", "");
    let laptop = laptop(&lab, vec![conv.addr().unwrap()]);
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 10).unwrap();
    assert!(
        std::fs::metadata(&clip).unwrap().len() > 20 << 20,
        "clip bigger than the tmpfs"
    );
    let id = laptop.offer(&clip, "mkv-x264").unwrap();
    let s = wait_until("the rejection", LONG, || {
        let s = laptop.status(&id).ok()?;
        let text = s.to_string();
        text.contains("insufficient disk: need").then_some(s)
    })
    .unwrap();
    let reason = s["rejections"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("insufficient disk: need ") && reason.contains(", have "),
        "{s:#}"
    );
    let waiting = s["waiting_reason"].as_str().unwrap_or_default();
    assert!(waiting.contains("insufficient disk: need"), "{s:#}");
    assert!(partials(&conv.work_dir).is_empty());
}

#[test]
#[ignore = "needs root (mounts a tmpfs)"]
fn a_disk_filling_up_mid_job_gives_a_clear_error_and_no_partial() {
    let lab = Lab::new().unwrap();
    let work = work_dir_of(&lab, "converter");
    let _mount = Tmpfs::mount(&work, "64m");
    let conv = converter(&lab, "converter", "");
    let conv_addr = conv.addr().unwrap();
    let laptop = laptop(&lab, vec![conv_addr]);
    let clip = lab.path("clip.mp4");
    make_noisy_clip(&clip, 6).unwrap();
    let id = laptop.offer(&clip, "mkv-x264").unwrap();

    // Accepted with room to spare; then something else fills the disk.
    laptop
        .wait_phase(&id, &["transferring", "converting"], LONG)
        .unwrap();
    fill(&work.join("filler"));

    let s = wait_until("the disk-full error", LONG, || {
        let s = laptop.status(&id).ok()?;
        s["errors"]
            .as_array()?
            .iter()
            .any(|e| {
                e.as_str()
                    .is_some_and(|e| e.contains("no space left on device in"))
            })
            .then_some(s)
    })
    .with_context_log(&conv);
    let error = s["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .find(|e| e.contains("no space left on device"))
        .unwrap()
        .to_string();
    assert!(
        error.contains(&work.display().to_string()) && error.contains("freed the partial file"),
        "{error}"
    );
    assert!(
        error.contains("while transferring") || error.contains("while converting"),
        "{error}"
    );
    let left = partials(&conv.work_dir);
    assert!(left.is_empty(), "partial files left: {left:?}");

    // The item goes on: failed with this error on its own, or retried elsewhere.
    let now = laptop.status(&id).unwrap();
    let phase = now["phase"].as_str().unwrap_or_default().to_string();
    if matches!(phase.as_str(), "delivered" | "failed" | "cancelled") {
        assert_eq!(now["status"], "finished_with_errors", "{now:#}");
    } else {
        // Retried: a second converter with room finishes it.
        let mut laptop = laptop;
        let second = converter(&lab, "second", "");
        laptop.add_peer(&second.addr().unwrap()).unwrap();
        let done = laptop.wait_final(&id, LONG).unwrap();
        assert_eq!(done["status"], "finished_successful", "{done:#}");
    }
}

/// Writes `path` until the disk is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0x5au8; 1 << 20];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

trait LogContext<T> {
    fn with_context_log(self, node: &Node) -> T;
}

impl<T> LogContext<T> for anyhow::Result<T> {
    fn with_context_log(self, node: &Node) -> T {
        match self {
            Ok(v) => v,
            Err(e) => panic!("{e}\nlog of {}:\n{}", node.name, node.log_tail()),
        }
    }
}
