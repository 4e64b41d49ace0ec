//! The network key check: present in the data dir, readable, its fingerprint, private (mode
//! 0600: whoever reads it can join the network), and the one the running node uses (a key
//! joined since it started needs a restart).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Check, Status};
use crate::network_key::{self, key_path};

const NAME: &str = "network key";

/// How to restart a node so it reads its data dir's key again.
pub const RESTART: &str = "restart the node to use it (`systemctl restart dmc`, `systemctl \
                           --user restart dmc`, or stop and start `dmc node`)";

/// Whether `<data_dir>/network.key` holds another key than `running` (the fingerprint the
/// running node started with): one joined or made since, used only after a restart.
pub fn changed_since_start(data_dir: &Path, running: Option<&str>) -> bool {
    match (network_key::load(data_dir), running) {
        (Ok(Some(k)), Some(fp)) => k.fingerprint() != fp,
        _ => false,
    }
}

/// Checks `<data_dir>/network.key`, and, where a node runs, that it runs with that key
/// (`running`: the fingerprint it reports).
pub fn check(data_dir: &Path, running: Option<&str>) -> Check {
    let c = check_file(data_dir);
    match running {
        Some(fp) if c.status == Status::Ok && changed_since_start(data_dir, running) => {
            Check::warn(
                NAME,
                format!(
                    "{}; the running node still uses network {fp}: the key changed since it \
                     started",
                    c.detail
                ),
                format!("a new key waits in the data dir: {RESTART}"),
            )
        }
        _ => c,
    }
}

/// Checks the key file alone.
fn check_file(data_dir: &Path) -> Check {
    let path = key_path(data_dir);
    let key = match network_key::load(data_dir) {
        Ok(Some(k)) => k,
        Ok(None) => {
            return Check::warn(
                NAME,
                format!("no network key at {}", path.display()),
                format!(
                    "start the node once (it makes a key: a new network of its own), or join \
                     an existing network: run `dmc network show` on a machine of it and \
                     `dmc --data-dir {} network join CODE` here",
                    data_dir.display()
                ),
            )
        }
        Err(e) => {
            return Check::fail(
                NAME,
                e.to_string(),
                "get a join code from a machine of your network (`dmc network show`) and run \
                 `dmc network join CODE` here; if the file is unreadable, check its owner",
            )
        }
    };
    let mode = match std::fs::metadata(&path) {
        Ok(m) => m.permissions().mode() & 0o7777,
        Err(e) => {
            return Check::fail(
                NAME,
                format!("cannot read {}: {e}", path.display()),
                "check the file's owner: it must be the node's user",
            )
        }
    };
    let detail = format!(
        "fingerprint {} in {} (mode {mode:04o})",
        key.fingerprint(),
        path.display()
    );
    if mode & 0o077 != 0 {
        return Check::fail(
            NAME,
            format!("{detail}: other users can read it and join the network"),
            format!(
                "chmod 600 {}; if others may have copied it, make a new key (`dmc network new \
                 --force`) and join every machine to it",
                path.display()
            ),
        );
    }
    Check::ok(NAME, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network_key::{load_or_create, NetworkKey};
    use std::fs;

    #[test]
    fn present_private_key_is_ok_with_its_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, _) = load_or_create(dir.path()).expect("key");
        let c = check(dir.path(), None);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.detail.contains(&key.fingerprint()), "{c:?}");
        assert!(c.detail.contains("mode 0600"), "{c:?}");
        assert!(c.fix.is_none());
    }

    #[test]
    fn missing_key_says_how_to_get_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = check(dir.path(), None);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        let fix = c.fix.unwrap_or_default();
        assert!(fix.contains("start the node once"), "{fix}");
        assert!(fix.contains("network join CODE"), "{fix}");
    }

    #[test]
    fn readable_by_others_or_corrupt_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = NetworkKey::from_bytes([7; 32]);
        fs::write(key_path(dir.path()), format!("{}\n", key.join_code())).expect("write");
        fs::set_permissions(key_path(dir.path()), fs::Permissions::from_mode(0o644))
            .expect("chmod");
        let c = check(dir.path(), None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("mode 0644"), "{c:?}");
        assert!(c.detail.contains(&key.fingerprint()), "{c:?}");
        assert!(c
            .fix
            .as_deref()
            .is_some_and(|f| f.starts_with("chmod 600 ")));

        fs::write(key_path(dir.path()), "garbage").expect("write");
        let c = check(dir.path(), None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("corrupt"), "{c:?}");
    }

    #[test]
    fn a_key_joined_since_the_node_started_asks_for_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, _) = load_or_create(dir.path()).expect("key");
        let fp = key.fingerprint();
        assert_eq!(check(dir.path(), Some(&fp)).status, Status::Ok);
        assert!(!changed_since_start(dir.path(), Some(&fp)));
        let c = check(dir.path(), Some("0123456789abcdef"));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.detail.contains("still uses network 0123456789abcdef"),
            "{c:?}"
        );
        assert!(c
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("restart the node")));
        assert!(changed_since_start(dir.path(), Some("0123456789abcdef")));
    }
}
