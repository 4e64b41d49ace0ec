//! The dashboard's password (`dmc gui set-password`): kept only as an argon2id hash (a PHC
//! string) in `<data_dir>/gui-password.argon2` (0600). The node reads it at every password
//! login, so a new password counts at once, without a restart; a node whose `[gui] listen`
//! is not loopback refuses to start without one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use super::private_file::{self, Existing};

/// File name of the password's hash in the data dir.
pub const PASSWORD_FILE: &str = "gui-password.argon2";
/// Fewest characters a password has: the dashboard may face the LAN.
pub const MIN_CHARS: usize = 12;
/// Most bytes of a password (a bound on input, far above any typed one).
pub const MAX_BYTES: usize = 1024;
/// Largest argon2 memory cost (KiB) a stored hash may ask for: a hand-edited file cannot make
/// each login take gigabytes.
const MAX_MEMORY_KIB: u32 = 256 * 1024;
/// Largest argon2 time cost and parallelism a stored hash may ask for.
const MAX_PASSES: u32 = 16;
const MAX_LANES: u32 = 8;

/// Where the hash is kept.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(PASSWORD_FILE)
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is {0} characters long; it needs at least {MIN_CHARS}")]
    TooShort(usize),
    #[error("the password is longer than {MAX_BYTES} bytes")]
    TooLong,
    #[error("the password is empty")]
    Empty,
    #[error("the operating system's random source failed: {0}")]
    NoRandom(String),
    #[error("argon2: {0}")]
    Hash(String),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "{} is not an argon2id hash that dmc made ({why}); run `dmc gui set-password` to set \
         the password again",
        path.display()
    )]
    NotAHash { path: PathBuf, why: String },
    #[error("cannot store the password's hash in {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

/// Checks a new password against the length rules.
pub fn check_new(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars == 0 {
        return Err(PasswordError::Empty);
    }
    if password.len() > MAX_BYTES {
        return Err(PasswordError::TooLong);
    }
    if chars < MIN_CHARS {
        return Err(PasswordError::TooShort(chars));
    }
    Ok(())
}

/// The argon2id hash (PHC string) of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::NoRandom(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks that `password` is a new password and stores its hash in `data_dir`, replacing the
/// previous one.
pub fn set(data_dir: &Path, password: &str) -> Result<PathBuf, PasswordError> {
    check_new(password)?;
    let phc = hash(password)?;
    let path = path_in(data_dir);
    private_file::write(
        data_dir,
        PASSWORD_FILE,
        format!("{phc}\n").as_bytes(),
        0o600,
        Existing::Replace,
    )
    .map_err(|source| PasswordError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The stored hash, checked to be one dmc would make; `None` when no password was set.
pub fn load(data_dir: &Path) -> Result<Option<String>, PasswordError> {
    let path = path_in(data_dir);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PasswordError::Read { path, source }),
    };
    let phc = text.trim().to_string();
    check_stored(&phc).map_err(|why| PasswordError::NotAHash { path, why })?;
    Ok(Some(phc))
}

/// Whether `phc` is an argon2id hash within the cost bounds.
fn check_stored(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| e.to_string())?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!("its algorithm is {}", parsed.algorithm));
    }
    let params = argon2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
    if params.m_cost() > MAX_MEMORY_KIB
        || params.t_cost() > MAX_PASSES
        || params.p_cost() > MAX_LANES
    {
        return Err("its costs are above dmc's bounds".into());
    }
    if parsed.hash.is_none() {
        return Err("it holds no hash".into());
    }
    Ok(())
}

/// Whether `password` is the one whose hash is `phc` (a hash [`load`] gave). Takes tens of
/// milliseconds: call it off the async threads.
pub fn verify(phc: &str, password: &str) -> bool {
    if password.is_empty() || password.len() > MAX_BYTES {
        return false;
    }
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_set_password_verifies_and_only_its_hash_is_kept_0600() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        set(dir.path(), "correct horse battery").unwrap();
        let stored = fs::read_to_string(path_in(dir.path())).unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("horse"));
        let mode = fs::metadata(path_in(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let phc = load(dir.path()).unwrap().unwrap();
        assert!(verify(&phc, "correct horse battery"));
        assert!(!verify(&phc, "correct horse battery "));
        assert!(!verify(&phc, ""));
    }

    #[test]
    fn short_long_and_empty_passwords_are_refused_saying_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        let short = set(dir.path(), "elevenchars").unwrap_err().to_string();
        assert!(
            short.contains("11 characters") && short.contains("at least 12"),
            "{short}"
        );
        assert!(matches!(check_new(""), Err(PasswordError::Empty)));
        assert!(matches!(
            check_new(&"x".repeat(MAX_BYTES + 1)),
            Err(PasswordError::TooLong)
        ));
        assert!(check_new("twelve chars").is_ok());
        assert!(!path_in(dir.path()).exists());
    }

    #[test]
    fn a_file_that_is_not_an_argon2id_hash_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "hunter2",
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            fs::write(path_in(dir.path()), text).unwrap();
            let err = load(dir.path()).unwrap_err().to_string();
            assert!(
                err.contains(PASSWORD_FILE) && err.contains("set-password"),
                "{err}"
            );
        }
    }
}
