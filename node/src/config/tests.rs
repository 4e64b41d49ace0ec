//! Tests of loading, defaults and error locations of the configuration.

use std::path::{Path, PathBuf};

use dmc_protocol::MediaType;
use libp2p::Multiaddr;

use super::defaults::node::LISTEN as DEFAULT_LISTEN;
use super::paths::{home_dir, resolve_path};
use super::*;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn invalid(err: ConfigError) -> (Option<usize>, Option<String>, String) {
    match err {
        ConfigError::Invalid {
            line, key, message, ..
        } => (line, key, message),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn defaults_when_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(c, Config::default_for(dir.path()));
    assert_eq!(c.source, None);
    assert!(!c.node.name.is_empty());
    assert_eq!(
        c.node.listen,
        vec![DEFAULT_LISTEN.parse::<Multiaddr>().unwrap()]
    );
    if let Some(home) = home_dir() {
        assert_eq!(c.node.output_dir, home.join("dmc/converted"));
    }
    assert!(c.discovery.mdns);
    assert!(c.discovery.peers.is_empty());
    assert!(!c.converter.enabled);
    assert_eq!(c.converter.media_types, MediaType::ALL.to_vec());
    assert_eq!(c.converter.workers, 1);
    assert_eq!(c.converter.work_dir, dir.path().join("work"));
    assert!(c.converter.profiles.is_empty());
    assert_eq!(c.converter.reserve_bytes, 1 << 30);
}

#[test]
fn empty_file_gives_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), CONFIG_FILE_NAME, "");
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(c.source.as_deref(), Some(p.as_path()));
    assert_eq!(
        Config { source: None, ..c },
        Config::default_for(dir.path())
    );
}

#[test]
fn full_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
[node]
name = "laptop"
listen = ["/ip4/127.0.0.1/tcp/0", "/ip6/::1/tcp/4747"]
output_dir = "/srv/out"

[discovery]
mdns = false
peers = ["/ip4/127.0.0.1/tcp/4748"]

[converter]
enabled = true
media_types = ["video", "audio", "video"]
workers = 3
work_dir = "scratch"
profiles = ["opus", "mkv-x264"]
reserve_bytes = 5000
"#;
    let p = write(dir.path(), "custom.toml", text);
    let c = Config::load(dir.path(), Some(&p)).unwrap();
    assert_eq!(c.source, Some(p));
    assert_eq!(c.node.name, "laptop");
    assert_eq!(c.node.listen.len(), 2);
    assert_eq!(c.node.listen[0].to_string(), "/ip4/127.0.0.1/tcp/0");
    assert_eq!(c.node.output_dir, PathBuf::from("/srv/out"));
    assert!(!c.discovery.mdns);
    assert_eq!(c.discovery.peers[0].to_string(), "/ip4/127.0.0.1/tcp/4748");
    assert!(c.converter.enabled);
    assert_eq!(
        c.converter.media_types,
        vec![MediaType::Video, MediaType::Audio]
    );
    assert_eq!(c.converter.workers, 3);
    assert_eq!(c.converter.work_dir, dir.path().join("scratch"));
    assert_eq!(
        c.converter.profiles,
        vec!["opus".to_string(), "mkv-x264".to_string()]
    );
    assert_eq!(c.converter.reserve_bytes, 5000);
}

#[test]
fn explicit_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let err = Config::load(dir.path(), Some(&missing)).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { .. }));
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn unknown_key_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[node]\nname = \"a\"\n\n[converter]\nenabled = true\nworkerz = 2\n";
    let p = write(dir.path(), CONFIG_FILE_NAME, text);
    let err = Config::load(dir.path(), None).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}:6: key `converter.workerz`: ", p.display())),
        "{shown}"
    );
    assert!(shown.contains("workerz"), "{shown}");
    let (line, key, _) = invalid(err);
    assert_eq!(line, Some(6));
    assert_eq!(key.as_deref(), Some("converter.workerz"));
}

#[test]
fn unknown_section_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[node]\nname = \"a\"\n[convertor]\nenabled = true\n";
    write(dir.path(), CONFIG_FILE_NAME, text);
    let (line, key, _) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(3));
    assert_eq!(key.as_deref(), Some("convertor"));
}

#[test]
fn wrong_type_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[discovery]\nmdns = \"yes\"\n";
    write(dir.path(), CONFIG_FILE_NAME, text);
    let (line, key, _) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(2));
    assert_eq!(key.as_deref(), Some("discovery.mdns"));
}

#[test]
fn syntax_error_has_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[node]\nname = \"a\"\nlisten = [\n";
    write(dir.path(), CONFIG_FILE_NAME, text);
    let (line, _, _) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert!(line.is_some());
}

#[test]
fn bad_media_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[converter]\nmedia_types = [\"audio\", \"pdf\"]\n";
    write(dir.path(), CONFIG_FILE_NAME, text);
    let (line, key, message) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(2));
    assert_eq!(key.as_deref(), Some("converter.media_types"));
    assert!(message.contains("pdf"), "{message}");
}

#[test]
fn bad_multiaddr_names_element_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[node]\nlisten = [\n  \"/ip4/127.0.0.1/tcp/0\",\n  \"127.0.0.1:4747\",\n]\n";
    let p = write(dir.path(), "a.toml", text);
    let err = Config::load(dir.path(), Some(&p)).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("{}:4: key `node.listen`: ", p.display())),
        "{shown}"
    );
    assert!(shown.contains("127.0.0.1:4747"), "{shown}");
}

#[test]
fn multiaddr_without_tcp_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[discovery]\npeers = [\"/ip4/127.0.0.1/udp/4747\"]\n";
    write(dir.path(), CONFIG_FILE_NAME, text);
    let (line, key, message) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(2));
    assert_eq!(key.as_deref(), Some("discovery.peers"));
    assert!(message.contains("tcp"), "{message}");
}

#[test]
fn zero_workers_is_refused_with_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "# comment\n[node]\nname = \"x\"\n\n[converter]\nenabled = true\nworkers = 0\n";
    let p = write(dir.path(), "a.toml", text);
    let err = Config::load(dir.path(), Some(&p)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:7: key `converter.workers`: must be at least 1",
            p.display()
        )
    );
}

#[test]
fn negative_workers_is_refused_with_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), CONFIG_FILE_NAME, "[converter]\nworkers = -2\n");
    let (line, key, _) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(2));
    assert_eq!(key.as_deref(), Some("converter.workers"));
}

#[test]
fn unknown_profile_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        CONFIG_FILE_NAME,
        "[converter]\nprofiles = [\"opus\",\n \"gif\"]\n",
    );
    let (line, key, message) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(3));
    assert_eq!(key.as_deref(), Some("converter.profiles"));
    assert!(
        message.contains("gif") && message.contains("opus"),
        "{message}"
    );
}

#[test]
fn empty_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), CONFIG_FILE_NAME, "[node]\nname = \"  \"\n");
    let (line, key, _) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!((line, key.as_deref()), (Some(2), Some("node.name")));
}

#[test]
fn tilde_expansion() {
    let home = Path::new("/home/u");
    let base = Path::new("/data");
    assert_eq!(
        resolve_path("~", base, Some(home)).unwrap(),
        PathBuf::from("/home/u")
    );
    assert_eq!(
        resolve_path("~/dmc/out", base, Some(home)).unwrap(),
        PathBuf::from("/home/u/dmc/out")
    );
    assert_eq!(
        resolve_path("/abs", base, Some(home)).unwrap(),
        PathBuf::from("/abs")
    );
    assert_eq!(
        resolve_path("rel/x", base, Some(home)).unwrap(),
        PathBuf::from("/data/rel/x")
    );
    assert!(resolve_path("~/x", base, None)
        .unwrap_err()
        .contains("HOME"));
    assert!(resolve_path("~bob/x", base, Some(home)).is_err());
}

#[test]
fn tilde_in_file_uses_home() {
    let Some(home) = home_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        CONFIG_FILE_NAME,
        "[node]\noutput_dir = \"~/out\"\n[converter]\nwork_dir = \"~/w\"\n",
    );
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(c.node.output_dir, home.join("out"));
    assert_eq!(c.converter.work_dir, home.join("w"));
}

#[test]
fn transfer_rate_parses_units_and_refuses_nonsense() {
    use crate::config::parse_rate;
    assert_eq!(parse_rate("unlimited"), Ok(None));
    assert_eq!(parse_rate("0"), Ok(None));
    assert_eq!(parse_rate("2MiB"), Ok(Some(2 << 20)));
    assert_eq!(parse_rate("500KiB"), Ok(Some(500 << 10)));
    assert_eq!(parse_rate("1000"), Ok(Some(1000)));
    assert!(parse_rate("fast").is_err());
    assert!(parse_rate("2 parsecs").is_err());
    let dir = std::path::Path::new("/tmp/d");
    let err = crate::config::Config::from_toml(
        dir,
        "[transfer]\nmax_rate = \"2Mb\"\n",
        Some(std::path::Path::new("/x.toml")),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("/x.toml:2: key `transfer.max_rate`"),
        "{err}"
    );
    let ok =
        crate::config::Config::from_toml(dir, "[transfer]\nmax_rate = \"2MiB\"\n", None).unwrap();
    assert_eq!(ok.transfer.max_rate, Some(2 << 20));
}

#[test]
fn discovery_interfaces_and_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[discovery]\ninterfaces = [\"eth0\", \"veth1\", \"eth0\"]\nloopback = true\n";
    write(dir.path(), CONFIG_FILE_NAME, text);
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(c.discovery.interfaces, vec!["eth0", "veth1"]);
    assert!(c.discovery.loopback);
    let d = Config::default_for(dir.path());
    assert!(d.discovery.interfaces.is_empty());
    assert!(!d.discovery.loopback);
}

#[test]
fn bad_interface_name_names_element_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[discovery]\ninterfaces = [\n  \"eth0\",\n  \"a/b\",\n]\n";
    write(dir.path(), CONFIG_FILE_NAME, text);
    let (line, key, message) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(4));
    assert_eq!(key.as_deref(), Some("discovery.interfaces"));
    assert!(message.contains("a/b"), "{message}");
}

#[test]
fn retry_settings_default_and_parse() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(c.node.max_attempts, 3);
    assert_eq!(c.node.retry_backoff, std::time::Duration::from_secs(30));
    write(
        dir.path(),
        CONFIG_FILE_NAME,
        "[node]\nmax_attempts = 5\nretry_backoff = \"2m\"\n",
    );
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(c.node.max_attempts, 5);
    assert_eq!(c.node.retry_backoff, std::time::Duration::from_secs(120));
}

#[test]
fn max_attempts_out_of_range_is_refused_with_line() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "101", "-1"] {
        write(
            dir.path(),
            CONFIG_FILE_NAME,
            &format!("[node]\nname = \"x\"\nmax_attempts = {bad}\n"),
        );
        let (line, key, message) = invalid(Config::load(dir.path(), None).unwrap_err());
        assert_eq!(line, Some(3), "{bad}");
        assert_eq!(key.as_deref(), Some("node.max_attempts"));
        assert_eq!(message, "must be between 1 and 100");
    }
}

#[test]
fn bad_retry_backoff_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        CONFIG_FILE_NAME,
        "[node]\nretry_backoff = \"soon\"\n",
    );
    let (line, key, message) = invalid(Config::load(dir.path(), None).unwrap_err());
    assert_eq!(line, Some(2));
    assert_eq!(key.as_deref(), Some("node.retry_backoff"));
    assert!(message.contains("not a duration"), "{message}");
}

const FLAC: &str = r#"[converter]
threads = 1
verify = "decode"
allow_larger = true
profiles = ["flac", "opus"]

[[converter.custom_profiles]]
name = "flac"
media_types = ["audio"]
encoder = "flac"
args = ["-map", "0:a:0", "-vn", "-c:a", "flac"]
extension = "flac"
codec = "flac"
container = "flac"
"#;

#[test]
fn verification_threads_and_custom_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::from_toml(dir.path(), FLAC, None).unwrap();
    assert_eq!(c.converter.threads, 1);
    assert_eq!(c.converter.verify, VerifyMode::Decode);
    assert!(c.converter.allow_larger);
    assert_eq!(c.converter.profiles, vec!["flac", "opus"]);
    let flac = c.converter.profile("flac").unwrap();
    assert_eq!(flac.media_types, &[MediaType::Audio]);
    assert_eq!(flac.muxer, "flac");
    assert_eq!(flac.expect_audio_codec, Some("flac"));
    assert_eq!(flac.expect_video_codec, None);
    assert!(flac.check_duration);
    assert_eq!(c.converter.profile("mkv-av1").unwrap().encoder, "libsvtav1");
    assert!(c.converter.profile("gif").is_none());

    let d = Config::default_for(dir.path());
    assert_eq!(d.converter.threads, 0);
    assert_eq!(d.converter.verify, VerifyMode::Probe);
    assert!(!d.converter.allow_larger);
    assert!(d.converter.custom_profiles.is_empty());
}

#[test]
fn bad_verification_keys_are_refused_with_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key, line, needle) in [
        (
            "[converter]\n\nverify = \"full\"\n",
            "converter.verify",
            3,
            "unknown verify mode `full`",
        ),
        (
            "[converter]\nthreads = 999\n",
            "converter.threads",
            2,
            "at most 256",
        ),
        (
            "[converter]\nallow_larger = \"yes\"\n",
            "converter.allow_larger",
            2,
            "bool",
        ),
    ] {
        let (l, k, message) = invalid(Config::from_toml(dir.path(), text, None).unwrap_err());
        assert_eq!(k.as_deref(), Some(key), "{text}");
        assert_eq!(l, Some(line), "{text}");
        assert!(message.contains(needle), "{text}: {message}");
    }
}

#[test]
fn bad_custom_profiles_name_the_table_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 9] = [
        (
            "name = \"flac\"",
            "name = \"opus\"",
            "is a built-in profile",
        ),
        (
            "name = \"flac\"",
            "name = \"fl ac\"",
            "is not a profile name",
        ),
        (
            "media_types = [\"audio\"]",
            "media_types = []",
            "needs at least one",
        ),
        (
            "encoder = \"flac\"",
            "encoder = \"fl;ac\"",
            "encoder `fl;ac`",
        ),
        (
            "extension = \"flac\"",
            "extension = \".flac\"",
            "without the dot",
        ),
        (
            "args = [\"-map\", \"0:a:0\", \"-vn\", \"-c:a\", \"flac\"]",
            "args = [\"-c:a\", \"flac\", \"-f\", \"wav\"]",
            "`-f` is set by dmc",
        ),
        (
            "args = [\"-map\", \"0:a:0\", \"-vn\", \"-c:a\", \"flac\"]",
            "args = [\"-vn\"]",
            "never select the encoder `flac`",
        ),
        (
            "args = [\"-map\", \"0:a:0\", \"-vn\", \"-c:a\", \"flac\"]",
            "args = []",
            "args needs 1 to",
        ),
        ("container = \"flac\"", "container = \"\"", "container ``"),
    ];
    for (from, to, needle) in cases {
        let text = FLAC.replace(from, to);
        assert_ne!(text, FLAC);
        let (line, key, message) = invalid(Config::from_toml(dir.path(), &text, None).unwrap_err());
        assert_eq!(key.as_deref(), Some("converter.custom_profiles"), "{to}");
        assert!(message.contains(needle), "{to}: {message}");
        // The `[[converter.custom_profiles]]` header or a line of that table.
        assert!(
            line.is_some_and(|l| (7..=15).contains(&l)),
            "{to}: {line:?}"
        );
    }

    // Two tables with one name: the second is at fault.
    let twice = format!("{FLAC}\n{}", &FLAC[FLAC.find("[[").unwrap()..]);
    let (line, _, message) = invalid(Config::from_toml(dir.path(), &twice, None).unwrap_err());
    assert!(message.contains("defined twice"), "{message}");
    assert!(line.is_some_and(|l| l > 15), "{line:?}");

    // A missing field and an unknown one are named by serde.
    let missing = FLAC.replace("codec = \"flac\"\n", "");
    let (_, _, message) = invalid(Config::from_toml(dir.path(), &missing, None).unwrap_err());
    assert!(message.contains("codec"), "{message}");
    let unknown = FLAC.replace("codec = \"flac\"", "codek = \"flac\"");
    let (line, key, message) = invalid(Config::from_toml(dir.path(), &unknown, None).unwrap_err());
    assert_eq!(line, Some(13), "{key:?}");
    assert!(message.contains("unknown field `codek`"), "{message}");

    // `profiles` may name custom profiles, not unknown ones.
    let unknown = FLAC.replace("[\"flac\", \"opus\"]", "[\"flac\", \"wav\"]");
    let (_, key, message) = invalid(Config::from_toml(dir.path(), &unknown, None).unwrap_err());
    assert_eq!(key.as_deref(), Some("converter.profiles"));
    assert!(
        message.contains("wav") && message.contains("flac"),
        "{message}"
    );
}

#[test]
fn ffmpeg_priority_time_limits_and_control_group() {
    let dir = tempfile::tempdir().unwrap();
    let d = Config::from_toml(dir.path(), "", None).unwrap();
    assert_eq!(d.converter.nice, 10);
    assert_eq!(d.converter.time_limit, defaults::converter::TIME_LIMIT);
    assert_eq!(d.converter.time_limit.factor, 20);
    assert_eq!(
        d.converter.time_limit.min,
        std::time::Duration::from_secs(600)
    );
    assert_eq!(
        d.converter.time_limit.unknown,
        std::time::Duration::from_secs(6 * 3600)
    );
    assert_eq!(d.control.group, None);
    assert_eq!(Config::default_for(dir.path()).converter.nice, 10);

    let text = "[converter]\nnice = 0\ntime_limit_factor = 3\ntime_limit_min = \"90s\"\n\
                time_limit_unknown = \"2h\"\n[control]\ngroup = \"dmc-users\"\n";
    let c = Config::from_toml(dir.path(), text, None).unwrap();
    assert_eq!(c.converter.nice, 0);
    assert_eq!(
        c.converter.time_limit,
        crate::ffmpeg::TimeLimit {
            factor: 3,
            min: std::time::Duration::from_secs(90),
            unknown: std::time::Duration::from_secs(7200),
        }
    );
    assert_eq!(c.control.group.as_deref(), Some("dmc-users"));
}

#[test]
fn bad_priority_time_limit_and_group_keys_are_refused_with_line() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key, line, needle) in [
        (
            "[converter]\nnice = 20\n",
            "converter.nice",
            2,
            "between 0 (normal CPU priority) and 19",
        ),
        ("[converter]\nnice = -5\n", "converter.nice", 2, "not -5"),
        (
            "[converter]\n\ntime_limit_factor = 0\n",
            "converter.time_limit_factor",
            3,
            "between 1 and 10000",
        ),
        (
            "[converter]\ntime_limit_min = \"500ms\"\n",
            "converter.time_limit_min",
            2,
            "at least 1s",
        ),
        (
            "[converter]\ntime_limit_unknown = \"forever\"\n",
            "converter.time_limit_unknown",
            2,
            "not a duration",
        ),
        (
            "[control]\ngroup = \"\"\n",
            "control.group",
            2,
            "is not a group name",
        ),
        (
            "[control]\ngroup = \"-x\"\n",
            "control.group",
            2,
            "not starting with `-`",
        ),
    ] {
        let (l, k, message) = invalid(Config::from_toml(dir.path(), text, None).unwrap_err());
        assert_eq!(k.as_deref(), Some(key), "{text}");
        assert_eq!(l, Some(line), "{text}");
        assert!(message.contains(needle), "{text}: {message}");
    }
}

#[test]
fn peer_budgets_default_parse_and_refuse_too_small() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(c.network.budget.records, 10_000);
    assert_eq!(c.network.budget.bytes, 8 << 20);
    write(
        dir.path(),
        CONFIG_FILE_NAME,
        "[network]\npeer_records_per_minute = 500\npeer_bytes_per_minute = 2097152\n",
    );
    let c = Config::load(dir.path(), None).unwrap();
    assert_eq!(
        (c.network.budget.records, c.network.budget.bytes),
        (500, 2 << 20)
    );
    for (key, bad) in [
        ("peer_records_per_minute", "99"),
        ("peer_records_per_minute", "-1"),
        ("peer_bytes_per_minute", "1000"),
    ] {
        write(
            dir.path(),
            CONFIG_FILE_NAME,
            &format!("[network]\n{key} = {bad}\n"),
        );
        let (_, got, message) = invalid(Config::load(dir.path(), None).unwrap_err());
        assert_eq!(got.as_deref(), Some(format!("network.{key}").as_str()));
        assert!(message.starts_with("must be"), "{message}");
    }
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Two values of the wrong type and an unknown key, in two tables.
    let text = "[node]\nname = 5\nlease = \"2m\"\n\n[converter]\nworkerz = 2\nthreads = \"x\"\n";
    let err = Config::from_toml(dir.path(), text, None).unwrap_err();
    let ConfigError::Several { problems } = &err else {
        panic!("expected several problems, got {err:?}");
    };
    let found: Vec<(Option<usize>, Option<String>)> = problems
        .iter()
        .map(|p| match p {
            ConfigError::Invalid { line, key, .. } => (*line, key.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    for want in [
        (Some(2), Some("node.name".to_string())),
        (Some(6), Some("converter.workerz".to_string())),
        (Some(7), Some("converter.threads".to_string())),
    ] {
        assert!(found.contains(&want), "{want:?} not in {found:?}\n{err}");
    }
    assert!(
        err.to_string()
            .starts_with("3 problems in the configuration:\n  "),
        "{err}"
    );

    // Problems of meaning too: one in each table.
    let text = "[converter]\nworkers = 0\n\n[transfer]\nmax_rate = \"fast\"\n";
    let err = Config::from_toml(dir.path(), text, None).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(":2: key `converter.workers`"), "{msg}");
    assert!(msg.contains(":5: key `transfer.max_rate`"), "{msg}");

    // Syntax errors: every one.
    let err = Config::from_toml(dir.path(), "[node\nname = \"a\"\nx = = 1\n", None).unwrap_err();
    assert!(matches!(err, ConfigError::Several { .. }), "{err}");
}

#[test]
fn split_keys_default_parse_and_refuse_bad_values() {
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let d = Config::from_toml(dir.path(), "", None).unwrap();
    assert_eq!(d.converter.split, defaults::converter::SPLIT);
    let text = "[converter]\nsplit_min = \"10s\"\nsegment = \"4s\"\n";
    let c = Config::from_toml(dir.path(), text, None).unwrap();
    assert_eq!(c.converter.split.split_min, Duration::from_secs(10));
    assert_eq!(c.converter.split.segment, Duration::from_secs(4));
    for (text, key, needle) in [
        (
            "[converter]\nsegment = \"0s\"\n",
            "converter.segment",
            "between 1s and 1h",
        ),
        (
            "[converter]\nsegment = \"2h\"\n",
            "converter.segment",
            "between 1s and 1h",
        ),
        (
            "[converter]\nsegment = \"soon\"\n",
            "converter.segment",
            "not a duration",
        ),
        (
            "[converter]\nsplit_min = \"30s\"\n",
            "converter.split_min",
            "at least `segment` (1m)",
        ),
    ] {
        let (_, k, message) = invalid(Config::from_toml(dir.path(), text, None).unwrap_err());
        assert_eq!(k.as_deref(), Some(key), "{text}");
        assert!(message.contains(needle), "{text}: {message}");
    }
}
