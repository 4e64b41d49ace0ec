//! The dashboard's HTTPS certificate: self-signed, made once in the data dir
//! (`gui-tls.crt`, PEM; its private key `gui-tls.key`, 0600) and kept, so the fingerprint
//! that `dmc gui` prints stays the same across restarts. rustls with the ring provider.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::private_file::{self, Existing};

/// File name of the certificate (PEM) in the data dir.
pub const CERT_FILE: &str = "gui-tls.crt";
/// File name of its private key (PEM, 0600) in the data dir.
pub const KEY_FILE: &str = "gui-tls.key";

/// The certificate the dashboard serves, ready for rustls.
#[derive(Clone)]
pub struct TlsIdentity {
    pub server: Arc<rustls::ServerConfig>,
    /// SHA-256 of the certificate (DER), as `AB:CD:…` (how browsers show it).
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{} is there but {} is not; move the other away too and restart, and the node makes \
         a new certificate (its fingerprint changes)",
        there.display(), missing.display()
    )]
    HalfPair { there: PathBuf, missing: PathBuf },
    #[error("{} is not a PEM {what}: {why}", path.display())]
    NotPem {
        path: PathBuf,
        what: &'static str,
        why: String,
    },
    #[error("cannot make the dashboard's certificate: {0}")]
    Generate(String),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("the certificate in {} does not fit its key: {why}", path.display())]
    Unusable { path: PathBuf, why: String },
}

/// The certificate in `data_dir`, made first (for `names`) when neither file is there.
pub fn load_or_create(data_dir: &Path, names: Vec<String>) -> Result<TlsIdentity, TlsError> {
    let cert_path = data_dir.join(CERT_FILE);
    let key_path = data_dir.join(KEY_FILE);
    match (cert_path.exists(), key_path.exists()) {
        (false, false) => create(data_dir, names)?,
        (true, false) => return Err(half(cert_path, key_path)),
        (false, true) => return Err(half(key_path, cert_path)),
        (true, true) => {}
    }
    load(&cert_path, &key_path)
}

fn half(there: PathBuf, missing: PathBuf) -> TlsError {
    TlsError::HalfPair { there, missing }
}

/// Makes a key and a self-signed certificate for `names` and writes both (key first).
fn create(data_dir: &Path, names: Vec<String>) -> Result<(), TlsError> {
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let files = [
        (KEY_FILE, made.key_pair.serialize_pem(), 0o600),
        (CERT_FILE, made.cert.pem(), 0o644),
    ];
    for (name, pem, mode) in files {
        private_file::write(data_dir, name, pem.as_bytes(), mode, Existing::Keep).map_err(
            |source| TlsError::Write {
                path: data_dir.join(name),
                source,
            },
        )?;
    }
    tracing::info!(file = %data_dir.join(CERT_FILE).display(), "made the dashboard's HTTPS certificate");
    Ok(())
}

fn load(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity, TlsError> {
    let read = |path: &Path| {
        fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_path_buf(),
            source,
        })
    };
    let cert = CertificateDer::from_pem_slice(&read(cert_path)?).map_err(|e| TlsError::NotPem {
        path: cert_path.to_path_buf(),
        what: "certificate",
        why: e.to_string(),
    })?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|e| TlsError::NotPem {
        path: key_path.to_path_buf(),
        what: "private key",
        why: e.to_string(),
    })?;
    let fingerprint = fingerprint_of(&cert);
    let unusable = |why: String| TlsError::Unusable {
        path: cert_path.to_path_buf(),
        why,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| unusable(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| unusable(e.to_string()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsIdentity {
        server: Arc::new(server),
        fingerprint,
    })
}

/// The SHA-256 of a certificate's DER bytes, as upper-case hex pairs joined by `:`.
pub fn fingerprint_of(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_certificate_is_made_once_and_kept_with_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), vec!["localhost".into()]).unwrap();
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = load_or_create(dir.path(), vec!["other".into()]).unwrap();
        assert_eq!(again.fingerprint, first.fingerprint, "kept, not made again");
    }

    #[test]
    fn half_a_pair_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path(), vec!["localhost".into()]).unwrap();
        let cert = fs::read(dir.path().join(CERT_FILE)).unwrap();
        fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        let err = load_or_create(dir.path(), vec![])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(KEY_FILE) && err.contains("move the other away"),
            "{err}"
        );
        assert_eq!(fs::read(dir.path().join(CERT_FILE)).unwrap(), cert);
    }
}
