//! The node's configuration: a TOML file (every key optional), its defaults, validation, and
//! errors that name the file, line and key at fault.

mod duration;
mod notify;
mod span;
mod watch;

pub use duration::{format_duration, parse_duration};
pub use notify::NotifyConfig;
pub use watch::{AfterDelivery, WatchConfig};

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::ffmpeg::profiles::{builtin_profile, Profile, BUILTIN_PROFILES};
use dmc_protocol::{MediaType, NodeId};
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use serde::Deserialize;

use span::SpanIndex;

pub use crate::ffmpeg::VerifyMode;
use crate::ffmpeg::{
    TimeLimit, DEFAULT_NICE, DEFAULT_TIME_LIMIT_FACTOR, DEFAULT_TIME_LIMIT_MIN,
    DEFAULT_TIME_LIMIT_UNKNOWN, MAX_NICE,
};

/// Name of the configuration file looked for in the data directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";
/// Default TCP port nodes listen on.
pub const DEFAULT_PORT: u16 = 4747;
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/4747";
/// Default folder for the results of this node's own offers.
pub const DEFAULT_OUTPUT_DIR: &str = "~/dmc/converted";
/// Default free disk space a converter keeps in reserve (1 GiB).
pub const DEFAULT_RESERVE_BYTES: u64 = 1 << 30;
/// Default `[node] lease`.
pub const DEFAULT_LEASE: &str = "2m";
/// Shortest lease accepted: a few converter heartbeats.
pub const MIN_LEASE: std::time::Duration = std::time::Duration::from_secs(5);
/// Default `[node] max_attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Largest `[node] max_attempts`.
pub const MAX_MAX_ATTEMPTS: u32 = 100;
/// Default `[node] retry_backoff`.
pub const DEFAULT_RETRY_BACKOFF: &str = "30s";
/// Most `-threads` a converter may give ffmpeg's encoders.
pub const MAX_THREADS: u32 = 256;
/// Most `[[converter.custom_profiles]]`.
pub const MAX_CUSTOM_PROFILES: usize = 64;
/// Most ffmpeg arguments of one custom profile.
pub const MAX_PROFILE_ARGS: usize = 128;
/// Longest single ffmpeg argument of a custom profile, in bytes.
pub const MAX_PROFILE_ARG_BYTES: usize = 1024;
/// Default `[converter] retention`.
pub const DEFAULT_RETENTION: &str = "30d";
/// Largest `[converter] time_limit_factor`.
pub const MAX_TIME_LIMIT_FACTOR: u32 = 10_000;
/// Shortest `[converter] time_limit_min` and `time_limit_unknown`.
pub const MIN_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Most concurrent conversions a converter may run (records refuse more).
pub const MAX_WORKERS: u32 = 1024;
/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Longest node name, in bytes.
pub const MAX_NAME_BYTES: usize = dmc_protocol::record::MAX_FILE_NAME;
/// Name used when the host name cannot be found.
const FALLBACK_NAME: &str = "dmc-node";

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
}

/// `[control]`: the local control socket.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ControlConfig {
    /// A system group whose members may use the control socket (it is then mode 0660 and
    /// owned by that group); `None`: only the node's own user (mode 0600).
    pub group: Option<String>,
}

/// `[network]`: who may talk to this node besides holding the network key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkConfig {
    /// When not empty, only these node ids (peer ids) may connect, even with the key.
    pub allowed_peers: Vec<NodeId>,
}

/// Most entries in `[network] allowed_peers`.
pub const MAX_ALLOWED_PEERS: usize = 1024;

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

/// Most entries in `[discovery] interfaces`.
pub const MAX_INTERFACES: usize = 64;
/// Longest interface name on Linux (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// `[converter]`
#[derive(Clone, Debug, PartialEq)]
pub struct ConverterConfig {
    /// Whether this node converts for others.
    pub enabled: bool,
    /// Media types accepted (no duplicates).
    pub media_types: Vec<MediaType>,
    /// Concurrent conversions, 1 to [`MAX_WORKERS`].
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
}

/// Why a configuration was refused. Messages name the file, line and key, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "config file {} does not exist; create it, or drop --config / DMC_CONFIG to use \
         <data-dir>/{CONFIG_FILE_NAME} or the built-in defaults",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error("cannot read config file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{}", Located { file: file.as_deref(), line: *line, key: key.as_deref(), message })]
    Invalid {
        /// The file at fault; `None` for the built-in defaults.
        file: Option<PathBuf>,
        line: Option<usize>,
        /// Dotted key, e.g. `converter.workers`.
        key: Option<String>,
        message: String,
    },
    #[error("cannot find a home directory for `~`: HOME is not set; set HOME or pass --data-dir")]
    NoHome,
}

struct Located<'a> {
    file: Option<&'a Path>,
    line: Option<usize>,
    key: Option<&'a str>,
    message: &'a str,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file {
            Some(file) => write!(f, "{}", file.display())?,
            None => f.write_str("built-in configuration")?,
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The file as written: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    node: RawNode,
    discovery: RawDiscovery,
    converter: RawConverter,
    transfer: RawTransfer,
    network: RawNetwork,
    watch: Vec<watch::RawWatch>,
    notify: notify::RawNotify,
    control: RawControl,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawControl {
    group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawNetwork {
    allowed_peers: Vec<String>,
}

/// Checks `[network] allowed_peers`: each a peer id (what `dmc info` prints as node id).
fn allowed_peers(raw: &[String]) -> Result<Vec<NodeId>, Fault> {
    const KEY: &str = "network.allowed_peers";
    if raw.len() > MAX_ALLOWED_PEERS {
        return Err(fault(
            KEY,
            None,
            format!("more than {MAX_ALLOWED_PEERS} entries"),
        ));
    }
    let mut out = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        if s.parse::<libp2p::PeerId>().is_err() {
            return Err(fault(
                KEY,
                Some(i),
                format!(
                    "`{}` is not a node id; `dmc info` on that machine prints its node id",
                    s.chars().take(80).collect::<String>()
                ),
            ));
        }
        let id = NodeId::new(s.clone());
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTransfer {
    max_rate: String,
}

impl Default for RawTransfer {
    fn default() -> Self {
        RawTransfer {
            max_rate: "unlimited".into(),
        }
    }
}

/// Parses a rate such as `unlimited`, `0`, `500KiB`, `2MiB`, `1GiB` or `1000000` (bytes/s).
pub fn parse_rate(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") || t == "0" {
        return Ok(None);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a rate; e.g. \"unlimited\", \"500KiB\", \"20MiB\""))?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}`; use B, KiB, MiB or GiB (per second)"
            ))
        }
    };
    Ok(Some(n.saturating_mul(mult)).filter(|v| *v > 0))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawNode {
    name: Option<String>,
    listen: Vec<String>,
    output_dir: String,
    lease: String,
    max_attempts: i64,
    retry_backoff: String,
}

impl Default for RawNode {
    fn default() -> Self {
        RawNode {
            name: None,
            listen: vec![DEFAULT_LISTEN.to_string()],
            output_dir: DEFAULT_OUTPUT_DIR.to_string(),
            lease: DEFAULT_LEASE.to_string(),
            max_attempts: DEFAULT_MAX_ATTEMPTS as i64,
            retry_backoff: DEFAULT_RETRY_BACKOFF.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDiscovery {
    mdns: bool,
    peers: Vec<String>,
    interfaces: Vec<String>,
    loopback: bool,
}

impl Default for RawDiscovery {
    fn default() -> Self {
        RawDiscovery {
            mdns: true,
            peers: Vec::new(),
            interfaces: Vec::new(),
            loopback: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConverter {
    enabled: bool,
    media_types: Vec<MediaType>,
    workers: u32,
    work_dir: String,
    profiles: Vec<String>,
    reserve_bytes: u64,
    retention: String,
    threads: u32,
    verify: String,
    allow_larger: bool,
    custom_profiles: Vec<RawProfile>,
    nice: i64,
    time_limit_factor: i64,
    time_limit_min: String,
    time_limit_unknown: String,
}

/// One `[[converter.custom_profiles]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    media_types: Vec<MediaType>,
    encoder: String,
    args: Vec<String>,
    extension: String,
    /// ffprobe `codec_name` the output's first video (or, for audio-only profiles, audio)
    /// stream must have.
    codec: String,
    /// A name in ffprobe's `format_name` of the output, e.g. `matroska`, `mp4`, `ogg`.
    container: String,
    /// ffmpeg muxer (`-f`); defaults to `container`.
    #[serde(default)]
    muxer: Option<String>,
    /// Whether the output's duration must match the source's; default: unless image-only.
    #[serde(default)]
    check_duration: Option<bool>,
}

impl Default for RawConverter {
    fn default() -> Self {
        RawConverter {
            enabled: false,
            media_types: MediaType::ALL.to_vec(),
            workers: 1,
            work_dir: String::new(),
            profiles: Vec::new(),
            reserve_bytes: DEFAULT_RESERVE_BYTES,
            retention: DEFAULT_RETENTION.to_string(),
            threads: 0,
            verify: "probe".into(),
            allow_larger: false,
            custom_profiles: Vec::new(),
            nice: DEFAULT_NICE as i64,
            time_limit_factor: DEFAULT_TIME_LIMIT_FACTOR as i64,
            time_limit_min: format_duration(DEFAULT_TIME_LIMIT_MIN),
            time_limit_unknown: format_duration(DEFAULT_TIME_LIMIT_UNKNOWN),
        }
    }
}

/// A field-level problem before it is given its file and line.
struct Fault {
    key: &'static str,
    index: Option<usize>,
    message: String,
}

fn fault(key: &'static str, index: Option<usize>, message: impl Into<String>) -> Fault {
    Fault {
        key,
        index,
        message: message.into(),
    }
}

impl Config {
    /// Loads the configuration: `explicit` (`--config FILE`) if given, which must exist; else
    /// `<data_dir>/config.toml` if it exists; else the built-in defaults.
    pub fn load(data_dir: &Path, explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => {
                if !exists(p)? {
                    return Err(ConfigError::Missing {
                        path: p.to_path_buf(),
                    });
                }
                p.to_path_buf()
            }
            None => {
                let p = data_dir.join(CONFIG_FILE_NAME);
                if !exists(&p)? {
                    return Ok(Config::default_for(data_dir));
                }
                p
            }
        };
        let text = read_bounded(&path)?;
        Config::from_toml(data_dir, &text, Some(&path))
    }

    /// Parses and validates `text` as if read from `file` (used in errors).
    pub fn from_toml(
        data_dir: &Path,
        text: &str,
        file: Option<&Path>,
    ) -> Result<Config, ConfigError> {
        let index = SpanIndex::new(text);
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => (Some(index.line_of(span.start)), index.key_at(span.start)),
                None => (None, None),
            };
            ConfigError::Invalid {
                file: file.map(Path::to_path_buf),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let home = home_dir();
        resolve(raw, data_dir, file, home.as_deref()).map_err(|f| ConfigError::Invalid {
            file: file.map(Path::to_path_buf),
            line: index.line_of_key(f.key, f.index),
            key: Some(f.key.to_string()),
            message: f.message,
        })
    }

    /// The built-in defaults for a node whose data directory is `data_dir`. Should HOME be
    /// unset, results go to `<data_dir>/converted` instead of `~/dmc/converted`.
    pub fn default_for(data_dir: &Path) -> Config {
        let home = home_dir();
        let mut raw = RawConfig::default();
        if home.is_none() {
            tracing::warn!(
                "HOME is not set: results go to {}/converted",
                data_dir.display()
            );
            raw.node.output_dir = "converted".into();
        }
        match resolve(raw, data_dir, None, home.as_deref()) {
            Ok(c) => c,
            // The defaults always validate; this arm only guards against a future mistake.
            Err(f) => {
                tracing::error!("built-in default `{}` is invalid: {}", f.key, f.message);
                Config {
                    network: NetworkConfig::default(),
                    data_dir: data_dir.to_path_buf(),
                    source: None,
                    node: NodeConfig {
                        name: FALLBACK_NAME.into(),
                        listen: Vec::new(),
                        output_dir: data_dir.join("converted"),
                        lease: std::time::Duration::from_secs(120),
                        max_attempts: DEFAULT_MAX_ATTEMPTS,
                        retry_backoff: std::time::Duration::from_secs(30),
                    },
                    discovery: DiscoveryConfig {
                        mdns: false,
                        peers: Vec::new(),
                        interfaces: Vec::new(),
                        loopback: false,
                    },
                    converter: ConverterConfig {
                        enabled: false,
                        media_types: MediaType::ALL.to_vec(),
                        workers: 1,
                        work_dir: data_dir.join("work"),
                        profiles: Vec::new(),
                        threads: 0,
                        verify: VerifyMode::Probe,
                        allow_larger: false,
                        custom_profiles: Vec::new(),
                        reserve_bytes: DEFAULT_RESERVE_BYTES,
                        retention: std::time::Duration::from_secs(30 * 86400),
                        nice: DEFAULT_NICE,
                        time_limit: TimeLimit::default(),
                    },
                    transfer: TransferConfig { max_rate: None },
                    watch: Vec::new(),
                    notify: NotifyConfig::default(),
                    control: ControlConfig::default(),
                }
            }
        }
    }
}

/// The default data directory, `~/.local/share/dmc`.
pub fn default_data_dir() -> Result<PathBuf, ConfigError> {
    let home = home_dir().ok_or(ConfigError::NoHome)?;
    Ok(home.join(".local/share/dmc"))
}

fn exists(p: &Path) -> Result<bool, ConfigError> {
    match std::fs::metadata(p) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ConfigError::Read {
            path: p.to_path_buf(),
            source,
        }),
    }
}

fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(read_err(io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(read_err(io::Error::other(format!(
            "larger than {MAX_CONFIG_BYTES} bytes; is this really a dmc config file?"
        ))));
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    String::from_utf8(bytes).map_err(|_| {
        read_err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not UTF-8 text; TOML files are UTF-8",
        ))
    })
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expands a leading `~` or `~/` with `home`, then makes relative paths relative to `base`.
fn resolve_path(raw: &str, base: &Path, home: Option<&Path>) -> Result<PathBuf, String> {
    let expanded = if raw == "~" || raw.starts_with("~/") {
        let home = home.ok_or("`~` needs HOME to be set; set HOME or give an absolute path")?;
        match raw.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => home.to_path_buf(),
        }
    } else if raw.starts_with('~') {
        return Err(format!(
            "`{raw}`: only `~` and `~/` are expanded; give an absolute path"
        ));
    } else {
        PathBuf::from(raw)
    };
    Ok(if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    })
}

fn multiaddrs(key: &'static str, raw: &[String]) -> Result<Vec<Multiaddr>, Fault> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            let addr: Multiaddr = s.parse().map_err(|e| {
                fault(
                    key,
                    Some(i),
                    format!("`{s}` is not a multiaddr ({e}); e.g. \"{DEFAULT_LISTEN}\""),
                )
            })?;
            if !addr.iter().any(|p| matches!(p, Protocol::Tcp(_))) {
                return Err(fault(
                    key,
                    Some(i),
                    format!("`{s}` has no /tcp/ part; dmc speaks TCP, e.g. \"{DEFAULT_LISTEN}\""),
                ));
            }
            Ok(addr)
        })
        .collect()
}

fn interface_names(raw: &[String]) -> Result<Vec<String>, Fault> {
    const KEY: &str = "discovery.interfaces";
    if raw.len() > MAX_INTERFACES {
        return Err(fault(
            KEY,
            None,
            format!("at most {MAX_INTERFACES} interfaces"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        let ok = !name.is_empty()
            && name.len() <= MAX_INTERFACE_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '/' && c != ':');
        if !ok {
            return Err(fault(
                KEY,
                Some(i),
                format!(
                    "`{name}` is not an interface name (1 to {MAX_INTERFACE_NAME} printable \
                     characters, no `/` or `:`); see `ip link` for names, e.g. \"eth0\""
                ),
            ));
        }
        if !out.contains(name) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

fn resolve(
    raw: RawConfig,
    data_dir: &Path,
    file: Option<&Path>,
    home: Option<&Path>,
) -> Result<Config, Fault> {
    let name = match raw.node.name {
        Some(n) => n,
        None => host_name(),
    };
    if name.trim().is_empty() {
        return Err(fault("node.name", None, "must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(fault(
            "node.name",
            None,
            format!("longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(fault(
            "node.name",
            None,
            "must not contain control characters",
        ));
    }
    let listen = multiaddrs("node.listen", &raw.node.listen)?;
    if raw.node.output_dir.is_empty() {
        return Err(fault("node.output_dir", None, "must not be empty"));
    }
    let output_dir = resolve_path(&raw.node.output_dir, data_dir, home)
        .map_err(|m| fault("node.output_dir", None, m))?;
    let peers = multiaddrs("discovery.peers", &raw.discovery.peers)?;
    let interfaces = interface_names(&raw.discovery.interfaces)?;

    let c = raw.converter;
    if c.workers == 0 {
        return Err(fault("converter.workers", None, "must be at least 1"));
    }
    if c.workers > MAX_WORKERS {
        return Err(fault(
            "converter.workers",
            None,
            format!("must be at most {MAX_WORKERS}"),
        ));
    }
    let mut media_types = Vec::new();
    for m in c.media_types {
        if !media_types.contains(&m) {
            media_types.push(m);
        }
    }
    if c.enabled && media_types.is_empty() {
        return Err(fault(
            "converter.media_types",
            None,
            "an enabled converter needs at least one of \"audio\", \"image\", \"video\"",
        ));
    }
    if c.threads > MAX_THREADS {
        return Err(fault(
            "converter.threads",
            None,
            format!("must be at most {MAX_THREADS} (0 lets ffmpeg choose)"),
        ));
    }
    let verify: VerifyMode = c
        .verify
        .parse()
        .map_err(|m| fault("converter.verify", None, m))?;
    let custom_profiles = custom_profiles(c.custom_profiles)?;
    let mut profiles: Vec<String> = Vec::new();
    for (i, p) in c.profiles.into_iter().enumerate() {
        if builtin_profile(&p).is_none() && !custom_profiles.iter().any(|c| c.name == p) {
            let known: Vec<&str> = BUILTIN_PROFILES
                .iter()
                .chain(custom_profiles.iter().copied())
                .map(|p| p.name)
                .collect();
            return Err(fault(
                "converter.profiles",
                Some(i),
                format!(
                    "unknown profile `{p}`; known profiles: {}",
                    known.join(", ")
                ),
            ));
        }
        if !profiles.contains(&p) {
            profiles.push(p);
        }
    }
    let work_dir = if c.work_dir.is_empty() {
        data_dir.join("work")
    } else {
        resolve_path(&c.work_dir, data_dir, home)
            .map_err(|m| fault("converter.work_dir", None, m))?
    };
    let lease = parse_duration(&raw.node.lease).map_err(|m| fault("node.lease", None, m))?;
    if lease < MIN_LEASE {
        return Err(fault(
            "node.lease",
            None,
            format!(
                "must be at least {}: converters report every few seconds",
                format_duration(MIN_LEASE)
            ),
        ));
    }
    let max_attempts = u32::try_from(raw.node.max_attempts)
        .ok()
        .filter(|n| (1..=MAX_MAX_ATTEMPTS).contains(n))
        .ok_or_else(|| {
            fault(
                "node.max_attempts",
                None,
                format!("must be between 1 and {MAX_MAX_ATTEMPTS}"),
            )
        })?;
    let retry_backoff = parse_duration(&raw.node.retry_backoff)
        .map_err(|m| fault("node.retry_backoff", None, m))?;
    let retention =
        parse_duration(&c.retention).map_err(|m| fault("converter.retention", None, m))?;
    let max_rate =
        parse_rate(&raw.transfer.max_rate).map_err(|m| fault("transfer.max_rate", None, m))?;
    let network = NetworkConfig {
        allowed_peers: allowed_peers(&raw.network.allowed_peers)?,
    };
    let known: Vec<&str> = BUILTIN_PROFILES
        .iter()
        .chain(custom_profiles.iter().copied())
        .map(|p| p.name)
        .collect();
    let watches = watch::resolve_watches(
        raw.watch,
        data_dir,
        home,
        |name| {
            builtin_profile(name)
                .or_else(|| custom_profiles.iter().copied().find(|p| p.name == name))
        },
        &known,
    )?;
    let notify = notify::resolve_notify(raw.notify)?;
    let nice = u8::try_from(c.nice)
        .ok()
        .filter(|n| *n <= MAX_NICE)
        .ok_or_else(|| {
            fault(
                "converter.nice",
                None,
                format!(
                    "must be between 0 (normal CPU priority) and {MAX_NICE} (lowest), not {}",
                    c.nice
                ),
            )
        })?;
    let time_limit = time_limit(
        c.time_limit_factor,
        &c.time_limit_min,
        &c.time_limit_unknown,
    )?;
    let control = ControlConfig {
        group: raw.control.group.map(group_name).transpose()?,
    };
    Ok(Config {
        network,
        transfer: TransferConfig { max_rate },
        watch: watches,
        notify,
        control,
        data_dir: data_dir.to_path_buf(),
        source: file.map(Path::to_path_buf),
        node: NodeConfig {
            name,
            listen,
            output_dir,
            lease,
            max_attempts,
            retry_backoff,
        },
        discovery: DiscoveryConfig {
            mdns: raw.discovery.mdns,
            peers,
            interfaces,
            loopback: raw.discovery.loopback,
        },
        converter: ConverterConfig {
            enabled: c.enabled,
            media_types,
            workers: c.workers,
            work_dir,
            profiles,
            threads: c.threads,
            verify,
            allow_larger: c.allow_larger,
            custom_profiles,
            reserve_bytes: c.reserve_bytes,
            retention,
            nice,
            time_limit,
        },
    })
}

/// `[converter] time_limit_factor`, `time_limit_min`, `time_limit_unknown`.
fn time_limit(factor: i64, min: &str, unknown: &str) -> Result<TimeLimit, Fault> {
    let factor = u32::try_from(factor)
        .ok()
        .filter(|f| (1..=MAX_TIME_LIMIT_FACTOR).contains(f))
        .ok_or_else(|| {
            fault(
                "converter.time_limit_factor",
                None,
                format!(
                    "must be between 1 and {MAX_TIME_LIMIT_FACTOR} (times the media's duration \
                     a conversion may take)"
                ),
            )
        })?;
    let at_least_1s = |key: &'static str, text: &str| {
        let d = parse_duration(text).map_err(|m| fault(key, None, m))?;
        if d < MIN_TIME_LIMIT {
            return Err(fault(
                key,
                None,
                format!("must be at least {}", format_duration(MIN_TIME_LIMIT)),
            ));
        }
        Ok(d)
    };
    Ok(TimeLimit {
        factor,
        min: at_least_1s("converter.time_limit_min", min)?,
        unknown: at_least_1s("converter.time_limit_unknown", unknown)?,
    })
}

/// `[control] group`: a plain system group name (whether it exists is checked when the
/// socket is made).
fn group_name(g: String) -> Result<String, Fault> {
    let ok = !g.is_empty()
        && g.len() <= 32
        && !g.starts_with('-')
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(fault(
            "control.group",
            None,
            format!(
                "`{g}` is not a group name (letters, digits, `_`, `-`, `.`, at most 32, not \
                 starting with `-`); remove the key to allow only this node's user"
            ),
        ));
    }
    Ok(g)
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

/// Whether `s` is a plain token for an encoder, codec, container or muxer name.
fn token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// ffmpeg options a profile must not set: dmc chooses input, output, muxer and progress.
const RESERVED_ARGS: &[&str] = &["-i", "-f", "-y", "-n", "-progress", "-nostdin", "-threads"];

/// Validates `[[converter.custom_profiles]]` and builds their profiles.
fn custom_profiles(raw: Vec<RawProfile>) -> Result<Vec<&'static Profile>, Fault> {
    const KEY: &str = "converter.custom_profiles";
    if raw.len() > MAX_CUSTOM_PROFILES {
        return Err(fault(
            KEY,
            None,
            format!("at most {MAX_CUSTOM_PROFILES} custom profiles"),
        ));
    }
    let mut out: Vec<&'static Profile> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let bad = |m: String| fault(KEY, Some(i), m);
        if !dmc_protocol::media::valid_profile_name(&r.name) {
            return Err(bad(format!(
                "name `{}` is not a profile name: 1 to {} ASCII letters, digits, `-`, `_` or \
                 `.`, starting with a letter or digit",
                r.name,
                dmc_protocol::media::MAX_PROFILE_NAME
            )));
        }
        if builtin_profile(&r.name).is_some() {
            return Err(bad(format!(
                "name `{}` is a built-in profile; give the custom profile another name",
                r.name
            )));
        }
        if out.iter().any(|p| p.name == r.name) {
            return Err(bad(format!("profile `{}` is defined twice", r.name)));
        }
        let mut media_types: Vec<MediaType> = Vec::new();
        for m in r.media_types {
            if !media_types.contains(&m) {
                media_types.push(m);
            }
        }
        if media_types.is_empty() {
            return Err(bad(format!(
                "profile `{}`: media_types needs at least one of \"audio\", \"image\", \"video\"",
                r.name
            )));
        }
        for (what, v) in [
            ("encoder", &r.encoder),
            ("codec", &r.codec),
            ("container", &r.container),
        ] {
            if !token(v) {
                return Err(bad(format!(
                    "profile `{}`: {what} `{v}` must be 1 to 64 ASCII letters, digits, `_`, `-` \
                     or `.` (as `ffmpeg -encoders` / ffprobe print it)",
                    r.name
                )));
            }
        }
        let muxer = r.muxer.unwrap_or_else(|| r.container.clone());
        if !token(&muxer) {
            return Err(bad(format!(
                "profile `{}`: muxer `{muxer}` is not a muxer name (see `ffmpeg -muxers`)",
                r.name
            )));
        }
        let ext_ok = !r.extension.is_empty()
            && r.extension.len() <= 16
            && r.extension.chars().all(|c| c.is_ascii_alphanumeric());
        if !ext_ok {
            return Err(bad(format!(
                "profile `{}`: extension `{}` must be 1 to 16 ASCII letters or digits, without \
                 the dot",
                r.name, r.extension
            )));
        }
        if r.args.is_empty() || r.args.len() > MAX_PROFILE_ARGS {
            return Err(bad(format!(
                "profile `{}`: args needs 1 to {MAX_PROFILE_ARGS} ffmpeg output arguments, e.g. \
                 [\"-c:v\", \"{}\"]",
                r.name, r.encoder
            )));
        }
        for a in &r.args {
            if a.is_empty() || a.len() > MAX_PROFILE_ARG_BYTES || a.chars().any(char::is_control) {
                return Err(bad(format!(
                    "profile `{}`: argument `{a}` must be 1 to {MAX_PROFILE_ARG_BYTES} bytes \
                     without control characters",
                    r.name
                )));
            }
            if RESERVED_ARGS.contains(&a.as_str()) {
                return Err(bad(format!(
                    "profile `{}`: argument `{a}` is set by dmc (input, output, muxer, progress, \
                     [converter] threads); remove it",
                    r.name
                )));
            }
        }
        if !r.args.iter().any(|a| a == &r.encoder) {
            return Err(bad(format!(
                "profile `{}`: args never select the encoder `{}`; add e.g. \"-c:v\", \"{}\"",
                r.name, r.encoder, r.encoder
            )));
        }
        let audio_only = media_types.iter().all(|m| *m == MediaType::Audio);
        let image_only = media_types.iter().all(|m| *m == MediaType::Image);
        let codec: &'static str = leak(r.codec);
        let args: Vec<&'static str> = r.args.into_iter().map(leak).collect();
        let profile = Profile {
            name: leak(r.name),
            media_types: Vec::leak(media_types),
            encoder: leak(r.encoder),
            args: Vec::leak(args),
            muxer: leak(muxer),
            extension: leak(r.extension),
            expect_format: leak(r.container),
            expect_video_codec: (!audio_only).then_some(codec),
            expect_audio_codec: audio_only.then_some(codec),
            check_duration: r.check_duration.unwrap_or(!image_only),
        };
        out.push(Box::leak(Box::new(profile)));
    }
    Ok(out)
}

/// Keeps `s` for the life of the process (custom profiles are read once, at start).
fn leak(s: String) -> &'static str {
    String::leak(s)
}

/// The host name from /etc/hostname or gethostname(2), or `dmc-node`.
fn host_name() -> String {
    let usable = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= MAX_NAME_BYTES && !s.chars().any(char::is_control))
            .then(|| s.to_string())
    };
    if let Some(n) = std::fs::read_to_string("/etc/hostname")
        .ok()
        .as_deref()
        .and_then(usable)
    {
        return n;
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname writes at most that many.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Some(n) = std::str::from_utf8(&buf[..end]).ok().and_then(usable) {
            return n;
        }
    }
    FALLBACK_NAME.to_string()
}

#[cfg(test)]
mod tests;
