//! `[gui]`: where the node serves its web dashboard (`dmc gui`) and where the dashboard's
//! uploads are stored. Whether a non-loopback address may be served (only with a password,
//! then over HTTPS) is decided at start, by `gui::expose`, since the password is in the data
//! dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::defaults::gui as defaults;
use super::error::{fault, Fault};
use super::paths::resolve_path;

/// `[gui]`
#[derive(Clone, Debug, PartialEq)]
pub struct GuiConfig {
    /// The address and TCP port of the dashboard; `None` (`listen = ""`): no dashboard.
    pub listen: Option<SocketAddr>,
    /// Where files uploaded through the dashboard are stored before they are offered.
    pub upload_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawGui {
    listen: String,
    upload_dir: String,
}

impl Default for RawGui {
    fn default() -> Self {
        RawGui {
            listen: defaults::LISTEN.to_string(),
            upload_dir: String::new(),
        }
    }
}

/// Validates `[gui]`: `listen` is empty (off) or `IP:PORT`;
/// `upload_dir` is a path (`""`: `<data_dir>/uploads`).
pub(super) fn resolve_gui(
    raw: RawGui,
    data_dir: &Path,
    home: Option<&Path>,
) -> Result<GuiConfig, Fault> {
    let upload_dir = if raw.upload_dir.is_empty() {
        data_dir.join(defaults::UPLOAD_DIR_IN_DATA_DIR)
    } else {
        resolve_path(&raw.upload_dir, data_dir, home)
            .map_err(|m| fault("gui.upload_dir", None, m))?
    };
    let listen = resolve_listen(&raw.listen)?;
    Ok(GuiConfig { listen, upload_dir })
}

/// `listen`: `None` when empty (no dashboard), else an `IP:PORT`.
fn resolve_listen(listen: &str) -> Result<Option<SocketAddr>, Fault> {
    let text = listen.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let addr: SocketAddr = text.parse().map_err(|_| {
        fault(
            "gui.listen",
            None,
            format!(
                "`{text}` is not an address and port such as \"{}\"; use \"\" to turn the \
                 dashboard off",
                defaults::LISTEN
            ),
        )
    })?;
    Ok(Some(addr))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn load(text: &str) -> Result<Config, String> {
        Config::from_toml(Path::new("/data"), text, None).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_turns_the_dashboard_off_and_loopback_addresses_are_taken() {
        assert_eq!(load("[gui]\nlisten = \"\"\n").unwrap().gui.listen, None);
        let c = load("[gui]\nlisten = \"127.0.0.1:0\"\n").unwrap();
        assert_eq!(c.gui.listen.unwrap().to_string(), "127.0.0.1:0");
        let c = load("[gui]\nlisten = \"[::1]:9000\"\n").unwrap();
        assert_eq!(c.gui.listen.unwrap().to_string(), "[::1]:9000");
    }

    #[test]
    fn upload_dir_is_in_the_data_dir_unless_given() {
        let c = load("").unwrap();
        assert_eq!(c.gui.upload_dir, Path::new("/data/uploads"));
        let c = load("[gui]\nupload_dir = \"in\"\n").unwrap();
        assert_eq!(c.gui.upload_dir, Path::new("/data/in"));
        let c = load("[gui]\nupload_dir = \"/srv/up\"\n").unwrap();
        assert_eq!(c.gui.upload_dir, Path::new("/srv/up"));
    }

    #[test]
    fn any_address_parses_the_start_decides_whether_it_may_be_served() {
        for addr in ["0.0.0.0:8747", "192.168.1.5:8747", "[::]:8747"] {
            let c = load(&format!("[gui]\nlisten = \"{addr}\"\n")).unwrap();
            assert_eq!(c.gui.listen.unwrap().to_string(), addr);
        }
    }

    #[test]
    fn a_malformed_address_is_refused() {
        for bad in ["localhost:8747", "127.0.0.1", "x"] {
            let err = load(&format!("[gui]\nlisten = \"{bad}\"\n")).unwrap_err();
            assert!(
                err.contains("gui.listen") && err.contains("not an address"),
                "{err}"
            );
        }
    }
}
