//! Disk room a converter has promised to its accepted jobs: each job reserves the source it
//! fetches, an estimate of its output and a margin; a new item is accepted only if that fits
//! into the free space minus what the other jobs still need. A reservation ends with its job.

use std::collections::HashMap;
use std::path::Path;

use dmc_protocol::schedule::disk_refusal;
use dmc_protocol::{Epoch, ItemId};

/// A job's key: (item, epoch).
pub(crate) type JobKey = (ItemId, Epoch);

/// Bytes one job needs in the work dir: the source unless it is already on this node (the
/// converter's own offer is read in place), plus the estimated output, plus `margin` (the
/// `[converter] reserve_bytes` to keep free).
pub(crate) fn need(source_size: u64, source_here: bool, margin: u64) -> u64 {
    (if source_here { 0 } else { source_size })
        .saturating_add(estimate_output(source_size))
        .saturating_add(margin)
}

/// Estimated size of a conversion's output: as large as the source (the built-in profiles
/// re-encode at similar or lower rates).
pub(crate) fn estimate_output(source_size: u64) -> u64 {
    source_size
}

/// Why a job needing `need` bytes cannot be taken with `free` bytes free on the work dir's
/// file system while other jobs still need `outstanding` of them.
pub(crate) fn refusal(need: u64, free: u64, outstanding: u64) -> Option<String> {
    disk_refusal(need, free.saturating_sub(outstanding))
}

/// The reservations of this converter's jobs.
#[derive(Debug, Default)]
pub(crate) struct Reservations {
    held: HashMap<JobKey, u64>,
}

impl Reservations {
    /// Reserves `bytes` for a job (replacing an earlier reservation of the same job).
    pub(crate) fn reserve(&mut self, key: JobKey, bytes: u64) {
        self.held.insert(key, bytes);
    }

    /// Ends a job's reservation; returns the bytes it held.
    pub(crate) fn release(&mut self, key: &JobKey) -> Option<u64> {
        self.held.remove(key)
    }

    pub(crate) fn contains(&self, key: &JobKey) -> bool {
        self.held.contains_key(key)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &JobKey> {
        self.held.keys()
    }

    /// Bytes reserved by all jobs.
    pub(crate) fn total(&self) -> u64 {
        self.held.values().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// The reservations of every job but `key`.
    pub(crate) fn others(&self, key: &JobKey) -> Vec<(JobKey, u64)> {
        self.held
            .iter()
            .filter(|(k, _)| *k != key)
            .map(|(k, v)| (*k, *v))
            .collect()
    }
}

/// What reserved jobs still need beyond what they already wrote: each job's reservation less
/// the bytes its folder holds (those are no longer counted in the free space).
pub(crate) fn outstanding(jobs: &[(u64, u64)]) -> u64 {
    jobs.iter().fold(0u64, |acc, (reserved, used)| {
        acc.saturating_add(reserved.saturating_sub(*used))
    })
}

/// Bytes allocated on disk by the files under `dir` (0 when it does not exist). Blocking.
pub(crate) fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total = total.saturating_add(m.blocks().saturating_mul(512));
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn key(n: u8) -> JobKey {
        (
            ItemId::parse(&format!("{n:02x}").repeat(16)).expect("item id"),
            1,
        )
    }

    #[test]
    fn need_is_source_plus_estimated_output_plus_margin() {
        assert_eq!(need(100 * MIB, false, 10 * MIB), 210 * MIB);
        // The converter's own offer is read in place: no copy of the source.
        assert_eq!(need(100 * MIB, true, 10 * MIB), 110 * MIB);
        assert_eq!(estimate_output(7), 7);
        assert_eq!(need(u64::MAX, false, 1), u64::MAX);
    }

    #[test]
    fn reserve_and_release() {
        let mut r = Reservations::default();
        r.reserve(key(1), 30 * MIB);
        r.reserve(key(2), 50 * MIB);
        assert_eq!(r.total(), 80 * MIB);
        assert_eq!(r.others(&key(1)), vec![(key(2), 50 * MIB)]);
        // Reserving again replaces.
        r.reserve(key(2), 20 * MIB);
        assert_eq!(r.total(), 50 * MIB);
        assert!(r.contains(&key(1)));
        assert_eq!(r.release(&key(1)), Some(30 * MIB));
        assert_eq!(r.release(&key(1)), None);
        assert!(!r.contains(&key(1)));
        assert_eq!(r.total(), 20 * MIB);
        assert_eq!(r.keys().count(), 1);
    }

    #[test]
    fn what_other_jobs_wrote_is_not_counted_twice() {
        // Reserved 100 and wrote 40: 60 still to come; wrote more than reserved: nothing.
        assert_eq!(outstanding(&[(100, 40), (10, 50)]), 60);
        assert_eq!(outstanding(&[]), 0);
    }

    #[test]
    fn refusal_counts_other_reservations() {
        assert_eq!(refusal(100 * MIB, 300 * MIB, 150 * MIB), None);
        let why = refusal(100 * MIB, 300 * MIB, 250 * MIB).expect("refused");
        assert_eq!(why, "insufficient disk: need 100.0 MiB, have 50.0 MiB");
        // More reserved than free: have nothing.
        let why = refusal(1, 10, 20).expect("refused");
        assert_eq!(why, "insufficient disk: need 1 B, have 0 B");
    }

    #[test]
    fn disk_usage_counts_allocated_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(disk_usage(&dir.path().join("missing")), 0);
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/a"), vec![1u8; 64 << 10]).expect("write");
        assert!(disk_usage(dir.path()) >= 64 << 10);
    }
}
