//! The config check: the file loads and validates (`Config::load`), or the error that says
//! where and why it does not.

use std::path::Path;

use super::Check;
use crate::config::{Config, CONFIG_FILE_NAME};

/// Loads the configuration the node would use; returns it (the built-in defaults when it
/// does not load) and the check.
pub fn check(data_dir: &Path, explicit: Option<&Path>) -> (Config, Vec<Check>) {
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
            (c, vec![Check::ok("config", detail)])
        }
        Err(e) => (
            Config::default_for(data_dir),
            vec![Check::fail(
                "config",
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
        let (_, c) = check(dir.path(), None);
        assert_eq!(c[0].status, Status::Ok);
        assert!(c[0].detail.contains("built-in defaults"), "{:?}", c[0]);

        let file = dir.path().join(CONFIG_FILE_NAME);
        std::fs::write(&file, "[converter]\nworkers = 2\n").expect("write");
        let (cfg, c) = check(dir.path(), None);
        assert_eq!(c[0].status, Status::Ok);
        assert_eq!(cfg.converter.workers, 2);
        assert!(c[0].detail.contains("config.toml loads"), "{:?}", c[0]);

        std::fs::write(&file, "[converter]\nworkers = 0\n").expect("write");
        let (cfg, c) = check(dir.path(), None);
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].detail.contains("converter.workers"), "{:?}", c[0]);
        assert!(c[0].fix.as_deref().is_some_and(|f| f.contains("correct")));
        assert_eq!(cfg.converter.workers, 1, "falls back to the defaults");

        let (_, c) = check(dir.path(), Some(&dir.path().join("nope.toml")));
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0].detail.contains("does not exist"), "{:?}", c[0]);
    }
}
