//! `[control] group`: finding the group, and letting it reach the socket (its directory gets
//! the group and `g+x`; directories above are checked).

use std::ffi::CString;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::socket::ControlError;

/// Largest buffer tried for a `getgrnam_r` entry (groups with very many members).
const MAX_GROUP_BUF: usize = 1 << 20;

/// The id of the group called `name`.
pub(crate) fn gid_of(name: &str) -> Result<u32, ControlError> {
    let missing = || ControlError::NoSuchGroup(name.to_string());
    let c_name = CString::new(name).map_err(|_| missing())?;
    let mut buf_len = 1024usize;
    loop {
        let mut buf = vec![0 as libc::c_char; buf_len];
        // SAFETY: zeroed is a valid `group`; every pointer is valid for the call.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                c_name.as_ptr(),
                &mut grp,
                buf.as_mut_ptr(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf_len < MAX_GROUP_BUF {
            buf_len *= 4;
            continue;
        }
        if rc != 0 {
            return Err(ControlError::Group {
                group: name.to_string(),
                action: "looking it up",
                source: io::Error::from_raw_os_error(rc),
            });
        }
        if found.is_null() {
            return Err(missing());
        }
        return Ok(grp.gr_gid);
    }
}

/// Gives `dir` (the socket's directory) to group `gid` with search permission only (`g=x`,
/// e.g. 0710), so members can reach the socket without listing anything there; a group read or
/// write bit (a data dir made 0750 by an older unit or install) is taken away.
pub(crate) fn open_dir_to(dir: &Path, group: &str, gid: u32) -> Result<(), ControlError> {
    let err = |action: &'static str| {
        move |source: io::Error| ControlError::Group {
            group: group.to_string(),
            action,
            source,
        }
    };
    let meta = std::fs::metadata(dir).map_err(err("reading the data dir"))?;
    if meta.gid() != gid {
        std::os::unix::fs::chown(dir, None, Some(gid))
            .map_err(err("giving the data dir to the group"))?;
    }
    let mode = meta.permissions().mode() & 0o7777;
    let wanted = (mode & !0o070) | 0o010;
    if mode != wanted {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(wanted))
            .map_err(err("letting the group only search the data dir (g=x)"))?;
    }
    Ok(())
}

/// The directories above `dir` that group `gid` cannot pass through (neither `o+x`, nor the
/// group's own with `g+x`). Members would get "permission denied" at the socket.
pub(crate) fn blocking_ancestors(dir: &Path, gid: u32) -> Vec<(std::path::PathBuf, u32)> {
    let Ok(dir) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    dir.ancestors()
        .skip(1)
        .filter_map(|a| {
            let m = std::fs::metadata(a).ok()?;
            let mode = m.permissions().mode();
            let passes = mode & 0o001 != 0 || (m.gid() == gid && mode & 0o010 != 0);
            (!passes).then(|| (a.to_path_buf(), mode & 0o7777))
        })
        .collect()
}
