//! The network key: 32 secret bytes shared by every node of one dmc network, kept in
//! `<data_dir>/network.key` (mode 0600). Nodes talk only with nodes holding the same key: it
//! keys the Noise handshake's prologue, and the mDNS adverts carry only its fingerprint.
//! `dmc network show` prints it as a join code; `dmc network join CODE` installs one.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// File name of the key inside the data directory.
pub const NETWORK_KEY_FILE: &str = "network.key";
/// Prefix of join codes (the version of their format).
const CODE_PREFIX: &str = "dmc1";
/// Bytes of checksum in a join code, catching typos.
const CHECK_BYTES: usize = 2;
/// RFC 4648 base32 alphabet (no padding).
const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A network key.
#[derive(Clone, PartialEq, Eq)]
pub struct NetworkKey([u8; 32]);

impl std::fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetworkKey(fingerprint {})", self.fingerprint())
    }
}

/// Why a key or a join code could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NetworkKeyError {
    #[error("cannot read the network key {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the network key {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "the network key {} is corrupt; get a join code from another machine of the network \
         (`dmc network show`) and run `dmc network join CODE` here",
        path.display()
    )]
    Corrupt { path: PathBuf },
    #[error("cannot draw random bytes for a new network key: {0}")]
    Random(String),
    #[error("not a join code: {0}; copy the whole code that `dmc network show` prints")]
    BadCode(&'static str),
}

impl NetworkKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        NetworkKey(bytes)
    }

    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, NetworkKeyError> {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(|e| NetworkKeyError::Random(e.to_string()))?;
        Ok(NetworkKey(k))
    }

    /// A short public fingerprint (16 hex digits), what mDNS adverts carry: it tells nodes of
    /// different networks apart and reveals nothing of the key.
    pub fn fingerprint(&self) -> String {
        let h = blake3::derive_key("dmc network fingerprint v1", &self.0);
        hex::encode(&h[..8])
    }

    /// The Noise prologue: both sides of a handshake must use the same one, so only holders of
    /// the key complete it (a different key fails the handshake before any record is sent).
    pub fn noise_prologue(&self) -> Vec<u8> {
        blake3::derive_key("dmc noise prologue v1", &self.0).to_vec()
    }

    /// The join code: `dmc1-` then the key and a checksum in base32, in groups of five.
    pub fn join_code(&self) -> String {
        let mut data = self.0.to_vec();
        data.extend_from_slice(&blake3::hash(&self.0).as_bytes()[..CHECK_BYTES]);
        let b32 = base32(&data);
        let groups: Vec<&str> = b32
            .as_bytes()
            .chunks(5)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!("{CODE_PREFIX}-{}", groups.join("-"))
    }

    /// Parses a join code (case, spaces and dashes do not matter).
    pub fn from_join_code(code: &str) -> Result<Self, NetworkKeyError> {
        if code.len() > 256 {
            return Err(NetworkKeyError::BadCode("too long"));
        }
        let clean: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        let body = clean
            .strip_prefix(&CODE_PREFIX.to_ascii_uppercase())
            .ok_or(NetworkKeyError::BadCode("it does not start with dmc1-"))?;
        let data = unbase32(body).ok_or(NetworkKeyError::BadCode(
            "it has characters outside A-Z and 2-7",
        ))?;
        if data.len() != 32 + CHECK_BYTES {
            return Err(NetworkKeyError::BadCode("it has the wrong length"));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&data[..32]);
        if blake3::hash(&key).as_bytes()[..CHECK_BYTES] != data[32..] {
            return Err(NetworkKeyError::BadCode(
                "its checksum does not match (a typo?)",
            ));
        }
        Ok(NetworkKey(key))
    }
}

fn base32(data: &[u8]) -> String {
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(B32[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn unbase32(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = B32.iter().position(|&x| x == c)? as u32;
        acc = ((acc << 5) | v) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The key file's path in `data_dir`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(NETWORK_KEY_FILE)
}

/// Reads the key, if there is one.
pub fn load(data_dir: &Path) -> Result<Option<NetworkKey>, NetworkKeyError> {
    let path = key_path(data_dir);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(NetworkKeyError::Read { path, source }),
    };
    let code = std::str::from_utf8(&text)
        .ok()
        .filter(|t| t.len() <= 256)
        .ok_or_else(|| NetworkKeyError::Corrupt { path: path.clone() })?;
    match NetworkKey::from_join_code(code.trim()) {
        Ok(k) => Ok(Some(k)),
        Err(_) => Err(NetworkKeyError::Corrupt { path }),
    }
}

/// Loads the key, creating one if there is none; returns whether it was created now.
pub fn load_or_create(data_dir: &Path) -> Result<(NetworkKey, bool), NetworkKeyError> {
    if let Some(k) = load(data_dir)? {
        return Ok((k, false));
    }
    let key = NetworkKey::generate()?;
    store(data_dir, &key)?;
    Ok((key, true))
}

/// Writes `key` as the data dir's network key (`.part`, fsync, rename; mode 0600).
pub fn store(data_dir: &Path, key: &NetworkKey) -> Result<(), NetworkKeyError> {
    let path = key_path(data_dir);
    let part = data_dir.join(format!("{NETWORK_KEY_FILE}.part"));
    let err = |source| NetworkKeyError::Write {
        path: path.clone(),
        source,
    };
    fs::create_dir_all(data_dir).map_err(err)?;
    let _ = fs::remove_file(&part);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&part)
        .map_err(err)?;
    f.write_all(format!("{}\n", key.join_code()).as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(err)?;
    fs::set_permissions(&part, fs::Permissions::from_mode(0o600)).map_err(err)?;
    fs::rename(&part, &path).map_err(err)?;
    if let Ok(dir) = fs::File::open(data_dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_codes_round_trip_and_catch_typos() {
        let k = NetworkKey::from_bytes([42; 32]);
        let code = k.join_code();
        assert!(code.starts_with("dmc1-"), "{code}");
        assert_eq!(NetworkKey::from_join_code(&code).ok(), Some(k.clone()));
        assert_eq!(
            NetworkKey::from_join_code(&code.to_lowercase().replace('-', " ")).ok(),
            Some(k.clone())
        );
        let mut typo = code.clone().into_bytes();
        let last = typo.len() - 3;
        typo[last] = if typo[last] == b'A' { b'B' } else { b'A' };
        let typo = String::from_utf8(typo).unwrap_or_default();
        assert!(NetworkKey::from_join_code(&typo).is_err());
        assert!(NetworkKey::from_join_code("hello").is_err());
        assert!(NetworkKey::from_join_code(&"A".repeat(10_000)).is_err());
    }

    #[test]
    fn fingerprints_and_prologues_differ_per_key_and_hide_it() {
        let a = NetworkKey::from_bytes([1; 32]);
        let b = NetworkKey::from_bytes([2; 32]);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 16);
        assert_ne!(a.noise_prologue(), b.noise_prologue());
        assert!(!a.join_code().contains(&a.fingerprint()));
    }

    #[test]
    fn created_once_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let (k1, created) = load_or_create(dir.path()).unwrap();
        assert!(created);
        let (k2, created) = load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(k1, k2);
        let mode = fs::metadata(key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::write(key_path(dir.path()), "garbage").unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(NetworkKeyError::Corrupt { .. })
        ));
    }
}
