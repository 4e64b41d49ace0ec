//! `GET /v1/items`: which page of items to list ([`ListQuery`]) and the page ([`ItemPage`]),
//! newest first, with how many items there are in all and where the next page starts.

use serde::{Deserialize, Serialize};

use super::{ItemView, ListFilters, QueueEstimate, UpgradingView};

/// Items on a page when the query does not say: one screen. The one definition, also the
/// CLI's `--limit` default.
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// Most items on one page.
pub const MAX_LIST_LIMIT: u32 = 1000;
/// Largest offset accepted (far beyond any real history; keeps it inside SQLite's integers).
pub const MAX_LIST_OFFSET: u64 = 1 << 40;
/// Most hex digits of an item id (a UUID without dashes).
const ID_HEX_DIGITS: usize = 32;

/// Query of `GET /v1/items`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Every item known, not only this node's.
    #[serde(default)]
    pub all: bool,
    /// Items on the page, 1 to [`MAX_LIST_LIMIT`]; default [`DEFAULT_LIST_LIMIT`].
    #[serde(default)]
    pub limit: Option<u32>,
    /// Items skipped, newest first; default 0.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Only items whose id starts with these hex digits (dashes ignored): how the CLI turns an
    /// id prefix into an item.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Only items in this state: `open`, `ended` or a phase (`delivered`, `failed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Only items offered by this node id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Only items whose current converter is this node id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converter: Option<String>,
    /// Only items of this profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A [`ListQuery`] checked: every field within bounds, the prefix as lower-case hex digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedList {
    pub all: bool,
    pub limit: u32,
    pub offset: u64,
    pub prefix: Option<String>,
    pub filters: ListFilters,
}

impl ListQuery {
    /// The query with its defaults filled in, or what is wrong with it.
    pub fn check(&self) -> Result<CheckedList, String> {
        let limit = self.limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(format!("limit must be 1 to {MAX_LIST_LIMIT}, not {limit}"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_LIST_OFFSET {
            return Err(format!("offset must be at most {MAX_LIST_OFFSET}"));
        }
        let prefix = match &self.prefix {
            None => None,
            Some(p) => {
                let hex: String = p
                    .chars()
                    .filter(|c| *c != '-')
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                if hex.is_empty()
                    || hex.len() > ID_HEX_DIGITS
                    || !hex.chars().all(|c| c.is_ascii_hexdigit())
                {
                    return Err(format!(
                        "prefix must be 1 to {ID_HEX_DIGITS} hex digits of an item id"
                    ));
                }
                Some(hex)
            }
        };
        let filters = ListFilters::check(
            self.state.as_deref(),
            self.origin.as_deref(),
            self.converter.as_deref(),
            self.profile.as_deref(),
        )?;
        Ok(CheckedList {
            all: self.all,
            limit,
            offset,
            prefix,
            filters,
        })
    }
}

/// Answer to `GET /v1/items` (and `list --json`): a page of items, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemPage {
    pub items: Vec<ItemView>,
    /// Items matching the query in all, on every page.
    pub total: u64,
    /// Items skipped before this page.
    pub offset: u64,
    /// Most items this page could hold.
    pub limit: u32,
    /// The `offset` of the next page; `None` on the last page.
    pub next_offset: Option<u64>,
    /// Items matching the query that have not ended, on any page (the queue estimate needs
    /// them all).
    #[serde(default)]
    pub open: u64,
    /// When the items of the query that have not ended (on every page) should be done.
    #[serde(default)]
    pub queue: Option<QueueEstimate>,
    /// Set while the first start after an upgrade fills in the database: items not read yet
    /// are missing from the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrading: Option<UpgradingView>,
}

impl ItemPage {
    /// The page of `items` at `offset` among `total`, of which `open` have not ended.
    pub fn new(items: Vec<ItemView>, total: u64, offset: u64, limit: u32, open: u64) -> ItemPage {
        let end = offset.saturating_add(items.len() as u64);
        ItemPage {
            next_offset: (end < total && !items.is_empty()).then_some(end),
            items,
            total,
            offset,
            limit,
            open,
            queue: None,
            upgrading: None,
        }
    }

    /// Items after this page.
    pub fn more(&self) -> u64 {
        self.total
            .saturating_sub(self.offset.saturating_add(self.items.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_gets_defaults_and_bounds() {
        let q = ListQuery::default().check().unwrap();
        assert_eq!((q.limit, q.offset, q.prefix), (DEFAULT_LIST_LIMIT, 0, None));
        let bad = |q: ListQuery| q.check().unwrap_err();
        assert!(bad(ListQuery {
            limit: Some(0),
            ..Default::default()
        })
        .contains("limit must be 1 to 1000"));
        assert!(bad(ListQuery {
            limit: Some(MAX_LIST_LIMIT + 1),
            ..Default::default()
        })
        .contains("limit"));
        assert!(bad(ListQuery {
            offset: Some(MAX_LIST_OFFSET + 1),
            ..Default::default()
        })
        .contains("offset"));
        for p in ["", "xyz", "%", &"a".repeat(33)] {
            assert!(bad(ListQuery {
                prefix: Some(p.into()),
                ..Default::default()
            })
            .contains("prefix"));
        }
        let q = ListQuery {
            prefix: Some("7F1C-2a".into()),
            ..Default::default()
        };
        assert_eq!(q.check().unwrap().prefix.as_deref(), Some("7f1c2a"));
    }

    #[test]
    fn a_page_says_where_the_next_starts() {
        let p = ItemPage::new(vec![], 0, 0, 50, 0);
        assert_eq!((p.next_offset, p.more()), (None, 0));
        let p = ItemPage::new(vec![], 10, 20, 50, 1);
        assert_eq!((p.next_offset, p.more()), (None, 0));
    }
}
