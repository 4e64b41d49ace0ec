//! The dashboard's API key for scripts (`Authorization: Bearer KEY`): `dmc gui api-key` makes
//! a new one over the control socket, replacing the previous. Only its SHA-256 is kept, in
//! `<data_dir>/gui-api-key.sha256` (0600, written `.part`, fsynced, renamed).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::private_file::{self, Existing};

/// File name of the key's hash in the data dir.
pub const API_KEY_FILE: &str = "gui-api-key.sha256";

/// The SHA-256 of a key.
pub type KeyHash = [u8; 32];

pub fn hash_of(key: &str) -> KeyHash {
    Sha256::digest(key.as_bytes()).into()
}

fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(API_KEY_FILE)
}

/// The stored key's hash; `None` when no key was made (or the file is not a hash: then no key
/// is accepted until a new one is made, and a warning says so).
pub fn load(data_dir: &Path) -> Option<KeyHash> {
    let path = path_in(data_dir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(file = %path.display(), "cannot read the dashboard's API key: {e}");
            return None;
        }
    };
    let hash = hex::decode(text.trim())
        .ok()
        .and_then(|b| KeyHash::try_from(b).ok());
    if hash.is_none() {
        tracing::warn!(
            file = %path.display(),
            "the dashboard's API key file is not a SHA-256; no key is accepted until \
             `dmc gui api-key` makes a new one"
        );
    }
    hash
}

/// Stores `hash` as the key's, replacing the previous one.
pub fn store(data_dir: &Path, hash: &KeyHash) -> io::Result<()> {
    let text = format!("{}\n", hex::encode(hash));
    private_file::write(
        data_dir,
        API_KEY_FILE,
        text.as_bytes(),
        0o600,
        Existing::Replace,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_key_hash_loads_back_and_a_broken_file_accepts_no_key() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()), None);
        let hash = hash_of("secret");
        store(dir.path(), &hash).unwrap();
        assert_eq!(load(dir.path()), Some(hash));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &fs::metadata(path_in(dir.path())).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        fs::write(path_in(dir.path()), "not hex").unwrap();
        assert_eq!(load(dir.path()), None);
    }
}
