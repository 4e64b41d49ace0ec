//! The file as written: every key optional (missing keys take the values of
//! [`defaults`](super::defaults)), unknown keys refused.

use dmc_protocol::MediaType;
use serde::Deserialize;

use super::custom_profiles::RawProfile;
use super::defaults::{converter, discovery, network, node, transfer};
use super::{format_duration, notify, watch};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConfig {
    pub(super) node: RawNode,
    pub(super) discovery: RawDiscovery,
    pub(super) converter: RawConverter,
    pub(super) transfer: RawTransfer,
    pub(super) network: RawNetwork,
    pub(super) watch: Vec<watch::RawWatch>,
    pub(super) notify: notify::RawNotify,
    pub(super) control: RawControl,
    pub(super) gui: super::gui::RawGui,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawControl {
    pub(super) group: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNetwork {
    pub(super) allowed_peers: Vec<String>,
    pub(super) peer_records_per_minute: i64,
    pub(super) peer_bytes_per_minute: i64,
}

impl Default for RawNetwork {
    fn default() -> Self {
        RawNetwork {
            allowed_peers: Vec::new(),
            peer_records_per_minute: network::PEER_RECORDS_PER_MINUTE.into(),
            peer_bytes_per_minute: network::PEER_BYTES_PER_MINUTE as i64,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawTransfer {
    pub(super) max_rate: String,
}

impl Default for RawTransfer {
    fn default() -> Self {
        RawTransfer {
            max_rate: transfer::MAX_RATE.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNode {
    pub(super) name: Option<String>,
    pub(super) listen: Vec<String>,
    pub(super) output_dir: String,
    pub(super) lease: String,
    pub(super) max_attempts: i64,
    pub(super) retry_backoff: String,
    pub(super) keep_finished: String,
}

impl Default for RawNode {
    fn default() -> Self {
        RawNode {
            name: None,
            listen: vec![node::LISTEN.to_string()],
            output_dir: node::OUTPUT_DIR.to_string(),
            lease: format_duration(node::LEASE),
            max_attempts: node::MAX_ATTEMPTS.into(),
            retry_backoff: format_duration(node::RETRY_BACKOFF),
            keep_finished: format_duration(node::KEEP_FINISHED),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDiscovery {
    pub(super) mdns: bool,
    pub(super) peers: Vec<String>,
    pub(super) interfaces: Vec<String>,
    pub(super) loopback: bool,
}

impl Default for RawDiscovery {
    fn default() -> Self {
        RawDiscovery {
            mdns: discovery::MDNS,
            peers: Vec::new(),
            interfaces: Vec::new(),
            loopback: discovery::LOOPBACK,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConverter {
    pub(super) enabled: bool,
    pub(super) media_types: Vec<MediaType>,
    pub(super) workers: u32,
    /// Empty: `<data_dir>/work`.
    pub(super) work_dir: String,
    pub(super) profiles: Vec<String>,
    pub(super) reserve_bytes: u64,
    pub(super) retention: String,
    pub(super) threads: u32,
    pub(super) verify: String,
    pub(super) allow_larger: bool,
    pub(super) custom_profiles: Vec<RawProfile>,
    pub(super) nice: i64,
    pub(super) time_limit_factor: i64,
    pub(super) time_limit_min: String,
    pub(super) time_limit_unknown: String,
    pub(super) split_min: String,
    pub(super) segment: String,
}

impl Default for RawConverter {
    fn default() -> Self {
        RawConverter {
            enabled: converter::ENABLED,
            media_types: converter::MEDIA_TYPES.to_vec(),
            workers: converter::WORKERS,
            work_dir: String::new(),
            profiles: Vec::new(),
            reserve_bytes: converter::RESERVE_BYTES,
            retention: format_duration(converter::RETENTION),
            threads: converter::THREADS,
            verify: converter::VERIFY.as_str().into(),
            allow_larger: converter::ALLOW_LARGER,
            custom_profiles: Vec::new(),
            nice: converter::NICE.into(),
            time_limit_factor: converter::TIME_LIMIT.factor.into(),
            time_limit_min: format_duration(converter::TIME_LIMIT.min),
            time_limit_unknown: format_duration(converter::TIME_LIMIT.unknown),
            split_min: format_duration(converter::SPLIT.split_min),
            segment: format_duration(converter::SPLIT.segment),
        }
    }
}
