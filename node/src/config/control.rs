//! `[control]`: who besides the node's user may use the control socket.

use super::error::{fault, Fault};

/// `[control] group`: a plain system group name (whether it exists is checked when the
/// socket is made).
pub(super) fn group_name(g: String) -> Result<String, Fault> {
    let ok = !g.is_empty()
        && g.len() <= 32
        && !g.starts_with('-')
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        return Err(fault(
            "control.group",
            None,
            format!(
                "`{g}` is not a group name (letters, digits, `_`, `-`, `.`, at most 32, not \
                 starting with `-`); remove the key to allow only this node's user"
            ),
        ));
    }
    Ok(g)
}
