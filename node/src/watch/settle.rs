//! Waiting for files to settle: a file is ready once its key (device, inode, size, mtime)
//! has stayed the same for the `settle` time. Time is passed in, so this is plain logic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::FileKey;

/// Most files followed at once; more wait for a later scan.
pub const MAX_TRACKED: usize = 10_000;

/// Files seen but not yet settled.
#[derive(Debug)]
pub struct Settler {
    settle: Duration,
    files: HashMap<PathBuf, (FileKey, Instant)>,
}

impl Settler {
    pub fn new(settle: Duration) -> Self {
        Settler {
            settle,
            files: HashMap::new(),
        }
    }

    /// Notes `path` with its current key (`None`: gone or not a regular non-empty file). A
    /// changed key starts the wait again. Returns false when the file could not be followed
    /// (too many already).
    pub fn observe(&mut self, path: &Path, key: Option<FileKey>, now: Instant) -> bool {
        let Some(key) = key else {
            self.files.remove(path);
            return true;
        };
        let full = self.files.len() >= MAX_TRACKED;
        match self.files.get_mut(path) {
            Some((k, since)) => {
                if *k != key {
                    *k = key;
                    *since = now;
                }
                true
            }
            None if !full => {
                self.files.insert(path.to_path_buf(), (key, now));
                true
            }
            None => false,
        }
    }

    /// The files followed now.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Removes and returns the files whose key has not changed for the settle time.
    pub fn take_settled(&mut self, now: Instant) -> Vec<(PathBuf, FileKey)> {
        let settle = self.settle;
        let ready: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(_, (_, since))| now.saturating_duration_since(*since) >= settle)
            .map(|(p, _)| p.clone())
            .collect();
        ready
            .into_iter()
            .filter_map(|p| self.files.remove(&p).map(|(k, _)| (p, k)))
            .collect()
    }

    /// Forgets a file (offered, or found already offered).
    pub fn forget(&mut self, path: &Path) {
        self.files.remove(path);
    }
}
