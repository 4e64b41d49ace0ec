//! Counts of the `item_summaries` rows for `/metrics`: one row per (status, phase, profile,
//! current converter) that has items, in one grouped scan of the table.

use rusqlite::Connection;

use super::{Ctx, StoreError};

/// How many items share a status, phase, profile and converter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemCount {
    pub status: String,
    pub phase: String,
    pub profile: String,
    /// The item's current (or last) converter's node id; `None`: never assigned.
    pub server_id: Option<String>,
    pub count: u64,
}

pub(super) fn item_counts(conn: &mut Connection) -> Result<Vec<ItemCount>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT status, phase, profile, server_id, count(*) FROM item_summaries
             GROUP BY status, phase, profile, server_id",
        )
        .ctx("preparing to count items")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(ItemCount {
                status: r.get(0)?,
                phase: r.get(1)?,
                profile: r.get(2)?,
                server_id: r.get(3)?,
                count: r.get::<_, i64>(4)?.max(0) as u64,
            })
        })
        .ctx("counting items")?;
    rows.collect::<Result<Vec<_>, _>>().ctx("counting items")
}

#[cfg(test)]
mod tests {
    use dmc_protocol::{ItemId, NodeId};

    use super::ItemCount;
    use crate::store::{ItemSummary, Store};

    fn row(n: u8, phase: &str, profile: &str, server: Option<&str>) -> ItemSummary {
        ItemSummary {
            item_id: ItemId::from_random([n; 16]),
            client_id: NodeId::new("12D3KooWMe"),
            server_id: server.map(NodeId::new),
            file_name: format!("clip{n}.mp4"),
            profile: profile.into(),
            file_size: 1,
            sha512_checksum: "a".repeat(128),
            status: "to_do".into(),
            phase: phase.into(),
            errors: String::new(),
            output_path: None,
            created_at: u64::from(n),
            updated_at: u64::from(n),
            ended_at: None,
            version: 1,
            view: "{}".into(),
        }
    }

    #[tokio::test]
    async fn items_are_counted_by_status_phase_profile_and_converter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .put_summaries(vec![
                row(1, "delivered", "webm", Some("12D3KooWConv")),
                row(2, "delivered", "webm", Some("12D3KooWConv")),
                row(3, "offered", "webm", None),
            ])
            .await
            .unwrap();
        let mut counts = store.item_counts().await.unwrap();
        counts.sort_by(|a, b| a.phase.cmp(&b.phase));
        let count = |phase: &str, server: Option<&str>, n| ItemCount {
            status: "to_do".into(),
            phase: phase.into(),
            profile: "webm".into(),
            server_id: server.map(str::to_string),
            count: n,
        };
        assert_eq!(
            counts,
            [
                count("delivered", Some("12D3KooWConv"), 2),
                count("offered", None, 1)
            ]
        );
    }
}
