//! Tests of `[notify] on_done` with real `sh` processes.

use std::time::Duration;

use crate::control::api::ItemView;
use dmc_protocol::{ItemId, MediaType, NodeId, Phase};

use super::*;

fn item(phase: Phase) -> ItemView {
    ItemView {
        item_id: ItemId::from_random([3; 16]),
        created_at: "2026-01-01T00:00:00Z".into(),
        updated_at: "2026-01-01T00:01:00Z".into(),
        client_id: NodeId::new("12D3KooWTest"),
        server_id: None,
        server_name: None,
        file_name: "clip.mp4".into(),
        media_type: MediaType::Video,
        conversion_type: "mkv-x264".into(),
        sha512_checksum: "a".repeat(128),
        file_size: 42,
        duration_ms: Some(4000),
        status: phase.status(),
        phase,
        progress: 1.0,
        fps: None,
        speed: None,
        eta_secs: None,
        segments: None,
        epoch: Some(1),
        waiting_reason: None,
        errors: Vec::new(),
        rejections: Vec::new(),
        attempts: Vec::new(),
        priority: 0,
        queue_position: None,
        version: 7,
        output_file_name: Some("clip.mkv".into()),
        output_file_size: Some(40),
        output_sha512_checksum: Some("b".repeat(128)),
        output_path: Some("/out/clip.mkv".into()),
        segment_converters: Vec::new(),
    }
}

#[tokio::test]
async fn on_done_gets_the_item_json_and_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("item.json");
    let env = dir.path().join("env.txt");
    let cmd = format!(
        "cat > '{}'; printf '%s %s %s' \"$DMC_ITEM_ID\" \"$DMC_STATUS\" \"$DMC_OUTPUT_PATH\" > '{}'",
        out.display(),
        env.display()
    );
    let it = item(Phase::Delivered);
    run_on_done(&cmd, &it, Duration::from_secs(20))
        .await
        .unwrap();
    let got: ItemView = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(got, it);
    assert_eq!(
        std::fs::read_to_string(&env).unwrap(),
        format!("{} finished_successful /out/clip.mkv", it.item_id)
    );
}

#[tokio::test]
async fn a_failing_or_slow_command_is_reported_not_fatal() {
    let it = item(Phase::Failed);
    let e = run_on_done("exit 3", &it, Duration::from_secs(20))
        .await
        .unwrap_err();
    assert!(matches!(e, OnDoneError::Failed { .. }), "{e}");
    // A command that ignores stdin and outlives its limit is killed, children included.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("survived");
    let cmd = format!("sleep 30 & wait; touch '{}'", marker.display());
    let e = run_on_done(&cmd, &it, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(e, OnDoneError::Timeout { .. }), "{e}");
    assert!(!marker.exists());
}

#[test]
fn no_desktop_without_a_session() {
    // The test environment may have a session; only the negative case is certain.
    if ["DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"]
        .iter()
        .all(|v| std::env::var_os(v).is_none())
    {
        assert_eq!(desktop_available(), None);
    }
}

#[tokio::test]
async fn the_announcer_runs_on_done_for_each_item_the_core_sends() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ended.txt");
    let cfg = NotifyConfig {
        on_done: Some(format!("echo \"$DMC_PHASE\" >> '{}'", log.display())),
        timeout: Duration::from_secs(20),
        desktop: false,
    };
    let ended = crate::core::ended_channel();
    let announcer = spawn_announcer(cfg, ended.subscribe());
    for phase in [Phase::Delivered, Phase::Failed] {
        ended
            .send(crate::core::ItemEnded { item: item(phase) })
            .unwrap();
    }
    // The core stopping closes the channel; the announcer ends.
    drop(ended);
    tokio::time::timeout(Duration::from_secs(20), announcer)
        .await
        .unwrap()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() == 2 || std::time::Instant::now() > deadline {
            lines.sort();
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(lines, ["delivered", "failed"]);
}

#[test]
fn a_desktop_notification_is_plain_text() {
    let mut it = item(Phase::Failed);
    it.file_name = "<i>evil</i>\x1b[31m\u{202e}.png".into();
    it.errors = vec!["ffmpeg said <b>no</b> & \x1b]0;title\x07".into()];
    let (title, body) = desktop::message(&it);
    assert_eq!(title, "dmc: <i>evil</i>\\x1b[31m\\u{202e}.png failed");
    assert_eq!(
        body,
        "ffmpeg said &lt;b&gt;no&lt;/b&gt; &amp; \\x1b]0;title\\x07"
    );
}
