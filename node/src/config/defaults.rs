//! Every default of the configuration, in one table. The file's parser starts from these
//! values, the engine gets its lease, retention and retry settings from the parsed
//! configuration (so from here), and a test holds `docs/configuration.md`'s tables to the same
//! values. Limits (`MAX_*`, `MIN_*`) are validation rules and live with the validation.

/// The data directory, under `$HOME` (`~/.local/share/dmc`).
pub const DATA_DIR_UNDER_HOME: &str = ".local/share/dmc";

/// `[node]`
pub mod node {
    use std::time::Duration;

    /// `listen`: one address, every IPv4 interface, port 4747.
    pub const LISTEN: &str = "/ip4/0.0.0.0/tcp/4747";
    /// `output_dir`.
    pub const OUTPUT_DIR: &str = "~/dmc/converted";
    /// `output_dir` when `HOME` is unset: relative to the data directory.
    pub const OUTPUT_DIR_WITHOUT_HOME: &str = "converted";
    /// `lease`: two minutes without word from a converter.
    pub const LEASE: Duration = Duration::from_secs(2 * 60);
    /// `max_attempts`.
    pub const MAX_ATTEMPTS: u32 = 3;
    /// `retry_backoff`: the wait after the first failed attempt.
    pub const RETRY_BACKOFF: Duration = Duration::from_secs(30);
    /// `keep_finished`: how long an ended item's records are kept before compaction, 30 days.
    pub const KEEP_FINISHED: Duration = Duration::from_secs(30 * 24 * 3600);
}

/// `[discovery]`
pub mod discovery {
    /// `mdns`.
    pub const MDNS: bool = true;
    /// `loopback`.
    pub const LOOPBACK: bool = false;
}

/// `[converter]`
pub mod converter {
    use std::time::Duration;

    use dmc_protocol::MediaType;

    use crate::ffmpeg::{SplitPolicy, TimeLimit, VerifyMode};

    /// `enabled`.
    pub const ENABLED: bool = false;
    /// `media_types`.
    pub const MEDIA_TYPES: [MediaType; 3] = MediaType::ALL;
    /// `workers`.
    pub const WORKERS: u32 = 1;
    /// `work_dir` when empty: this folder of the data directory.
    pub const WORK_DIR_IN_DATA_DIR: &str = "work";
    /// `reserve_bytes`: 1 GiB.
    pub const RESERVE_BYTES: u64 = 1 << 30;
    /// `retention` of an unfetched result: 30 days.
    pub const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
    /// `threads` (0: ffmpeg chooses).
    pub const THREADS: u32 = 0;
    /// `verify`.
    pub const VERIFY: VerifyMode = VerifyMode::Probe;
    /// `allow_larger`.
    pub const ALLOW_LARGER: bool = false;
    /// `nice`.
    pub const NICE: u8 = 10;
    /// `time_limit_factor`, `time_limit_min`, `time_limit_unknown`.
    pub const TIME_LIMIT: TimeLimit = TimeLimit {
        factor: 20,
        min: Duration::from_secs(10 * 60),
        unknown: Duration::from_secs(6 * 3600),
    };
    /// `split_min` (videos at least 5 minutes long are split) and `segment` (60 s segments).
    pub const SPLIT: SplitPolicy = SplitPolicy {
        split_min: Duration::from_secs(5 * 60),
        segment: Duration::from_secs(60),
    };
}

/// `[network]`
pub mod network {
    /// `peer_records_per_minute`: new records one peer may make this node store per minute.
    /// A node away for 60 days while 1,000 items were offered and finished lacks about 5,000
    /// records (offer, assign, accept, converted, delivered; more with retries): it takes them
    /// from one peer within the first minute, while a member minting records is held to 10,000
    /// a minute per connection.
    pub const PEER_RECORDS_PER_MINUTE: u32 = 10_000;
    /// `peer_bytes_per_minute`: bytes of those records, 8 MiB (1,000 finished items are about
    /// 2 MiB of records; a record is at most 64 KiB).
    pub const PEER_BYTES_PER_MINUTE: u64 = 8 << 20;
}

/// `[transfer]`
pub mod transfer {
    /// `max_rate`.
    pub const MAX_RATE: &str = "unlimited";
}

/// `[[watch]]`
pub mod watch {
    use std::time::Duration;

    use crate::config::AfterDelivery;

    /// `recursive`.
    pub const RECURSIVE: bool = false;
    /// `settle`.
    pub const SETTLE: Duration = Duration::from_secs(5);
    /// `rescan`.
    pub const RESCAN: Duration = Duration::from_secs(60);
    /// `after_delivery`.
    pub const AFTER_DELIVERY: AfterDelivery = AfterDelivery::Keep;
    /// `priority`.
    pub const PRIORITY: i32 = 0;
}

/// `[notify]`
pub mod notify {
    use std::time::Duration;

    /// `timeout`.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// `desktop`.
    pub const DESKTOP: bool = true;
}

/// `[gui]`
pub mod gui {
    /// `listen`: the dashboard on loopback, port 8747.
    pub const LISTEN: &str = "127.0.0.1:8747";
    /// `upload_dir` when empty: this folder of the data directory.
    pub const UPLOAD_DIR_IN_DATA_DIR: &str = "uploads";
    /// Bytes an upload must leave free on the disk of `upload_dir` (not a setting): an upload
    /// larger than the free space minus this is refused before a byte is written.
    pub const UPLOAD_KEEP_FREE: u64 = 256 * 1024 * 1024;
}

#[cfg(test)]
mod tests;
