//! Tests of the store against real SQLite files in temporary directories.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use dmc_protocol::record::{
    ConverterAd, FileInfo, NodeInfo, Offer, ProgressInfo, RecordBody, Stage,
};
use dmc_protocol::wire::FileRole;
use dmc_protocol::{ItemId, MediaType, Millis, NodeId, Record};
use rusqlite::Connection;

use super::*;

pub(super) fn node(n: u8) -> NodeId {
    NodeId::new(format!("12D3KooWTestNode{n:02}"))
}

pub(super) fn item(n: u8) -> ItemId {
    ItemId::from_random([n; 16])
}

pub(super) fn file_info() -> FileInfo {
    FileInfo {
        file_name: "clip.mp4".into(),
        file_size: 123_456,
        sha512: "a".repeat(128),
        blake3: "b".repeat(64),
        chunk_size: 1 << 20,
        manifest_hash: "c".repeat(64),
    }
}

pub(super) fn rec(author: u8, seq: u64, body: RecordBody) -> Record {
    Record {
        author: node(author),
        seq,
        created_at: 1_700_000_000_000u64.wrapping_add(seq % 1000),
        body,
        sig: Default::default(),
    }
}

/// Node 1's offer of `item_id` (a video for `mkv-x264`) as its record `seq`.
pub(super) fn offer_record(seq: u64, item_id: ItemId) -> Record {
    rec(
        1,
        seq,
        RecordBody::Offer(Offer {
            item_id,
            nonce: [7; 16],
            file: file_info(),
            media_type: MediaType::Video,
            profile: "mkv-x264".into(),
            duration_ms: None,
            priority: 0,
            sha512_follows: false,
            part_of: None,
        }),
    )
}

/// One record of each interesting kind.
pub(super) fn sample() -> Vec<Record> {
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
                    segments: false,
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
                sha512_follows: false,
                part_of: None,
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
                    segments: None,
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
                certain: false,
            },
        ),
        rec(1, 5, RecordBody::Cancel { item_id: it }),
    ]
}

/// Records as received when they were made.
pub(super) fn received(v: Vec<Record>) -> Vec<(Record, Millis)> {
    v.into_iter()
        .map(|r| {
            let at = r.created_at;
            (r, at)
        })
        .collect()
}

/// The records, without their receipt times.
pub(super) fn bodies(v: Vec<(Record, Millis)>) -> Vec<Record> {
    v.into_iter().map(|(r, _)| r).collect()
}

pub(super) fn sorted(mut v: Vec<Record>) -> Vec<Record> {
    v.sort_by(|a, b| (&a.author, a.seq).cmp(&(&b.author, b.seq)));
    v
}

fn job(item_id: ItemId, epoch: u32, pid: u32, started_at: u64) -> JobRow {
    JobRow {
        item_id,
        epoch,
        pid,
        proc_start: None,
        started_at,
    }
}

fn delivered(author: u8, seq: u64, item_id: ItemId, epoch: u32) -> Record {
    rec(
        author,
        seq,
        RecordBody::Delivered {
            item_id,
            epoch,
            output_path: "/out/clip.mkv".into(),
            sha512: "a".repeat(128),
        },
    )
}

pub(super) fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(DB_FILE_NAME)).unwrap()
}

#[tokio::test]
async fn the_database_and_its_wal_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    // A new database under the system unit's umask (0027) would be 0640.
    let store = Store::open(dir.path()).await.unwrap();
    store.put_records(received(sample())).await.unwrap();
    let db = dir.path().join(DB_FILE_NAME);
    let wal = dir.path().join(format!("{DB_FILE_NAME}-wal"));
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&wal), 0o600);
    store.close().await.unwrap();
    // One an older node left group-readable is made private at the next start.
    for p in [&db, &wal] {
        if p.exists() {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
    }
    let store = Store::open(dir.path()).await.unwrap();
    store.put_records(received(sample())).await.unwrap();
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&wal), 0o600);
    store.close().await.unwrap();
}

#[tokio::test]
async fn records_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(
        store.put_records(received(sample())).await.unwrap(),
        sample().len()
    );
    assert_eq!(
        bodies(store.load_records().await.unwrap()),
        sorted(sample())
    );
}

#[tokio::test]
async fn duplicates_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let all = sample();
    assert_eq!(
        store
            .put_records(received(all[..3].to_vec()))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .put_records(received(all[..3].to_vec()))
            .await
            .unwrap(),
        0
    );
    // Same key, different body: the first one stays (records are immutable).
    let mut clash = all[0].clone();
    clash.body = RecordBody::Cancel { item_id: item(7) };
    assert_eq!(store.put_records(received(vec![clash])).await.unwrap(), 0);
    assert_eq!(
        store.put_records(received(all.clone())).await.unwrap(),
        all.len() - 3
    );
    assert_eq!(bodies(store.load_records().await.unwrap()), sorted(all));
}

#[tokio::test]
async fn out_of_range_sequence_is_skipped_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let bad = rec(3, u64::MAX, RecordBody::Cancel { item_id: item(1) });
    let good = rec(3, 1, RecordBody::Cancel { item_id: item(1) });
    assert_eq!(
        store
            .put_records(received(vec![bad, good.clone()]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(bodies(store.load_records().await.unwrap()), vec![good]);
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
    store.put_records(received(sample())).await.unwrap();
    store.close().await.unwrap();
    // The migrations create tables without IF NOT EXISTS: running them again would fail.
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(
        bodies(store.load_records().await.unwrap()).len(),
        sample().len()
    );
    store.close().await.unwrap();
    let v: u32 = raw(dir.path())
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

/// A database left by schema version `version` holding `records`, as that version stored them
/// (the records table has had these columns since version 1).
pub(super) fn database_at(dir: &Path, version: u32, records: &[Record]) -> Connection {
    let conn = raw(dir);
    for sql in &schema::MIGRATIONS[..version as usize] {
        conn.execute_batch(sql).unwrap();
    }
    conn.pragma_update(None, "user_version", version).unwrap();
    for r in records {
        conn.execute(
            "INSERT INTO records (author, seq, item_id, kind, created_at, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![
                r.author.as_str(),
                r.seq as i64,
                r.body.item_id().map(|i| i.to_string()),
                r.body.kind(),
                r.created_at as i64,
                dmc_protocol::wire::encode(r)
            ],
        )
        .unwrap();
    }
    conn
}

/// A database of schema version 3 (the last with a `transfers` table and delivery markers in
/// `meta`), with a row in every table, written as that version wrote them.
fn version_3_database(dir: &Path, records: &[Record]) -> Connection {
    let conn = database_at(dir, 3, records);
    let it = |n: u8| item(n).to_string();
    let rows: &[(&str, Vec<String>)] = &[
        (
            "INSERT INTO local_files VALUES (?1, 'source', 0, '/media/clip.mp4', 64, 7, 32, zeroblob(64))",
            vec![it(1)],
        ),
        (
            "INSERT INTO peers VALUES (?1, '[\"/ip4/10.0.0.2/tcp/4748\"]', 99)",
            vec![node(2).as_str().to_string()],
        ),
        ("INSERT INTO jobs VALUES (?1, 1, 4242, 77, 123456)", vec![it(3)]),
        (
            "INSERT INTO watched VALUES (1, 2, 3, 4, '/in/a.mp4', '/in', ?1, 'delete', 5, 0)",
            vec![it(4)],
        ),
        (
            "INSERT INTO transfers VALUES (?1, 'result', 2, '/data/x.part', 42)",
            vec![it(5)],
        ),
        ("INSERT INTO meta VALUES ('delivered:' || ?1 || ':2', '/out/kept.mkv')", vec![it(6)]),
        ("INSERT INTO meta VALUES ('delivered:' || ?1 || ':1', '/out/done.mkv')", vec![it(9)]),
        ("INSERT INTO meta VALUES ('other', 'x')", vec![]),
    ];
    for (sql, args) in rows {
        conn.execute(sql, rusqlite::params_from_iter(args)).unwrap();
    }
    conn
}

#[tokio::test]
async fn version_3_migrates_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = sample();
    records.push(delivered(1, 6, item(9), 1));
    drop(version_3_database(dir.path(), &records));

    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(bodies(store.load_records().await.unwrap()), sorted(records));
    let files = store.local_files().await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, PathBuf::from("/media/clip.mp4"));
    assert_eq!(files[0].hashes, vec![0u8; 64]);
    assert_eq!(
        store.peers().await.unwrap(),
        vec![PeerRow {
            node_id: node(2),
            addrs: vec!["/ip4/10.0.0.2/tcp/4748".into()],
            last_seen: 99
        }]
    );
    let jobs = store.jobs().await.unwrap();
    assert_eq!(
        jobs,
        vec![JobRow {
            proc_start: Some(123456),
            ..job(item(3), 1, 4242, 77)
        }]
    );
    let watched = store.watched_by_item(item(4)).await.unwrap().unwrap();
    assert_eq!(
        (watched.path.as_str(), watched.after.as_str()),
        ("/in/a.mp4", "delete")
    );
    assert_eq!(store.watched_pending_after().await.unwrap(), vec![watched]);
    // The marker of an item still to be delivered is carried over; that of a delivered item
    // is not needed any more.
    assert_eq!(
        store.delivery_target(item(6), 2).await.unwrap().as_deref(),
        Some("/out/kept.mkv")
    );
    assert_eq!(store.delivery_target(item(9), 1).await.unwrap(), None);
    store.close().await.unwrap();

    let conn = raw(dir.path());
    let version: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "converter_speeds",
            "deliveries",
            "ended",
            "horizons",
            "item_summaries",
            "jobs",
            "local_files",
            "offerless",
            "peers",
            "records",
            "tombstones",
            "watched"
        ]
    );
}

#[tokio::test]
async fn receipt_times_survive_a_restart_and_older_rows_take_created_at_capped() {
    let dir = tempfile::tempdir().unwrap();
    // Stored by version 4, before receipt times: one record made in the past, one claiming
    // a time far in the future (a peer's clock ahead).
    let (past, future) = (rec(1, 1, RecordBody::Cancel { item_id: item(1) }), {
        let mut r = rec(2, 1, RecordBody::Cancel { item_id: item(2) });
        r.created_at = u64::MAX / 4;
        r
    });
    let conn = version_3_database(dir.path(), &[past.clone(), future.clone()]);
    conn.execute_batch(schema::MIGRATIONS[3]).unwrap();
    conn.pragma_update(None, "user_version", 4).unwrap();
    drop(conn);
    let before = crate::core::now_ms();
    let store = Store::open(dir.path()).await.unwrap();
    let loaded = store.load_records().await.unwrap();
    assert_eq!(loaded[0], (past.clone(), past.created_at));
    assert_eq!(loaded[1].0, future);
    assert!(
        (before.saturating_sub(2_000)..=crate::core::now_ms() + 2_000).contains(&loaded[1].1),
        "a future created_at is capped at the migration: {}",
        loaded[1].1
    );
    // Stored with its receipt time, which a reopen gives back.
    let late = rec(3, 1, RecordBody::Cancel { item_id: item(3) });
    store
        .put_records(vec![(late.clone(), 42_000)])
        .await
        .unwrap();
    store.close().await.unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let loaded = store.load_records().await.unwrap();
    assert_eq!(loaded[2], (late, 42_000));
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
        pinned: None,
    };
    {
        let store = Store::open(dir.path()).await.unwrap();
        store.put_records(received(sample())).await.unwrap();
        store.put_local_file(file.clone()).await.unwrap();
        store
            .put_peer(node(2), vec!["/ip4/127.0.0.1/tcp/4748".into()], 99)
            .await
            .unwrap();
        store.job_spawned(job(item(3), 1, 4242, 77)).await.unwrap();
        store
            .record_delivery_target(item(2), 2, "/out/x.mkv".into())
            .await
            .unwrap();
        // Dropped without close: the thread ends once the last handle is gone.
    }
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(
        bodies(store.load_records().await.unwrap()),
        sorted(sample())
    );
    assert_eq!(store.local_files().await.unwrap(), vec![file]);
    assert_eq!(
        store.peers().await.unwrap(),
        vec![PeerRow {
            node_id: node(2),
            addrs: vec!["/ip4/127.0.0.1/tcp/4748".into()],
            last_seen: 99
        }]
    );
    assert_eq!(store.jobs().await.unwrap(), vec![job(item(3), 1, 4242, 77)]);
    assert_eq!(
        store.delivery_target(item(2), 2).await.unwrap().as_deref(),
        Some("/out/x.mkv")
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
        pinned: None,
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
async fn jobs_and_peers_replace() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.job_spawned(job(item(5), 2, 100, 1)).await.unwrap();
    let respawned = JobRow {
        proc_start: Some(u64::from(u32::MAX) + 1),
        ..job(item(5), 2, 101, 2)
    };
    store.job_spawned(respawned.clone()).await.unwrap();
    assert_eq!(store.jobs().await.unwrap(), vec![respawned]);
    assert!(store.job_ended(item(5), 2).await.unwrap());
    assert!(!store.job_ended(item(5), 2).await.unwrap());
    assert!(store.jobs().await.unwrap().is_empty());
    assert!(matches!(
        store.job_spawned(job(item(6), 1, 1, u64::MAX)).await,
        Err(StoreError::Invalid(_))
    ));

    store.put_peer(node(1), vec![], 1).await.unwrap();
    store
        .put_peer(node(1), vec!["/ip4/127.0.0.1/tcp/1".into()], 2)
        .await
        .unwrap();
    let peers = store.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].last_seen, 2);
}

#[tokio::test]
async fn delivery_targets_last_until_the_item_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.delivery_target(item(1), 1).await.unwrap(), None);
    store
        .record_delivery_target(item(1), 1, "/out/a.mkv".into())
        .await
        .unwrap();
    // A name taken in between: the delivery picks another and records it instead.
    store
        .record_delivery_target(item(1), 1, "/out/a (1).mkv".into())
        .await
        .unwrap();
    store
        .record_delivery_target(item(1), 2, "/out/b.mkv".into())
        .await
        .unwrap();
    store
        .record_delivery_target(item(2), 1, "/out/c.mkv".into())
        .await
        .unwrap();
    assert_eq!(
        store.delivery_target(item(1), 1).await.unwrap().as_deref(),
        Some("/out/a (1).mkv")
    );

    // Other records of the item, and a record that clashes with a stored one (so is not
    // stored), leave the targets alone.
    store.put_records(received(sample())).await.unwrap();
    let mut clash = sample()[0].clone();
    clash.body = delivered(1, 1, item(1), 1).body;
    assert_eq!(store.put_records(received(vec![clash])).await.unwrap(), 0);
    assert!(store.delivery_target(item(1), 1).await.unwrap().is_some());

    // Its `delivered` record forgets every epoch of that item, and only that item.
    store
        .put_records(received(vec![delivered(1, 6, item(1), 1)]))
        .await
        .unwrap();
    assert_eq!(store.delivery_target(item(1), 1).await.unwrap(), None);
    assert_eq!(store.delivery_target(item(1), 2).await.unwrap(), None);
    assert_eq!(
        store.delivery_target(item(2), 1).await.unwrap().as_deref(),
        Some("/out/c.mkv")
    );
}

#[tokio::test]
async fn corrupt_rows_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    store.put_records(received(sample())).await.unwrap();
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
        conn.execute(
            "INSERT INTO jobs (item_id, epoch, pid, started_at) VALUES (?1, 1, -1, 1)",
            [item(1).to_string()],
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(
        bodies(store.load_records().await.unwrap()),
        sorted(sample())
    );
    assert!(store.peers().await.unwrap().is_empty());
    assert!(store.local_files().await.unwrap().is_empty());
    assert!(store.jobs().await.unwrap().is_empty());
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
                new += store
                    .put_records(received(vec![r.clone(), r]))
                    .await
                    .unwrap();
                store
                    .record_delivery_target(item(author), 1, seq.to_string())
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
    let records = bodies(store.load_records().await.unwrap());
    assert_eq!(records.len(), 8 * 25);
    for author in 0..8u8 {
        let last = records
            .iter()
            .filter(|r| r.author == node(author))
            .map(|r| r.seq)
            .max();
        assert_eq!(last, Some(25));
        assert_eq!(
            store
                .delivery_target(item(author), 1)
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
            store.put_records(received(sample())).await.unwrap();
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
        bodies(store.load_records().await.unwrap())
    });
    assert_eq!(loaded, sorted(sample()));
}

#[tokio::test]
async fn measured_speeds_are_replaced_as_a_whole_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).await.unwrap();
        assert!(store.speeds().await.unwrap().is_empty());
        store
            .put_speeds(vec![(node(1), 2.5), (node(2), 0.75)])
            .await
            .unwrap();
        store.put_speeds(vec![(node(2), 0.5)]).await.unwrap();
        store.close().await.unwrap();
    }
    let store = Store::open(dir.path()).await.unwrap();
    assert_eq!(store.speeds().await.unwrap(), vec![(node(2), 0.5)]);
}
