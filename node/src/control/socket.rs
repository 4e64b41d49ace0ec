//! Creating the control socket: refuse a live one, clear a stale one, bind with mode 0600
//! (0660 and the configured group with `[control] group`).

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};

/// Longest socket path the kernel accepts (`sun_path` holds 108 bytes with the final NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How long a probe of an existing socket may take before it counts as live.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the control API could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "another dmc node is already running with data dir {} (it answers on {}); stop it first or pass another --data-dir",
        .data_dir.display(), .socket.display()
    )]
    AlreadyRunning { data_dir: PathBuf, socket: PathBuf },
    #[error("{} exists and is not a socket; move it away or pass another --data-dir", .0.display())]
    NotASocket(PathBuf),
    #[error(
        "control socket path {} is too long ({} bytes, at most {} fit); pass a shorter --data-dir",
        .0.display(), .0.as_os_str().len(), MAX_SOCKET_PATH - 10
    )]
    PathTooLong(PathBuf),
    #[error(
        "[control] group `{0}` does not exist; create it (`groupadd {0}`) and add the users who \
         may run dmc commands (`usermod -aG {0} USER`), or remove the key"
    )]
    NoSuchGroup(String),
    #[error(
        "[control] group `{group}`: {action} failed: {source}; the node's user must own the data \
         dir and be a member of the group (`usermod -aG {group} USER`)"
    )]
    Group {
        group: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("control socket {}: {action} failed: {source}", .path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> ControlError {
    let path = path.to_path_buf();
    move |source| ControlError::Io {
        path,
        action,
        source,
    }
}

/// A bound listener and the guard that removes its socket file.
pub(crate) struct Bound {
    pub listener: UnixListener,
    pub guard: SocketGuard,
}

/// Removes the socket file when dropped, if it is still the one this process created.
pub(crate) struct SocketGuard {
    path: PathBuf,
    dev_ino: Option<(u64, u64)>,
}

impl SocketGuard {
    pub fn remove(mut self) {
        self.remove_now();
    }

    fn remove_now(&mut self) {
        let Some(ours) = self.dev_ino.take() else {
            return;
        };
        match fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == ours => {
                if let Err(e) = fs::remove_file(&self.path) {
                    tracing::warn!(socket = %self.path.display(), error = %e, "could not remove the control socket");
                }
            }
            _ => {}
        }
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.remove_now();
    }
}

/// Binds the control socket at `path` with mode 0600, or with `group`: mode 0660, owned by
/// that group, whose members may then search the socket's directory.
///
/// The socket is bound in a fresh private (0700) directory next to `path`, given its mode (and
/// group) there, then hard-linked into place: no one else can connect before the mode is set,
/// and the link fails rather than replaces if another node created `path` meanwhile.
pub(crate) async fn bind(path: &Path, group: Option<&str>) -> Result<Bound, ControlError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let access = match group {
        Some(name) => {
            let gid = super::group::gid_of(name)?;
            super::group::open_dir_to(dir, name, gid)?;
            for (blocking, mode) in super::group::blocking_ancestors(dir, gid) {
                tracing::warn!(
                    "members of group `{name}` cannot reach the control socket: {} (mode {mode:04o}) \
                     does not let them through; `chmod o+x` it or move the data dir",
                    blocking.display()
                );
            }
            Access::Group { gid }
        }
        None => Access::Owner,
    };
    let tmp_dir = dir.join(format!(".cs{}", std::process::id()));
    let tmp = tmp_dir.join("s");
    for p in [path, tmp.as_path()] {
        if p.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ControlError::PathTooLong(path.to_path_buf()));
        }
    }
    clear_stale(path, dir).await?;

    // Leftovers of an earlier process with the same pid.
    let _ = fs::remove_file(&tmp);
    let _ = fs::remove_dir(&tmp_dir);
    DirBuilder::new()
        .mode(0o700)
        .create(&tmp_dir)
        .map_err(io_err(&tmp_dir, "creating a private directory"))?;
    let linked = bind_and_link(path, &tmp, access, group);
    let _ = fs::remove_file(&tmp);
    let _ = fs::remove_dir(&tmp_dir);
    let listener = match linked {
        Ok(l) => l,
        Err(e) if matches!(&e, ControlError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists) =>
        {
            return Err(ControlError::AlreadyRunning {
                data_dir: dir.to_path_buf(),
                socket: path.to_path_buf(),
            });
        }
        Err(e) => return Err(e),
    };
    let meta = fs::symlink_metadata(path).map_err(io_err(path, "reading"))?;
    let guard = SocketGuard {
        path: path.to_path_buf(),
        dev_ino: Some((meta.dev(), meta.ino())),
    };
    let listener = UnixListener::from_std(listener).map_err(io_err(path, "registering"))?;
    Ok(Bound { listener, guard })
}

/// Who may connect to the socket.
#[derive(Clone, Copy)]
enum Access {
    /// The node's user only: mode 0600.
    Owner,
    /// Also the members of a group: mode 0660 and that group.
    Group { gid: u32 },
}

fn bind_and_link(
    path: &Path,
    tmp: &Path,
    access: Access,
    group: Option<&str>,
) -> Result<std::os::unix::net::UnixListener, ControlError> {
    let listener = std::os::unix::net::UnixListener::bind(tmp).map_err(io_err(tmp, "binding"))?;
    match access {
        Access::Owner => fs::set_permissions(tmp, Permissions::from_mode(0o600))
            .map_err(io_err(tmp, "setting mode 0600"))?,
        Access::Group { gid } => {
            std::os::unix::fs::chown(tmp, None, Some(gid)).map_err(|source| {
                ControlError::Group {
                    group: group.unwrap_or_default().to_string(),
                    action: "giving the socket to the group",
                    source,
                }
            })?;
            fs::set_permissions(tmp, Permissions::from_mode(0o660))
                .map_err(io_err(tmp, "setting mode 0660"))?;
        }
    }
    listener
        .set_nonblocking(true)
        .map_err(io_err(tmp, "setting non-blocking"))?;
    fs::hard_link(tmp, path).map_err(io_err(path, "creating"))?;
    Ok(listener)
}

/// Removes a socket file nothing answers on; refuses if a node answers.
async fn clear_stale(path: &Path, dir: &Path) -> Result<(), ControlError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path, "reading")(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket(path.to_path_buf()));
    }
    let already = || ControlError::AlreadyRunning {
        data_dir: dir.to_path_buf(),
        socket: path.to_path_buf(),
    };
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        // Something accepts, or is too busy to: a node is live there.
        Ok(Ok(_)) | Err(_) => Err(already()),
        Ok(Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
            ) =>
        {
            tracing::info!(socket = %path.display(), "removing a stale control socket left by an earlier node");
            match fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_err(path, "removing the stale socket")(e)),
            }
        }
        Ok(Err(e)) => Err(io_err(path, "probing the existing socket")(e)),
    }
}
