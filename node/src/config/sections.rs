//! The loaded, validated configuration: [`Config`] and one struct per table of the file.

use std::path::PathBuf;

use dmc_protocol::engine::RecordBudget;
use dmc_protocol::{MediaType, NodeId};
use libp2p::Multiaddr;

use super::{builtin_profile, NotifyConfig, Profile, WatchConfig, BUILTIN_PROFILES};
use crate::ffmpeg::{SplitPolicy, TimeLimit, VerifyMode};

/// A loaded, validated configuration with every path resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The node's data directory (identity, database, work files).
    pub data_dir: PathBuf,
    /// The file the configuration was read from; `None` for built-in defaults.
    pub source: Option<PathBuf>,
    pub node: NodeConfig,
    pub discovery: DiscoveryConfig,
    pub converter: ConverterConfig,
    pub transfer: TransferConfig,
    pub network: NetworkConfig,
    /// `[[watch]]`: folders whose new media files this node offers.
    pub watch: Vec<WatchConfig>,
    /// `[notify]`: what runs when one of this node's items ends.
    pub notify: NotifyConfig,
    pub control: ControlConfig,
    /// `[gui]`: the web dashboard.
    pub gui: super::GuiConfig,
}

/// `[control]`: the local control socket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlConfig {
    /// A system group whose members may use the control socket (it is then mode 0660 and
    /// owned by that group); `None`: only the node's own user (mode 0600).
    pub group: Option<String>,
}

/// `[network]`: who may talk to this node besides holding the network key, and how much
/// one peer may make it store.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// When not empty, only these node ids (peer ids) may connect, even with the key.
    pub allowed_peers: Vec<NodeId>,
    /// New records (and their bytes) one peer may make this node store per minute.
    pub budget: RecordBudget,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            allowed_peers: Vec::new(),
            budget: RecordBudget {
                records: super::defaults::network::PEER_RECORDS_PER_MINUTE,
                bytes: super::defaults::network::PEER_BYTES_PER_MINUTE,
            },
        }
    }
}

/// `[transfer]`: how files move between nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferConfig {
    /// Most bytes per second this node pulls in one transfer; `None` = unlimited.
    pub max_rate: Option<u64>,
}

/// `[node]`
#[derive(Clone, Debug, PartialEq)]
pub struct NodeConfig {
    /// Human-readable name shown to peers (default: the host name).
    pub name: String,
    /// Addresses to listen on; TCP port 0 picks any free port.
    pub listen: Vec<Multiaddr>,
    /// Where results of this node's own offers land.
    pub output_dir: PathBuf,
    /// How long this node waits without word from the converter of one of its items before
    /// giving the item to another converter.
    pub lease: std::time::Duration,
    /// Failed conversion attempts (on converters) before one of this node's items fails.
    pub max_attempts: u32,
    /// Wait after a failed attempt before the next one; doubles with each failure.
    pub retry_backoff: std::time::Duration,
    /// How long after an item ended its records are kept before they are compacted.
    pub keep_finished: std::time::Duration,
}

/// `[discovery]`
#[derive(Clone, Debug, PartialEq)]
pub struct DiscoveryConfig {
    /// Whether to find peers by mDNS on the LAN.
    pub mdns: bool,
    /// Peers to dial at start and keep dialing.
    pub peers: Vec<Multiaddr>,
    /// Interfaces mDNS and the interface watcher use; empty = every multicast-capable one
    /// except loopback.
    pub interfaces: Vec<String>,
    /// Also use loopback interfaces, and dial loopback and link-local addresses found by
    /// mDNS (tests on one host).
    pub loopback: bool,
}

/// `[converter]`
#[derive(Clone, Debug, PartialEq)]
pub struct ConverterConfig {
    /// Whether this node converts for others.
    pub enabled: bool,
    /// Media types accepted (no duplicates).
    pub media_types: Vec<MediaType>,
    /// Concurrent conversions, 1 to [`MAX_WORKERS`](super::MAX_WORKERS).
    pub workers: u32,
    /// Where sources and outputs of conversions are kept while in progress.
    pub work_dir: PathBuf,
    /// Profiles offered (built-in or custom); empty means every profile the local ffmpeg can
    /// run.
    pub profiles: Vec<String>,
    /// ffmpeg `-threads` for the encoders; 0 leaves it to ffmpeg.
    pub threads: u32,
    /// How outputs are checked before they count.
    pub verify: VerifyMode,
    /// Whether an output larger than its source counts as a success.
    pub allow_larger: bool,
    /// Profiles defined in `[[converter.custom_profiles]]`. Built once at load and kept for the
    /// life of the process, like the built-in ones (`&'static`).
    pub custom_profiles: Vec<&'static Profile>,
    /// Free disk space to keep in `work_dir`, in bytes; jobs that would eat into it are refused.
    pub reserve_bytes: u64,
    /// How long a finished result waits for its origin to fetch it before it is deleted.
    pub retention: std::time::Duration,
    /// Nice value of ffmpeg (0 normal .. 19 lowest CPU priority).
    pub nice: u8,
    /// How long one conversion may run before it is stopped and the item failed.
    pub time_limit: TimeLimit,
    /// Which videos are converted in segments, and how long those are.
    pub split: SplitPolicy,
}

impl ConverterConfig {
    /// The profile called `name`: built in, or defined in this configuration.
    pub fn profile(&self, name: &str) -> Option<&'static Profile> {
        builtin_profile(name).or_else(|| {
            self.custom_profiles
                .iter()
                .copied()
                .find(|p| p.name == name)
        })
    }
}

/// The built-in profiles, then `custom`.
pub(super) fn known_profiles<'a>(
    custom: &'a [&'static Profile],
) -> impl Iterator<Item = &'static Profile> + 'a {
    BUILTIN_PROFILES.iter().chain(custom.iter().copied())
}
