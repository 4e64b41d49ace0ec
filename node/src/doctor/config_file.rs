//! The config check: the file the running node loaded (asked over the control socket), or,
//! with no node running, the one `dmc node` would load; it loads and validates
//! (`Config::load`), or the error says where and why it does not.

use std::path::Path;

use super::Check;
use crate::config::{Config, CONFIG_FILE_NAME};
use crate::control::api::ConfigView;

const NAME: &str = "config";

/// The configuration to check and the checks about it: the running node's (`running`, its
/// values laid over its file) unless `explicit` (`--config FILE`) names another file.
pub fn check(
    data_dir: &Path,
    explicit: Option<&Path>,
    running: Option<&ConfigView>,
) -> (Config, Vec<Check>) {
    let Some(view) = running else {
        return check_file(data_dir, explicit);
    };
    let node_file = view.file.as_deref().map(Path::new);
    match explicit {
        Some(file) if Some(file) != node_file => {
            let (config, mut checks) = check_file(data_dir, explicit);
            let uses = node_file.map_or_else(
                || "the built-in defaults (it started without a config file)".to_string(),
                |f| f.display().to_string(),
            );
            checks.push(Check::warn(
                "config: running node",
                format!("the running node uses {uses}, not {}", file.display()),
                format!(
                    "run dmc doctor without --config to check the node's own, or restart the \
                     node with --config {} to use this one",
                    file.display()
                ),
            ));
            (config, checks)
        }
        _ => check_running(data_dir, view),
    }
}

/// The running node's configuration: the file it loaded, read again, with the values it
/// reports laid over it.
fn check_running(data_dir: &Path, view: &ConfigView) -> (Config, Vec<Check>) {
    let Some(file) = view.file.as_deref().map(Path::new) else {
        let mut config = Config::default_for(data_dir);
        view.apply(&mut config);
        let late = data_dir.join(CONFIG_FILE_NAME);
        let check = if late.exists() {
            Check::warn(
                NAME,
                format!(
                    "the running node started without a config file, on the built-in \
                     defaults; {} was made since",
                    late.display()
                ),
                "restart the node to use it",
            )
        } else {
            Check::ok(
                NAME,
                format!(
                    "the running node uses the built-in defaults: it started without a \
                     config file (none in {})",
                    data_dir.display()
                ),
            )
        };
        return (config, vec![check]);
    };
    let (mut config, check) = match Config::load(data_dir, Some(file)) {
        Ok(c) => {
            let detail = format!(
                "{} loads (the file the running node loaded)",
                file.display()
            );
            (c, Check::ok(NAME, detail))
        }
        Err(e) => (
            Config::default_for(data_dir),
            Check::warn(
                NAME,
                format!(
                    "the running node loaded {}, which now fails: {e}",
                    file.display()
                ),
                "correct the file as the message says: the node runs on what it loaded at \
                 start and will not start again until the file loads",
            ),
        ),
    };
    view.apply(&mut config);
    (config, vec![check])
}

/// Loads the configuration `dmc node` would use; returns it (the built-in defaults when it
/// does not load) and the check.
fn check_file(data_dir: &Path, explicit: Option<&Path>) -> (Config, Vec<Check>) {
    match Config::load(data_dir, explicit) {
        Ok(c) => {
            let detail = match &c.source {
                Some(p) => format!("{} loads", p.display()),
                None => format!(
                    "no {} in {}: the built-in defaults are used",
                    CONFIG_FILE_NAME,
                    data_dir.display()
                ),
            };
            (c, vec![Check::ok(NAME, detail)])
        }
        Err(e) => (
            Config::default_for(data_dir),
            vec![Check::fail(
                NAME,
                e.to_string(),
                "correct the file as the message says (docs/configuration.md lists every \
                 key); the node refuses to start until it loads. The checks below use the \
                 built-in defaults",
            )],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn defaults_file_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, c) = check(dir.path(), None, None);
        assert_eq!(c[0].status, Status::Ok);
        assert!(c[0].detail.contains("built-in defaults"), "{:?}", c[0]);

        let file = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(&file, "[converter]\nworkers = 2\n").expect("write");
        let (cfg, c) = check(dir.path(), None, None);
        assert_eq!(c[0].status, Status::Ok);
        assert_eq!(cfg.converter.workers, 2);
        assert!(c[0].detail.contains("config.toml loads"), "{:?}", c[0]);

        std::fs::write(&file, "[converter]\nworkers = 0\n").expect("write");
        let (cfg, c) = check(dir.path(), None, None);
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].detail.contains("converter.workers"), "{:?}", c[0]);
        assert!(c[0].fix.as_deref().is_some_and(|f| f.contains("correct")));
        assert_eq!(cfg.converter.workers, 1, "falls back to the defaults");

        let (_, c) = check(dir.path(), Some(&dir.path().join("nope.toml")), None);
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].detail.contains("does not exist"), "{:?}", c[0]);
    }

    #[test]
    fn a_running_node_is_checked_with_the_file_and_values_it_runs_with() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.toml");
        let text = "[discovery]\nmdns = false\n[converter]\nworkers = 3\n";
        std::fs::write(&file, text).expect("write");
        let started = Config::from_toml(dir.path(), text, Some(&file)).expect("config");
        let view = ConfigView::of(&started, "ff".into());
        let (cfg, c) = check(dir.path(), None, Some(&view));
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
        assert!(
            c[0].detail
                .contains("a.toml loads (the file the running node"),
            "{c:?}"
        );
        assert_eq!(cfg.converter.workers, 3, "read from the node's file");
        assert!(!cfg.discovery.mdns, "the node's values");

        // `--config` naming another file checks it, and says the node uses another.
        let other = dir.path().join("b.toml");
        std::fs::write(&other, "").expect("write");
        let (_, c) = check(dir.path(), Some(&other), Some(&view));
        assert!(c[1].detail.contains("a.toml, not "), "{c:?}");

        // A node on the defaults; a config.toml made since it started asks for a restart.
        let defaults = ConfigView::of(&Config::default_for(dir.path()), "ff".into());
        let (_, c) = check(dir.path(), None, Some(&defaults));
        assert_eq!(c[0].status, Status::Ok, "{c:?}");
        std::fs::write(dir.path().join(CONFIG_FILE_NAME), "").expect("write");
        let (_, c) = check(dir.path(), None, Some(&defaults));
        assert_eq!(c[0].status, Status::Warn, "{c:?}");
        assert_eq!(c[0].fix.as_deref(), Some("restart the node to use it"));
    }
}
