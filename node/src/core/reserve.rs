//! Disk room a converter has promised to its running jobs: a job reserves the source it
//! fetches and an estimate of its output when it starts (about to fetch), not while it only
//! waits in the queue; `[converter] reserve_bytes` is kept free once, for the whole work dir.
//! An item is accepted if it would fit beside the running jobs, and started only once it
//! does. A reservation ends with its job.

use std::collections::HashMap;
use std::path::Path;

use dmc_protocol::schedule::disk_refusal;
use dmc_protocol::{Epoch, ItemId};

/// A job's key: (item, epoch).
pub(crate) type JobKey = (ItemId, Epoch);

/// Bytes one job needs in the work dir: the source unless it is already on this node (the
/// converter's own offer is read in place), plus the estimated output; a job converted in
/// `segmented` form also needs its segment store: the cuts (at most the source's size) and the
/// encoded segments (as large as the output).
pub(crate) fn need(source_size: u64, source_here: bool, segmented: bool) -> u64 {
    let whole =
        (if source_here { 0 } else { source_size }).saturating_add(estimate_output(source_size));
    if segmented {
        whole
            .saturating_add(source_size)
            .saturating_add(estimate_output(source_size))
    } else {
        whole
    }
}

/// Estimated size of a conversion's output: as large as the source (the built-in profiles
/// re-encode at similar or lower rates).
pub(crate) fn estimate_output(source_size: u64) -> u64 {
    source_size
}

/// Why a job needing `need` bytes cannot be taken with `free` bytes free on the work dir's
/// file system while running jobs still need `outstanding` of them and `margin` (the
/// `[converter] reserve_bytes`) stays free.
pub(crate) fn refusal(need: u64, free: u64, outstanding: u64, margin: u64) -> Option<String> {
    disk_refusal(
        need,
        free.saturating_sub(outstanding).saturating_sub(margin),
    )
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
    fn need_is_source_plus_estimated_output() {
        assert_eq!(need(100 * MIB, false, false), 200 * MIB);
        // The converter's own offer is read in place: no copy of the source.
        assert_eq!(need(100 * MIB, true, false), 100 * MIB);
        assert_eq!(estimate_output(7), 7);
        assert_eq!(need(u64::MAX, false, false), u64::MAX);
        // In segments: the cuts and the encoded segments besides.
        assert_eq!(need(100 * MIB, false, true), 400 * MIB);
        assert_eq!(need(100 * MIB, true, true), 300 * MIB);
        assert_eq!(need(u64::MAX, false, true), u64::MAX);
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
        assert_eq!(r.release(&key(1)), Some(30 * MIB));
        assert_eq!(r.release(&key(1)), None);
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
    fn refusal_counts_other_reservations_and_the_margin_once() {
        assert_eq!(refusal(100 * MIB, 300 * MIB, 150 * MIB, 0), None);
        let why = refusal(100 * MIB, 300 * MIB, 250 * MIB, 0).expect("refused");
        assert_eq!(why, "insufficient disk: need 100.0 MiB, have 50.0 MiB");
        // The margin is kept free once, whatever the number of jobs.
        assert_eq!(refusal(100 * MIB, 300 * MIB, 150 * MIB, 50 * MIB), None);
        let why = refusal(100 * MIB, 300 * MIB, 150 * MIB, 51 * MIB).expect("refused");
        assert_eq!(why, "insufficient disk: need 100.0 MiB, have 99.0 MiB");
        // More reserved than free: have nothing.
        let why = refusal(1, 10, 20, 0).expect("refused");
        assert_eq!(why, "insufficient disk: need 1 B, have 0 B");
    }

    #[test]
    fn two_hundred_small_jobs_fit_where_their_margins_would_not() {
        // 200 photos of 2 MiB on a work dir with 69 GiB free and a 1 GiB margin: each fits
        // beside all the others (a margin per job would have needed 200 GiB).
        let (free, margin) = (69 << 30, 1 << 30);
        let each = need(2 * MIB, false, false);
        let outstanding = 199 * each;
        assert_eq!(refusal(each, free, outstanding, margin), None);
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
