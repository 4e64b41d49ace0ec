//! From the file as written to a [`Config`]: each table validated by its own module, with
//! every path resolved.

use std::path::Path;

use super::control::group_name;
use super::converter::{known_names, resolve_converter};
use super::discovery::resolve_discovery;
use super::error::{fault, Fault};
use super::network::{allowed_peers, budget};
use super::node::resolve_node;
use super::raw::RawConfig;
use super::transfer::parse_rate;
use super::{notify, watch};
use super::{Config, ControlConfig, NetworkConfig, TransferConfig};

/// Validates `raw` (read from `file`, `None` for the defaults).
pub(super) fn resolve(
    raw: RawConfig,
    data_dir: &Path,
    file: Option<&Path>,
    home: Option<&Path>,
) -> Result<Config, Fault> {
    let node = resolve_node(raw.node, data_dir, home)?;
    let discovery = resolve_discovery(raw.discovery)?;
    let converter = resolve_converter(raw.converter, data_dir, home)?;
    let max_rate =
        parse_rate(&raw.transfer.max_rate).map_err(|m| fault("transfer.max_rate", None, m))?;
    let network = NetworkConfig {
        allowed_peers: allowed_peers(&raw.network.allowed_peers)?,
        budget: budget(&raw.network)?,
    };
    let watch = watch::resolve_watches(
        raw.watch,
        data_dir,
        home,
        |name| converter.profile(name),
        &known_names(&converter.custom_profiles),
    )?;
    let notify = notify::resolve_notify(raw.notify)?;
    let control = ControlConfig {
        group: raw.control.group.map(group_name).transpose()?,
    };
    Ok(Config {
        data_dir: data_dir.to_path_buf(),
        source: file.map(Path::to_path_buf),
        node,
        discovery,
        converter,
        transfer: TransferConfig { max_rate },
        network,
        watch,
        notify,
        control,
    })
}
