//! `GET /v1/config`: the configuration the running node loaded and runs with, so `dmc doctor`
//! checks that one and not whatever file it would find itself.

use serde::{Deserialize, Serialize};

use crate::config::Config;

/// The file a running node loaded and the values it runs with that `dmc doctor` checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The file read at start (`--config FILE` or `<data_dir>/config.toml`); `None`: the
    /// node started without one, on the built-in defaults.
    pub file: Option<String>,
    pub data_dir: String,
    /// Fingerprint of the network key the node started with (a key joined since then is used
    /// only after a restart).
    pub network_fingerprint: String,
    pub output_dir: String,
    pub converter: bool,
    pub work_dir: String,
    pub mdns: bool,
    pub interfaces: Vec<String>,
    pub loopback: bool,
    /// `[control] group`.
    pub control_group: Option<String>,
}

impl ConfigView {
    /// The view of `config`, run with the network key of fingerprint `network_fingerprint`.
    pub fn of(config: &Config, network_fingerprint: String) -> ConfigView {
        let text = |p: &std::path::Path| p.display().to_string();
        ConfigView {
            file: config.source.as_deref().map(text),
            data_dir: text(&config.data_dir),
            network_fingerprint,
            output_dir: text(&config.node.output_dir),
            converter: config.converter.enabled,
            work_dir: text(&config.converter.work_dir),
            mdns: config.discovery.mdns,
            interfaces: config.discovery.interfaces.clone(),
            loopback: config.discovery.loopback,
            control_group: config.control.group.clone(),
        }
    }

    /// `config` with the values of this view laid over it: what the running node uses.
    pub fn apply(&self, config: &mut Config) {
        config.data_dir = self.data_dir.clone().into();
        config.source = self.file.clone().map(Into::into);
        config.node.output_dir = self.output_dir.clone().into();
        config.converter.enabled = self.converter;
        config.converter.work_dir = self.work_dir.clone().into();
        config.discovery.mdns = self.mdns;
        config.discovery.interfaces = self.interfaces.clone();
        config.discovery.loopback = self.loopback;
        config.control.group = self.control_group.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_laid_over_the_defaults_gives_the_config_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "[node]\noutput_dir = \"/srv/out\"\n[discovery]\nmdns = false\n\
                    [converter]\nenabled = true\nwork_dir = \"/srv/work\"\n";
        let file = dir.path().join("a.toml");
        let config = Config::from_toml(dir.path(), text, Some(&file)).expect("config");
        let view = ConfigView::of(&config, "00ff".into());
        assert_eq!(view.file.as_deref(), Some(file.to_str().expect("utf-8")));
        let mut other = Config::default_for(dir.path());
        view.apply(&mut other);
        assert_eq!(ConfigView::of(&other, "00ff".into()), view);
        assert_eq!(other.node.output_dir, std::path::Path::new("/srv/out"));
    }
}
