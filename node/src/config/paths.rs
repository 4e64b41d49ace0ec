//! Paths in the configuration: `~` expansion and paths relative to the data directory.

use std::path::{Path, PathBuf};

/// `$HOME`, unless unset or empty.
pub(super) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Expands a leading `~` or `~/` with `home`, then makes relative paths relative to `base`.
pub(super) fn resolve_path(raw: &str, base: &Path, home: Option<&Path>) -> Result<PathBuf, String> {
    let expanded = if raw == "~" || raw.starts_with("~/") {
        let home = home.ok_or("`~` needs HOME to be set; set HOME or give an absolute path")?;
        match raw.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => home.to_path_buf(),
        }
    } else if raw.starts_with('~') {
        return Err(format!(
            "`{raw}`: only `~` and `~/` are expanded; give an absolute path"
        ));
    } else {
        PathBuf::from(raw)
    };
    Ok(if expanded.is_absolute() {
        expanded
    } else {
        base.join(expanded)
    })
}
