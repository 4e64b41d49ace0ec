//! The start-up rule of who the dashboard faces: on a loopback address it is served over
//! plain HTTP (only this machine reaches it); on any other address the node starts only when
//! a password is set (`dmc gui set-password`) and then serves HTTPS with the certificate in
//! the data dir. Checked on the configured address, before anything is bound.

use std::net::SocketAddr;
use std::path::Path;

use super::password::{self, PasswordError};
use super::tls::{self, TlsError, TlsIdentity};
use crate::config::GuiConfig;

/// How the dashboard is served.
#[derive(Clone)]
pub struct Exposure {
    pub listen: SocketAddr,
    /// `Some` on a non-loopback address: HTTPS with this certificate.
    pub tls: Option<TlsIdentity>,
}

/// Why the node does not start with this `[gui] listen`.
#[derive(Debug, thiserror::Error)]
pub enum ExposureError {
    #[error(
        "[gui] listen = \"{0}\" is not a loopback address, and the dashboard faces other \
         machines only with a password: set one with `dmc gui set-password` (it is kept as an \
         argon2id hash in the data dir) and start the node again, which then serves the \
         dashboard over HTTPS; or set [gui] listen to \"127.0.0.1:8747\" and reach it over SSH \
         (`ssh -L 8747:127.0.0.1:8747 HOST`)"
    )]
    NoPassword(SocketAddr),
    #[error("[gui] listen = \"{listen}\" needs the dashboard's password: {source}")]
    Password {
        listen: SocketAddr,
        #[source]
        source: PasswordError,
    },
    #[error("[gui] listen = \"{listen}\" is served over HTTPS: {source}")]
    Tls {
        listen: SocketAddr,
        #[source]
        source: TlsError,
    },
}

/// How `[gui]` is to be served; `None` when the dashboard is off.
pub fn prepare(gui: &GuiConfig, data_dir: &Path) -> Result<Option<Exposure>, ExposureError> {
    let Some(listen) = gui.listen else {
        return Ok(None);
    };
    if listen.ip().is_loopback() {
        return Ok(Some(Exposure { listen, tls: None }));
    }
    match password::load(data_dir) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(ExposureError::NoPassword(listen)),
        Err(source) => return Err(ExposureError::Password { listen, source }),
    }
    let identity = tls::load_or_create(data_dir, names_for(listen))
        .map_err(|source| ExposureError::Tls { listen, source })?;
    Ok(Some(Exposure {
        listen,
        tls: Some(identity),
    }))
}

/// The names a new certificate is made for: `localhost`, this machine's host name (also with
/// `.local`), and the listen address, or when it is every address, the addresses the machine
/// has now (they are not updated later; the host names stay right).
fn names_for(listen: SocketAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Some(host) = host_name() {
        names.push(format!("{host}.local"));
        names.push(host);
    }
    if listen.ip().is_unspecified() {
        let addrs = if_addrs::get_if_addrs().unwrap_or_default();
        names.extend(addrs.iter().map(|a| a.ip().to_string()));
    } else {
        names.push(listen.ip().to_string());
    }
    names.sort();
    names.dedup();
    names
}

fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    let plain = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    plain.then(|| name.to_string())
}
