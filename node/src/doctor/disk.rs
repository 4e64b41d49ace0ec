//! The disk checks: free space on the file systems of the data dir, the output dir and (for a
//! converter) the work dir, measured as the converter measures it before taking a job.

use std::path::{Path, PathBuf};

use dmc_protocol::schedule::human_bytes;

use super::Check;
use crate::config::Config;

/// Free space under which a warning is given (and the least a converter's reserve means).
pub const LOW_SPACE: u64 = 1 << 30;

/// The nearest folder at or above `path` that exists (what a missing folder will be made in).
fn existing_ancestor(path: &Path) -> Option<&Path> {
    path.ancestors().find(|p| p.is_dir())
}

/// Free bytes for the node on the file system that holds (or will hold) `dir`. Creates nothing.
pub fn free_bytes(dir: &Path) -> std::io::Result<(u64, PathBuf)> {
    let at = existing_ancestor(dir).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no folder above it exists")
    })?;
    // `at` exists, so free_space creates nothing.
    Ok((crate::core::free_space(at)?, at.to_path_buf()))
}

/// One folder's check: warn under `min` bytes free.
pub fn dir_check(label: &str, dir: &Path, min: u64, why: &str) -> Check {
    let name = format!("disk: {label}");
    match free_bytes(dir) {
        Ok((free, at)) => {
            let mut detail = format!("{} free for {}", human_bytes(free), dir.display());
            if at != dir {
                detail.push_str(&format!(
                    " (it does not exist yet; measured at {})",
                    at.display()
                ));
            }
            if free < min {
                Check::warn(
                    name,
                    format!("only {detail}; {why} wants at least {}", human_bytes(min)),
                    format!(
                        "free space on that file system (`df -h {}` shows it), or move the \
                         folder to a larger disk in the config",
                        at.display()
                    ),
                )
            } else {
                Check::ok(name, detail)
            }
        }
        Err(e) => Check::warn(
            name,
            format!("cannot measure the free space for {}: {e}", dir.display()),
            "check that the folder's path is right and readable by the node's user",
        ),
    }
}

/// The data dir, output dir and, on a converter, work dir. Blocking (statvfs).
pub fn checks(config: &Config) -> Vec<Check> {
    let mut out = vec![
        dir_check(
            "data dir",
            &config.data_dir,
            LOW_SPACE,
            "the node's database and sent files",
        ),
        dir_check(
            "output dir",
            &config.node.output_dir,
            LOW_SPACE,
            "receiving results ([node] output_dir)",
        ),
    ];
    if config.converter.enabled {
        out.push(dir_check(
            "work dir",
            &config.converter.work_dir,
            config.converter.reserve_bytes.max(LOW_SPACE),
            "converting ([converter] reserve_bytes plus sources and outputs)",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn measures_existing_and_missing_folders_without_creating_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = dir_check("data dir", dir.path(), 1, "test");
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert!(ok.detail.contains("free for"), "{ok:?}");

        let missing = dir.path().join("a/b");
        let c = dir_check("output dir", &missing, 1, "test");
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.detail.contains("does not exist yet"), "{c:?}");
        assert!(!missing.exists(), "the doctor creates nothing");

        // More than any disk has: a warning with the fix.
        let low = dir_check("work dir", dir.path(), u64::MAX, "converting");
        assert_eq!(low.status, Status::Warn, "{low:?}");
        assert!(low.detail.starts_with("only "), "{low:?}");
        assert!(low.fix.as_deref().is_some_and(|f| f.contains("df -h")));
    }

    #[test]
    fn the_work_dir_counts_the_reserve_only_on_converters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let client = Config::from_toml(dir.path(), "", None).expect("config");
        assert_eq!(checks(&client).len(), 2);
        let conv = Config::from_toml(
            dir.path(),
            "[converter]\nenabled = true\nreserve_bytes = 1000000000000000000\n",
            None,
        )
        .expect("config");
        let c = checks(&conv);
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].check, "disk: work dir");
        assert_eq!(c[2].status, Status::Warn, "{c:?}");
        assert!(c[2].detail.contains("reserve_bytes"), "{c:?}");
    }
}
