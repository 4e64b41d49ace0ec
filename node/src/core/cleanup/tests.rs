//! Tests of the start-up clean-up with real processes (ffmpeg, sleep) and a real store.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dmc_protocol::engine::{Engine, EngineConfig};
use dmc_protocol::ItemId;

use super::*;

fn engine() -> Engine {
    Engine::new(
        EngineConfig::new(dmc_protocol::Signer::from_seed([1; 32]), "test", None),
        [],
    )
}

fn item(n: u8) -> ItemId {
    ItemId::from_random([n; 16])
}

/// Waits until `pid` has exec'd `want` (argv[0] ends with it).
fn wait_exec(pid: u32, want: &str) {
    let start = Instant::now();
    while !cmdline(pid)
        .and_then(|a| a.into_iter().next())
        .is_some_and(|a| a.ends_with(want))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{want} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child that is killed when the test ends, whatever happens.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn row(item_id: ItemId, pid: u32, proc_start: Option<u64>) -> JobRow {
    JobRow {
        item_id,
        epoch: 1,
        pid,
        proc_start,
        started_at: 1,
    }
}

#[tokio::test]
async fn an_ffmpeg_left_by_the_previous_run_is_killed_and_partials_removed() {
    let data = tempfile::tempdir().unwrap();
    let work_dir = data.path().join("work");
    let output_dir = data.path().join("out");
    // A long-running ffmpeg WITHOUT PDEATHSIG, as a previous run that died might have left.
    let mut ffmpeg = Reaped(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
            .args(["-f", "lavfi", "-i", "testsrc", "-f", "null", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ffmpeg runs (apt-get install ffmpeg)"),
    );
    let pid = ffmpeg.0.id();
    wait_exec(pid, "ffmpeg");
    let started = proc_start_time(pid).expect("start time of a running process");

    // Its stale partial output, and a delivery .part of an unknown item.
    let job = job_dir(&work_dir, item(1), 1);
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(job.join("result.mkv.part"), b"partial").unwrap();
    std::fs::create_dir_all(&output_dir).unwrap();
    let stale_delivery = output_dir.join(format!(".dmc-{}-3.part", item(2)));
    std::fs::write(&stale_delivery, b"x").unwrap();
    let user_file = output_dir.join("holiday.mkv");
    std::fs::write(&user_file, b"keep me").unwrap();
    // A link named like a .part is not ours: it stays.
    let link = output_dir.join(format!(".dmc-{}-4.1.part", item(2)));
    std::os::unix::fs::symlink(&user_file, &link).unwrap();

    let store = Store::open(data.path()).await.unwrap();
    store
        .job_spawned(row(item(1), pid, Some(started)))
        .await
        .unwrap();
    let dirs = CleanupDirs {
        work_dir: Some(work_dir.clone()),
        output_dir: output_dir.clone(),
    };
    let cleaned = at_start(&store, &engine(), &dirs, &[]).await;

    assert_eq!(cleaned.killed, vec![pid]);
    let status = ffmpeg.0.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    assert!(
        !job.exists(),
        "the job folder with its partial output is gone"
    );
    assert!(!stale_delivery.exists());
    assert!(user_file.exists(), "files that are not dmc's stay");
    assert!(
        std::fs::symlink_metadata(&link).is_ok(),
        "a link is not a .part of ours"
    );
    assert!(cleaned.removed.contains(&job));
    assert!(cleaned.removed.contains(&stale_delivery));
    assert!(
        store.jobs().await.unwrap().is_empty(),
        "the job table is emptied"
    );
}

#[tokio::test]
async fn a_pid_that_is_not_our_ffmpeg_is_left_alone() {
    let data = tempfile::tempdir().unwrap();
    let mut sleep = Reaped(
        Command::new("sleep")
            .arg("1000")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep runs"),
    );
    let pid = sleep.0.id();
    wait_exec(pid, "sleep");
    let started = proc_start_time(pid).expect("start time");
    let store = Store::open(data.path()).await.unwrap();
    // Same pid with another start time (the pid was reused), and the right start time but
    // not ffmpeg, and a row recorded without a start time.
    store
        .job_spawned(row(item(1), pid, Some(started + 1)))
        .await
        .unwrap();
    store
        .job_spawned(row(item(2), pid, Some(started)))
        .await
        .unwrap();
    store.job_spawned(row(item(3), pid, None)).await.unwrap();
    let dirs = CleanupDirs {
        work_dir: Some(data.path().join("work")),
        output_dir: data.path().join("out"),
    };
    let cleaned = at_start(&store, &engine(), &dirs, &[]).await;
    assert!(cleaned.killed.is_empty());
    assert!(
        sleep.0.try_wait().unwrap().is_none(),
        "the sleep process still runs"
    );
    assert!(store.jobs().await.unwrap().is_empty());
}

#[test]
fn start_time_and_names() {
    let me = std::process::id();
    assert!(proc_start_time(me).is_some());
    assert!(alive(me));
    assert!(!is_ffmpeg(me));
    assert_eq!(proc_start_time(u32::MAX), None);
    let id = item(7);
    assert_eq!(
        parse_delivery_part(&format!(".dmc-{id}-12.part")),
        Some((id, 12))
    );
    assert_eq!(parse_delivery_part("holiday.part"), None);
    assert_eq!(parse_delivery_part(&format!(".dmc-{id}-x.part")), None);
}
