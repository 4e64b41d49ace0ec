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

/// Validates `raw` (read from `file`, `None` for the defaults): every table's problems at
/// once (the first of each).
pub(super) fn resolve(
    raw: RawConfig,
    data_dir: &Path,
    file: Option<&Path>,
    home: Option<&Path>,
) -> Result<Config, Vec<Fault>> {
    let mut faults = Vec::new();
    let node = ok(&mut faults, resolve_node(raw.node, data_dir, home));
    let discovery = ok(&mut faults, resolve_discovery(raw.discovery));
    let converter = ok(
        &mut faults,
        resolve_converter(raw.converter, data_dir, home),
    );
    let max_rate = ok(
        &mut faults,
        parse_rate(&raw.transfer.max_rate).map_err(|m| fault("transfer.max_rate", None, m)),
    );
    let allowed_peers = ok(&mut faults, allowed_peers(&raw.network.allowed_peers));
    let budget = ok(&mut faults, budget(&raw.network));
    // Watch entries name profiles: checked against the converter's, once those are known.
    let watch = converter.as_ref().and_then(|converter| {
        ok(
            &mut faults,
            watch::resolve_watches(
                raw.watch,
                data_dir,
                home,
                |name| converter.profile(name),
                &known_names(&converter.custom_profiles),
            ),
        )
    });
    let notify = ok(&mut faults, notify::resolve_notify(raw.notify));
    let group = ok(&mut faults, raw.control.group.map(group_name).transpose());
    let gui = ok(
        &mut faults,
        super::gui::resolve_gui(raw.gui, data_dir, home),
    );
    let (
        Some(node),
        Some(discovery),
        Some(converter),
        Some(max_rate),
        Some(allowed_peers),
        Some(budget),
        Some(watch),
        Some(notify),
        Some(group),
        Some(gui),
    ) = (
        node,
        discovery,
        converter,
        max_rate,
        allowed_peers,
        budget,
        watch,
        notify,
        group,
        gui,
    )
    else {
        return Err(faults);
    };
    Ok(Config {
        data_dir: data_dir.to_path_buf(),
        source: file.map(Path::to_path_buf),
        node,
        discovery,
        converter,
        transfer: TransferConfig { max_rate },
        network: NetworkConfig {
            allowed_peers,
            budget,
        },
        watch,
        notify,
        control: ControlConfig { group },
        gui,
    })
}

/// The value, or `None` with its fault kept.
fn ok<T>(faults: &mut Vec<Fault>, r: Result<T, Fault>) -> Option<T> {
    r.map_err(|f| faults.push(f)).ok()
}
