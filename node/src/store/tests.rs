//! Tests of the store against real SQLite files in temporary directories.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use dmc_protocol::record::{
    ConverterAd, FileInfo, NodeInfo, Offer, ProgressInfo, RecordBody, Stage,
};
use dmc_protocol::wire::FileRole;
use dmc_protocol::{ItemId, MediaType, NodeId, Record};
use rusqlite::Connection;

use super::*;

fn node(n: u8) -> NodeId {
    NodeId::new(format!("12D3KooWTestNode{n:02}"))
}

fn item(n: u8) -> ItemId {
    ItemId::from_random([n; 16])
}

fn file_info() -> FileInfo {
    FileInfo {
        file_name: "clip.mp4".into(),
        file_size: 123_456,
        sha512: "a".repeat(128),
        blake3: "b".repeat(64),
        chunk_size: 1 << 20,
        manifest_hash: "c".repeat(64),
    }
}

fn rec(author: u8, seq: u64, body: RecordBody) -> Record {
    Record {
        author: node(author),
        seq,
        created_at: 1_700_000_000_000u64.wrapping_add(seq % 1000),
        body,
        sig: Default::default(),
    }
}

/// One record of each interesting kind.
fn sample() -> Vec<Record> {
    let it = item(1);
    vec![
        rec(
            1,
            1,
            RecordBody::Node(NodeInfo {
                name: "laptop".into(),
                converter: Some(ConverterAd {
                    media_types: vec![MediaType::Video],
                    profiles: vec!["mkv-x264".into()],
                    workers: 2,
                }),
            }),
        ),
        rec(
            1,
            2,
            RecordBody::Offer(Offer {
                item_id: it,
                nonce: [0; 16],
                file: file_info(),
                media_type: MediaType::Video,
                profile: "mkv-x264".into(),
                duration_ms: Some(4000),
                priority: 0,
            }),
        ),
        rec(
            1,
            3,
            RecordBody::Assign {
                item_id: it,
                epoch: 1,
                converter: node(2),
            },
        ),
        rec(
            2,
            1,
            RecordBody::Accept {
                item_id: it,
                epoch: 1,
            },
        ),
        rec(
            2,
            2,
            RecordBody::Progress {
                item_id: it,
                epoch: 1,
                progress: ProgressInfo {
                    stage: Stage::Converting,
                    fraction: 0.5,
                    fps: Some(25.0),
                    speed: Some(1.5),
                    eta_secs: Some(3),
                },
            },
        ),
        rec(
            2,
            3,
            RecordBody::Converted {
                item_id: it,
                epoch: 1,
                output: file_info(),
            },
        ),
        rec(
            1,
            4,
            RecordBody::Failed {
                item_id: it,
                epoch: None,
                error: "boom".into(),
            },
        ),
        rec(1, 5, RecordBody::Cancel { item_id: it }),
    ]
}

fn sorted(mut v: Vec<Record>) -> Vec<Record> {
    v.sort_by(|a, b| (&a.author, a.seq).cmp(&(&b.author, b.seq)));
    v
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE_NAME)).unwrap()
}

#[tokio::test]
async fn records_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.put_records(sample()).await.unwrap(), sample().len());
    assert_eq!(store.load_records().await.unwrap(), sorted(sample()));
    assert_eq!(store.last_seq(node(1)).await.unwrap(), Some(5));
    assert_eq!(store.last_seq(node(2)).await.unwrap(), Some(3));
    assert_eq!(store.last_seq(node(9)).await.unwrap(), None);
}

#[tokio::test]
async fn duplicates_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let all = sample();
    assert_eq!(store.put_records(all[..3].to_vec()).await.unwrap(), 3);
    assert_eq!(store.put_records(all[..3].to_vec()).await.unwrap(), 0);
    // Same key, different body: the first one stays (records are immutable).
    let mut clash = all[0].clone();
    clash.body = RecordBody::Cancel { item_id: item(7) };
    assert_eq!(store.put_records(vec![clash]).await.unwrap(), 0);
    assert_eq!(store.put_records(all.clone()).await.unwrap(), all.len() - 3);
    assert_eq!(store.load_records().await.unwrap(), sorted(all));
}

#[tokio::test]
async fn out_of_range_sequence_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let bad = rec(3, u64::MAX, RecordBody::Cancel { item_id: item(1) });
    let good = rec(3, 1, RecordBody::Cancel { item_id: item(1) });
    assert_eq!(store.put_records(vec![bad, good.clone()]).await.unwrap(), 1);
    assert_eq!(store.load_records().await.unwrap(), vec![good]);
}

#[tokio::test]
async fn schema_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.path(), dir.path().join(DB_FILE_NAME));
    store.close().await.unwrap();
    let conn = raw(dir.path());
    let v: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.put_records(sample()).await.unwrap();
    store.close().await.unwrap();
    // The migrations create tables without IF NOT EXISTS: running them again would fail.
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.load_records().await.unwrap().len(), sample().len());
    store.close().await.unwrap();
    let v: u32 = raw(dir.path())
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.close().await.unwrap();
    raw(dir.path())
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(dir.path())
        .await
        .err()
        .expect("a newer schema must be refused");
    assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
    assert!(err.to_string().contains("newer dmc"), "{err}");
}

#[tokio::test]
async fn calls_after_close_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let other = store.clone();
    store.close().await.unwrap();
    assert!(matches!(
        other.load_records().await,
        Err(StoreError::Closed)
    ));
}

#[tokio::test]
async fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let file = LocalFile {
        item_id: item(1),
        role: FileRole::Source,
        epoch: 0,
        path: PathBuf::from("/media/clip.mp4"),
        file_size: 3 << 20,
        mtime_ns: 1_700_000_000_123_456_789,
        chunk_size: 1 << 20,
        hashes: vec![7u8; 3 * 32],
    };
    let transfer = Transfer {
        item_id: item(2),
        role: FileRole::Result,
        epoch: 2,
        part_path: PathBuf::from("/data/work/x.part"),
        started_at: 42,
    };
    {
        let store = Store::open(dir.path()).await.unwrap();
        store.put_records(sample()).await.unwrap();
        store.put_local_file(file.clone()).await.unwrap();
        store.put_transfer(transfer.clone()).await.unwrap();
        store
            .put_peer(node(2), vec!["/ip4/127.0.0.1/tcp/4748".into()], 99)
            .await
            .unwrap();
        store.job_started(item(3), 1, 4242, 77).await.unwrap();
        store.set_meta("k".into(), "v".into()).await.unwrap();
        // Dropped without close: the thread ends once the last handle is gone.
    }
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.load_records().await.unwrap(), sorted(sample()));
    assert_eq!(store.local_files().await.unwrap(), vec![file]);
    assert_eq!(store.transfers().await.unwrap(), vec![transfer]);
    assert_eq!(
        store.peers().await.unwrap(),
        vec![PeerRow {
            node_id: node(2),
            addrs: vec!["/ip4/127.0.0.1/tcp/4748".into()],
            last_seen: 99
        }]
    );
    assert_eq!(
        store.jobs().await.unwrap(),
        vec![JobRow {
            item_id: item(3),
            epoch: 1,
            pid: 4242,
            proc_start: None,
            started_at: 77
        }]
    );
    assert_eq!(
        store.get_meta("k".into()).await.unwrap().as_deref(),
        Some("v")
    );
}

#[tokio::test]
async fn local_files_put_replace_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let mut f = LocalFile {
        item_id: item(1),
        role: FileRole::Result,
        epoch: 3,
        // Linux paths need not be UTF-8.
        path: PathBuf::from(OsStr::from_bytes(b"/tmp/caf\xe9.mkv")),
        file_size: 0,
        mtime_ns: -5,
        chunk_size: 1 << 20,
        hashes: Vec::new(),
    };
    store.put_local_file(f.clone()).await.unwrap();
    f.file_size = 10;
    f.hashes = vec![1u8; 32];
    store.put_local_file(f.clone()).await.unwrap();
    let source = LocalFile {
        role: FileRole::Source,
        epoch: 0,
        ..f.clone()
    };
    store.put_local_file(source.clone()).await.unwrap();
    let mut got = store.local_files().await.unwrap();
    got.sort_by_key(|f| f.epoch);
    assert_eq!(got, vec![source.clone(), f.clone()]);

    assert!(store
        .delete_local_file(item(1), FileRole::Result, 3)
        .await
        .unwrap());
    assert!(!store
        .delete_local_file(item(1), FileRole::Result, 3)
        .await
        .unwrap());
    assert_eq!(store.local_files().await.unwrap(), vec![source]);

    let bad = LocalFile {
        hashes: vec![0u8; 31],
        ..f
    };
    assert!(matches!(
        store.put_local_file(bad).await,
        Err(StoreError::Invalid(_))
    ));
}

#[tokio::test]
async fn transfers_jobs_peers_meta() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let t = Transfer {
        item_id: item(4),
        role: FileRole::Source,
        epoch: 1,
        part_path: PathBuf::from("/w/a.part"),
        started_at: 5,
    };
    store.put_transfer(t.clone()).await.unwrap();
    assert_eq!(store.transfers().await.unwrap(), vec![t]);
    assert!(store
        .delete_transfer(item(4), FileRole::Source, 1)
        .await
        .unwrap());
    assert!(store.transfers().await.unwrap().is_empty());

    store.job_started(item(5), 2, 100, 1).await.unwrap();
    store.job_started(item(5), 2, 101, 2).await.unwrap();
    assert_eq!(store.jobs().await.unwrap().len(), 1);
    assert_eq!(store.jobs().await.unwrap()[0].pid, 101);
    assert!(store.job_ended(item(5), 2).await.unwrap());
    assert!(!store.job_ended(item(5), 2).await.unwrap());
    assert!(store.jobs().await.unwrap().is_empty());

    store.put_peer(node(1), vec![], 1).await.unwrap();
    store
        .put_peer(node(1), vec!["/ip4/127.0.0.1/tcp/1".into()], 2)
        .await
        .unwrap();
    let peers = store.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].last_seen, 2);
    assert!(store.delete_peer(node(1)).await.unwrap());
    assert!(store.peers().await.unwrap().is_empty());

    assert_eq!(store.get_meta("x".into()).await.unwrap(), None);
    store.set_meta("x".into(), "1".into()).await.unwrap();
    store.set_meta("x".into(), "2".into()).await.unwrap();
    assert_eq!(
        store.get_meta("x".into()).await.unwrap().as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn corrupt_rows_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.put_records(sample()).await.unwrap();
    store.close().await.unwrap();
    {
        let conn = raw(dir.path());
        let ins = "INSERT INTO records (author, seq, item_id, kind, created_at, body)
                   VALUES (?1, ?2, NULL, 'node', 0, ?3)";
        conn.execute(
            ins,
            rusqlite::params![node(5).as_str(), 1, b"\xff\x00garbage".to_vec()],
        )
        .unwrap();
        // A body stored as text instead of a blob.
        conn.execute(ins, rusqlite::params![node(5).as_str(), 2, "text body"])
            .unwrap();
        // A valid body filed under the wrong key.
        let moved = dmc_protocol::wire::encode(&sample()[0]);
        conn.execute(ins, rusqlite::params![node(5).as_str(), 3, moved])
            .unwrap();
        conn.execute(
            "INSERT INTO peers (node_id, addrs, last_seen) VALUES ('x', 'not json', 1)",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO local_files VALUES ('not-a-uuid', 'source', 0, '/a', 1, 1, 1, x'')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.load_records().await.unwrap(), sorted(sample()));
    assert!(store.peers().await.unwrap().is_empty());
    assert!(store.local_files().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let mut tasks = Vec::new();
    for author in 0..8u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut new = 0;
            for seq in 1..=25u64 {
                let r = rec(
                    author,
                    seq,
                    RecordBody::Cancel {
                        item_id: item(author),
                    },
                );
                // Each record is sent twice; only one copy may count.
                new += store.put_records(vec![r.clone(), r]).await.unwrap();
                store
                    .set_meta(format!("last-{author}"), seq.to_string())
                    .await
                    .unwrap();
            }
            new
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 8 * 25);
    assert_eq!(store.load_records().await.unwrap().len(), 8 * 25);
    for author in 0..8u8 {
        assert_eq!(store.last_seq(node(author)).await.unwrap(), Some(25));
        assert_eq!(
            store
                .get_meta(format!("last-{author}"))
                .await
                .unwrap()
                .as_deref(),
            Some("25")
        );
    }
}

const KILL_ENV: &str = "DMC_STORE_TEST_SIGKILL_DIR";

/// Re-runs this test binary as a child that saves records and SIGKILLs itself the moment
/// `put_records` returns; the parent then checks that the records are there.
#[test]
fn records_survive_sigkill_right_after_put() {
    if let Some(dir) = std::env::var_os(KILL_ENV) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Store::open(Path::new(&dir)).await.unwrap();
            store.put_records(sample()).await.unwrap();
            // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        });
        unreachable!("SIGKILL returned");
    }
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::tests::records_survive_sigkill_right_after_put",
        ])
        .args(["--test-threads=1", "--nocapture"])
        .env(KILL_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "child status: {status:?}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let loaded = rt.block_on(async {
        let store = Store::open(dir.path()).await.unwrap();
        store.load_records().await.unwrap()
    });
    assert_eq!(loaded, sorted(sample()));
}
