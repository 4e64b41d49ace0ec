//! The node's configuration: a TOML file (every key optional), its defaults, validation, and
//! errors that name the file, line and key at fault.
//!
//! [`load`] finds and reads the file, [`raw`] is its shape as written (missing keys from
//! [`defaults`]), [`resolve`] turns it into a [`Config`] ([`sections`]) with one module per
//! table checking its keys.

mod control;
mod converter;
mod custom_profiles;
pub mod defaults;
mod discovery;
mod duration;
mod error;
mod gui;
mod load;
mod network;
mod node;
mod notify;
mod offered;
mod parse;
mod paths;
mod raw;
mod resolve;
mod sections;
mod span;
mod transfer;
mod watch;

pub use converter::{
    MAX_SEGMENT, MAX_THREADS, MAX_TIME_LIMIT_FACTOR, MAX_WORKERS, MIN_SEGMENT, MIN_TIME_LIMIT,
};
pub use custom_profiles::{MAX_CUSTOM_PROFILES, MAX_PROFILE_ARGS, MAX_PROFILE_ARG_BYTES};
pub use discovery::{MAX_INTERFACES, MAX_INTERFACE_NAME};
pub use duration::{format_duration, parse_duration};
pub use error::ConfigError;
pub use gui::GuiConfig;
pub use load::{default_data_dir, MAX_CONFIG_BYTES};
pub use network::MAX_ALLOWED_PEERS;
pub use node::{MAX_MAX_ATTEMPTS, MAX_NAME_BYTES, MIN_LEASE};
pub use notify::NotifyConfig;
pub use offered::ConverterProfiles;
pub use sections::{
    Config, ControlConfig, ConverterConfig, DiscoveryConfig, NetworkConfig, NodeConfig,
    TransferConfig,
};
pub use transfer::parse_rate;
pub use watch::{AfterDelivery, WatchConfig};

pub use crate::ffmpeg::VerifyMode;

/// Profiles, built in and custom: the one import of them for this module's files.
use crate::ffmpeg::profiles::{builtin_profile, Profile, BUILTIN_PROFILES};

/// Name of the configuration file looked for in the data directory.
pub const CONFIG_FILE_NAME: &str = "config.toml";

#[cfg(test)]
mod tests;
