//! The control socket check: the socket file exists, a node answers on it (the CLI asks and
//! passes the answer in), and who may use it (its mode and group).

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::Check;
use crate::control::api::UpgradingView;
use crate::control::socket_path;

const NAME: &str = "control socket";
/// Most bytes of /etc/group read to name a group.
const MAX_GROUP_FILE: u64 = 1 << 20;

/// What asking the node on the socket gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeAnswer {
    /// It answered `GET /v1/info`; `upgrading` while its first start after an upgrade fills
    /// in the database.
    Answered {
        name: String,
        version: String,
        upgrading: Option<UpgradingView>,
    },
    /// Nothing listens: no socket file, or connection refused.
    NoNode,
    /// Something else went wrong (permission denied, timeout, …): the message.
    Failed(String),
}

/// The name of group `gid` from /etc/group, if listed there.
fn group_name(gid: u32) -> Option<String> {
    let mut text = String::new();
    std::fs::File::open("/etc/group")
        .ok()?
        .take(MAX_GROUP_FILE)
        .read_to_string(&mut text)
        .ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        (f.next()?.parse::<u32>().ok()? == gid).then(|| name.to_string())
    })
}

/// How to start a node for `data_dir`.
fn start_fix(data_dir: &Path) -> String {
    format!(
        "start one: dmc --data-dir {} node (where dmc is installed as a service: systemctl \
         --user start dmc, or for the system node sudo systemctl start dmc and pass --data-dir \
         /var/lib/dmc)",
        data_dir.display()
    )
}

/// The socket of the node with `data_dir`, given what asking it gave, and the group that
/// should own it (`[control] group`, where the config has it). No node running is a failure:
/// nothing (offers, peers, conversions) works without one.
pub fn check(data_dir: &Path, answer: &NodeAnswer, expected_group: Option<&str>) -> Check {
    let path = socket_path(data_dir);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(_) => {
            return Check::fail(
                NAME,
                format!("no node running: there is no socket {}", path.display()),
                start_fix(data_dir),
            )
        }
    };
    if !meta.file_type().is_socket() {
        return Check::fail(
            NAME,
            format!("{} exists but is not a socket", path.display()),
            format!(
                "move {} away (the node will not start while it is there)",
                path.display()
            ),
        );
    }
    let mode = meta.permissions().mode() & 0o777;
    let group = group_name(meta.gid()).unwrap_or_else(|| meta.gid().to_string());
    let access = format!("mode {mode:04o}, group {group}");
    match answer {
        NodeAnswer::NoNode => Check::fail(
            NAME,
            format!(
                "no node running: {} is left from an earlier node, nothing answers on it",
                path.display()
            ),
            format!("{} (it removes the stale socket)", start_fix(data_dir)),
        ),
        NodeAnswer::Failed(e) => Check::fail(
            NAME,
            format!("{} ({access}): {e}", path.display()),
            "run dmc as the node's user or as a member of the socket's group (for the system \
             service: sudo usermod -aG dmc $USER, then log in again); if the node is stuck, \
             check its log (journalctl -u dmc) and restart it",
        ),
        NodeAnswer::Answered {
            name,
            version,
            upgrading,
        } => {
            let detail = format!(
                "node {name} (dmc {version}) answers on {} ({access})",
                path.display()
            );
            if let Some(up) = upgrading {
                Check::warn(
                    NAME,
                    format!("{detail}, but it is {}", up.text()),
                    "wait until it is done (it answers status and list meanwhile, and takes \
                     offers, cancels and questions about peers after); `dmc status` shows how \
                     far it got",
                )
            } else if let Some(want) = expected_group.filter(|g| *g != group) {
                Check::warn(
                    NAME,
                    format!("{detail}, but [control] group is {want}"),
                    format!(
                        "restart the node so it gives the socket to group {want}; check that \
                         the group exists (getent group {want}) and the node's user is in it"
                    ),
                )
            } else if mode & 0o007 != 0 {
                Check::warn(
                    NAME,
                    format!("{detail}: every user of this machine can control the node"),
                    "restart the node: it binds its socket with mode 0600",
                )
            } else if version != env!("CARGO_PKG_VERSION") {
                Check::warn(
                    NAME,
                    format!("{detail}, but this dmc is {}", env!("CARGO_PKG_VERSION")),
                    "restart the node so it runs the installed dmc (e.g. systemctl restart dmc)",
                )
            } else {
                Check::ok(NAME, detail)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn answered() -> NodeAnswer {
        NodeAnswer::Answered {
            name: "box".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            upgrading: None,
        }
    }

    #[test]
    fn no_socket_is_no_node_with_how_to_start_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = check(dir.path(), &NodeAnswer::NoNode, None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.starts_with("no node running"), "{c:?}");
        assert!(
            c.fix.as_deref().is_some_and(|f| f.contains("node")),
            "{c:?}"
        );
    }

    #[test]
    fn a_live_socket_reports_mode_and_group() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = socket_path(dir.path());
        let _l = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let c = check(dir.path(), &answered(), None);
        assert_eq!(c.status, Status::Ok, "{c:?}");
        assert!(c.detail.contains("mode 0600, group "), "{c:?}");

        // The group the config names must own it.
        let gid = std::fs::metadata(&path).expect("stat").gid();
        let own = group_name(gid).unwrap_or_else(|| gid.to_string());
        let c = check(dir.path(), &answered(), Some(&own));
        assert_eq!(c.status, Status::Ok, "{c:?}");
        let c = check(dir.path(), &answered(), Some("dmc-nobody"));
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.detail.ends_with("but [control] group is dmc-nobody"),
            "{c:?}"
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let c = check(dir.path(), &answered(), None);
        assert_eq!(c.status, Status::Warn, "{c:?}");

        let c = check(dir.path(), &NodeAnswer::NoNode, None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("left from an earlier node"), "{c:?}");

        let c = check(
            dir.path(),
            &NodeAnswer::Failed("permission denied".into()),
            None,
        );
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("permission denied"), "{c:?}");
    }

    /// A node filling in an upgraded database answers; the check says how far it got.
    #[test]
    fn a_node_that_is_upgrading_is_a_warning_that_says_how_far() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = socket_path(dir.path());
        let _l = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let answer = NodeAnswer::Answered {
            name: "box".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            upgrading: Some(UpgradingView {
                done: 512,
                total: 100_000,
            }),
        };
        let c = check(dir.path(), &answer, None);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(
            c.detail
                .ends_with("but it is upgrading the database: 512 of 100000 items"),
            "{c:?}"
        );
    }

    #[test]
    fn a_plain_file_is_not_a_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(socket_path(dir.path()), b"").expect("write");
        let c = check(dir.path(), &NodeAnswer::NoNode, None);
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("not a socket"), "{c:?}");
        assert_eq!(group_name(0).as_deref(), Some("root"));
    }
}
