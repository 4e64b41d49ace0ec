//! `dmc doctor`: checks of the local setup (config, ffmpeg, disk, network key, control socket,
//! mDNS interfaces, peers), each a [`Check`] with a status, what was found and how to fix it.
//!
//! Everything here only reads: it sends nothing on the network (no mDNS query) and creates no
//! file. The checks that need the running node (socket, peers) take its answers as arguments;
//! the CLI asks the node and passes them in.

pub mod config_file;
pub mod disk;
pub mod key;
pub mod mdns;
pub mod peers;
pub mod socket;
pub mod tools;

use std::ffi::OsString;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::control::api::ConfigView;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something may bite (low disk, an interface without multicast, …).
    Warn,
    /// Something dmc needs is broken.
    Fail,
}

/// One line of the doctor's checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked, e.g. `ffmpeg`, `disk: work dir`, `peer laptop`.
    pub check: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it; `None` when the check is ok.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::with_fix(Status::Warn, check.into(), detail.into(), fix.into())
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check::with_fix(Status::Fail, check.into(), detail.into(), fix.into())
    }

    fn with_fix(status: Status, check: String, detail: String, fix: String) -> Check {
        Check {
            check,
            status,
            detail,
            fix: Some(fix),
        }
    }
}

/// Whether any check failed (the doctor then exits 1).
pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

/// What the local checks look at.
#[derive(Clone, Debug)]
pub struct DoctorOptions {
    pub data_dir: PathBuf,
    /// `--config FILE`, if given (else `<data_dir>/config.toml` or the defaults).
    pub config: Option<PathBuf>,
    /// The `PATH` searched for ffmpeg and ffprobe.
    pub path: OsString,
    /// What the running node reports about its configuration; `None` when no node answers.
    pub running: Option<ConfigView>,
}

impl DoctorOptions {
    /// Options for `data_dir` and `config`, searching this process's `PATH`.
    pub fn new(data_dir: PathBuf, config: Option<PathBuf>) -> DoctorOptions {
        DoctorOptions {
            data_dir,
            config,
            path: std::env::var_os("PATH").unwrap_or_default(),
            running: None,
        }
    }
}

/// What the local checks found, and the configuration they used.
#[derive(Clone, Debug)]
pub struct LocalReport {
    /// The loaded configuration, or the built-in defaults when it does not load.
    pub config: crate::config::Config,
    pub checks: Vec<Check>,
    /// The data dir holds another network key than the running node uses (joined since it
    /// started): the node must restart, not join again.
    pub key_changed: bool,
}

/// The checks of this machine: config, ffmpeg and profiles, disk space, network key and mDNS
/// interfaces, of the running node's configuration when `opts.running` has it. A config that
/// does not load is reported and the built-in defaults are used for the other checks.
pub async fn local_checks(opts: &DoctorOptions) -> LocalReport {
    let running = opts.running.as_ref();
    let (config, mut checks) = config_file::check(&opts.data_dir, opts.config.as_deref(), running);
    checks.extend(tools::checks(&config, &opts.path).await);
    let dirs = config.clone();
    match tokio::task::spawn_blocking(move || disk::checks(&dirs)).await {
        Ok(c) => checks.extend(c),
        Err(e) => checks.push(Check::warn(
            "disk",
            format!("the disk check stopped: {e}"),
            "run `df -h` to see the free space",
        )),
    }
    let fingerprint = running.map(|r| r.network_fingerprint.as_str());
    checks.push(key::check(&opts.data_dir, fingerprint));
    checks.extend(mdns::checks(&config.discovery, &mdns::read_interfaces()));
    LocalReport {
        config,
        checks,
        key_changed: key::changed_since_start(&opts.data_dir, fingerprint),
    }
}
