//! Moving files between nodes: hashing in one pass ([`hash`]), answering manifest and chunk
//! requests ([`serve`]), and pulling a file into a verified, resumable `.part` ([`pull`]);
//! [`counters`] counts the bytes moved.

pub mod counters;
pub mod hash;
mod pace;
mod part_file;
pub mod pull;
pub mod serve;
pub mod sha512;

pub use hash::{
    hash_file, hash_open, mtime_ns, open_nofollow, sha512_unchanged, FileId, HashedFile, Hashes,
    Unchanged,
};
pub use pull::{pull_file_with, PullError, PullOptions, PullStats, RemoteFile};
pub use serve::{manifest_page, read_chunk, ServedFile};

#[cfg(test)]
mod tests;
