//! Turning an item argument (a full id or a unique prefix) into an item id.

use anyhow::{bail, Result};
use dmc_protocol::ItemId;

use crate::client::Client;

/// Resolves `arg`: a full item id as is, else a unique prefix among every item the node knows.
pub async fn resolve_item(client: &Client, arg: &str) -> Result<ItemId> {
    if let Some(id) = ItemId::parse(arg) {
        return Ok(id);
    }
    let prefix = normalize_prefix(arg)?;
    let items = client.list(true).await?;
    match_prefix(items.iter().map(|i| i.item_id), arg, &prefix)
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

/// The one id among `ids` that starts with `prefix` (hex digits, no dashes).
pub fn match_prefix(
    ids: impl IntoIterator<Item = ItemId>,
    arg: &str,
    prefix: &str,
) -> Result<ItemId> {
    let mut found: Vec<ItemId> = ids
        .into_iter()
        .filter(|id| id.0.simple().to_string().starts_with(prefix))
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no item id starts with {arg}; `dmc list --all` shows every item"),
        many => {
            let shown: Vec<String> = many.iter().take(5).map(|i| i.to_string()).collect();
            bail!(
                "{arg} matches {} items ({}{}); give more of the id",
                many.len(),
                shown.join(", "),
                if many.len() > 5 { ", …" } else { "" }
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
        assert_eq!(match_prefix(ids, "7F1C", &p).unwrap(), ids[0]);
        let p = normalize_prefix("7f1c2a90-11").unwrap();
        assert_eq!(match_prefix(ids, "7f1c2a90-11", &p).unwrap(), ids[0]);
        let err = match_prefix(ids, "7f", "7f").unwrap_err().to_string();
        assert!(err.contains("matches 2 items"), "{err}");
        let err = match_prefix(ids, "00", "00").unwrap_err().to_string();
        assert!(err.contains("no item id starts with 00"), "{err}");
        assert!(normalize_prefix("clip.mp4").is_err());
        assert!(normalize_prefix("").is_err());
    }
}
