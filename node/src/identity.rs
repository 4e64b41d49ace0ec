//! The node's identity: an Ed25519 libp2p keypair kept in `<data_dir>/identity.key`, created
//! on first start with mode 0600.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use dmc_protocol::NodeId;
use libp2p::identity::Keypair;

/// File name of the key inside the data directory.
pub const IDENTITY_FILE_NAME: &str = "identity.key";
/// Largest key file read (an Ed25519 protobuf encoding is 68 bytes).
const MAX_KEY_BYTES: u64 = 4096;

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error("cannot read the node key {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the node key {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "the node key {} is corrupt ({reason}); restore it from a backup, or delete it to \
         start this node under a new identity",
        path.display()
    )]
    Corrupt { path: PathBuf, reason: String },
}

/// The path of the key file in `data_dir`.
pub fn identity_path(data_dir: &Path) -> PathBuf {
    data_dir.join(IDENTITY_FILE_NAME)
}

/// The node id of a keypair: its libp2p peer id in base58.
pub fn node_id(keypair: &Keypair) -> NodeId {
    NodeId::new(keypair.public().to_peer_id().to_base58())
}

/// Loads the node's keypair, creating the data directory and a new key if there is none.
/// Returns whether the key was created now. A key file readable by others is made private
/// (with a warning); a corrupt one is refused.
pub fn load_or_create(data_dir: &Path) -> Result<(Keypair, bool), IdentityError> {
    let path = identity_path(data_dir);
    match fs::metadata(&path) {
        Ok(meta) => {
            let keypair = load(&path, &meta)?;
            Ok((keypair, false))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let keypair = create(data_dir, &path)?;
            tracing::info!(node_id = %node_id(&keypair), "created a new node key at {}", path.display());
            Ok((keypair, true))
        }
        Err(source) => Err(IdentityError::Read { path, source }),
    }
}

fn load(path: &Path, meta: &fs::Metadata) -> Result<Keypair, IdentityError> {
    let corrupt = |reason: String| IdentityError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if !meta.is_file() {
        return Err(corrupt("not a regular file".into()));
    }
    if meta.len() > MAX_KEY_BYTES {
        return Err(corrupt(format!(
            "{} bytes, far more than a key",
            meta.len()
        )));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            "node key {} was readable by others (mode {:o}); making it private (0600)",
            path.display(),
            mode & 0o777
        );
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|source| {
            IdentityError::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
    }
    let bytes = fs::read(path).map_err(|source| IdentityError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let keypair = Keypair::from_protobuf_encoding(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if keypair.clone().try_into_ed25519().is_err() {
        return Err(corrupt(format!(
            "a {:?} key, expected Ed25519",
            keypair.key_type()
        )));
    }
    Ok(keypair)
}

fn create(data_dir: &Path, path: &Path) -> Result<Keypair, IdentityError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|source| IdentityError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
    let keypair = Keypair::generate_ed25519();
    let write_err = |source| IdentityError::Write {
        path: path.to_path_buf(),
        source,
    };
    let bytes = keypair
        .to_protobuf_encoding()
        .map_err(|e| write_err(io::Error::other(e)))?;
    let part = data_dir.join(format!("{IDENTITY_FILE_NAME}.part"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&part)
        .map_err(write_err)?;
    // A stale .part from an interrupted start may carry other permissions.
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(write_err)?;
    file.write_all(&bytes).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    drop(file);
    fs::rename(&part, path).map_err(write_err)?;
    fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err)?;
    Ok(keypair)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let (a, created) = load_or_create(&data).unwrap();
        assert!(created);
        assert_eq!(mode(&identity_path(&data)), 0o600);
        assert!(!data.join("identity.key.part").exists());
        let (b, created) = load_or_create(&data).unwrap();
        assert!(!created);
        assert_eq!(node_id(&a), node_id(&b));
        assert!(node_id(&a).is_valid());
        assert!(node_id(&a).as_str().starts_with("12D3KooW"));
    }

    #[test]
    fn readable_key_is_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = load_or_create(dir.path()).unwrap();
        let path = identity_path(dir.path());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let (b, created) = load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(node_id(&a), node_id(&b));
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn corrupt_key_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = identity_path(dir.path());
        fs::write(&path, b"not a key").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert!(matches!(err, IdentityError::Corrupt { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        // The corrupt file is left for the user to inspect.
        assert_eq!(fs::read(&path).unwrap(), b"not a key");
    }

    #[test]
    fn empty_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(identity_path(dir.path()), b"").unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(IdentityError::Corrupt { .. })
        ));
    }
}
