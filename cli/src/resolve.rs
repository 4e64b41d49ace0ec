//! Turning an item argument (a full id or a unique prefix) into an item id.

use anyhow::{bail, Result};
use dmc_protocol::ItemId;

use dmc_node::control::api::ListQuery;

use crate::client::Client;

/// Ids an ambiguous prefix's error names.
const PREFIX_MATCHES_SHOWN: usize = 5;

/// Resolves `arg`: a full item id as is, else a unique prefix among every item the node knows.
pub async fn resolve_item(client: &Client, arg: &str) -> Result<ItemId> {
    if let Some(id) = ItemId::parse(arg) {
        return Ok(id);
    }
    let prefix = normalize_prefix(arg)?;
    // The node finds the ids; a handful is enough to tell one from several.
    let page = client
        .list(&ListQuery {
            all: true,
            limit: Some(PREFIX_MATCHES_SHOWN as u32 + 1),
            offset: None,
            prefix: Some(prefix.clone()),
            ..Default::default()
        })
        .await?;
    match_prefix(
        page.items.iter().map(|i| i.item_id),
        arg,
        &prefix,
        page.total,
    )
}

/// Lower-cased hex digits of a prefix, or why it cannot be one.
pub fn normalize_prefix(arg: &str) -> Result<String> {
    let prefix: String = arg
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if prefix.is_empty() || prefix.len() > 32 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{arg:?} is not an item id or the start of one; `dmc list --all` shows item ids");
    }
    Ok(prefix)
}

/// The one id among `ids` that starts with `prefix` (hex digits, no dashes); `total` is how
/// many ids the node says match (`ids` may hold only the first few of them).
pub fn match_prefix(
    ids: impl IntoIterator<Item = ItemId>,
    arg: &str,
    prefix: &str,
    total: u64,
) -> Result<ItemId> {
    let mut found: Vec<ItemId> = ids
        .into_iter()
        .filter(|id| id.0.simple().to_string().starts_with(prefix))
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] if total <= 1 => Ok(*one),
        [] => bail!("no item id starts with {arg}; `dmc list --all` shows every item"),
        many => {
            let count = total.max(many.len() as u64);
            let shown: Vec<String> = many
                .iter()
                .take(PREFIX_MATCHES_SHOWN)
                .map(|i| i.to_string())
                .collect();
            bail!(
                "{arg} matches {count} items ({}{}); give more of the id",
                shown.join(", "),
                if count > PREFIX_MATCHES_SHOWN as u64 {
                    ", …"
                } else {
                    ""
                }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ItemId {
        ItemId::parse(s).unwrap()
    }

    #[test]
    fn prefixes_resolve_when_unique() {
        let ids = [
            id("7f1c2a90-1111-4222-8333-444455556666"),
            id("7f2d0000-1111-4222-8333-444455556666"),
        ];
        let p = normalize_prefix("7F1C").unwrap();
        assert_eq!(match_prefix(ids, "7F1C", &p, 1).unwrap(), ids[0]);
        let p = normalize_prefix("7f1c2a90-11").unwrap();
        assert_eq!(match_prefix(ids, "7f1c2a90-11", &p, 1).unwrap(), ids[0]);
        let err = match_prefix(ids, "7f", "7f", 2).unwrap_err().to_string();
        assert!(err.contains("matches 2 items"), "{err}");
        let err = match_prefix(ids, "00", "00", 0).unwrap_err().to_string();
        assert!(err.contains("no item id starts with 00"), "{err}");
        assert!(normalize_prefix("clip.mp4").is_err());
        assert!(normalize_prefix("").is_err());
    }
}
