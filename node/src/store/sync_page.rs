//! Pages of records answering a peer's `Sync`, read from the `records` table (keyed by
//! author and seq) with the protocol's one paging rule, so that answering a peer does not
//! need every record in memory.

use std::ops::ControlFlow;

use dmc_protocol::engine::Engine;
use dmc_protocol::replica::RecordSource;
use dmc_protocol::wire::{self, Response, Summary, MAX_RECORD_BYTES_PER_MESSAGE};
use dmc_protocol::{NodeId, Record, Seq};
use rusqlite::{params, Connection};

use super::{Ctx, StoreError};

/// The `records` table as a source of records, author by author in seq order.
struct Table<'c>(&'c Connection);

impl RecordSource for Table<'_> {
    type Error = StoreError;

    fn visit_from(
        &self,
        author: &NodeId,
        from: Seq,
        visit: &mut dyn FnMut(&Record) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let mut stmt = self
            .0
            .prepare_cached(
                "SELECT seq, body FROM records WHERE author = ?1 AND seq >= ?2 ORDER BY seq",
            )
            .ctx("preparing to page records")?;
        let mut rows = stmt
            .query(params![author.as_str(), from])
            .ctx("paging records")?;
        while let Some(row) = rows.next().ctx("paging records")? {
            let (Ok(seq), Ok(body)) = (row.get::<_, i64>(0), row.get::<_, Vec<u8>>(1)) else {
                tracing::warn!(%author, "skipping a stored record with malformed columns");
                continue;
            };
            match wire::decode::<Record>(&body, MAX_RECORD_BYTES_PER_MESSAGE) {
                Ok(r) if r.author == *author && i64::try_from(r.seq) == Ok(seq) => {
                    if visit(&r).is_break() {
                        break;
                    }
                }
                _ => {
                    tracing::warn!(%author, seq, "not sending a stored record that does not decode")
                }
            }
        }
        Ok(())
    }
}

/// The answer to a peer's `Sync` summary `theirs`, over our authors of its range with their
/// horizons (`Engine::sync_horizons`).
pub(super) fn answer(
    conn: &mut Connection,
    horizons: &[(NodeId, Seq)],
    theirs: &Summary,
) -> Result<Response, StoreError> {
    Engine::answer_sync_from(&Table(conn), horizons, theirs)
}

#[cfg(test)]
mod tests {
    use dmc_protocol::record::RecordBody;
    use dmc_protocol::replica::{page_in, PageLimit};
    use dmc_protocol::wire::AuthorRange;
    use dmc_protocol::Replica;

    use super::super::tests::{item, node, rec, received};
    use super::super::Store;
    use super::*;

    /// Three authors' records, some of their items compacted (a hole at the start of one
    /// log, one in the middle of another), held by `replica` and stored as they are there.
    async fn held_and_stored(dir: &std::path::Path) -> (Replica, Store) {
        let mut replica = Replica::new();
        for author in 1..=3u8 {
            for seq in 1..=12u64 {
                let item_id = item(author * 16 + (seq as u8 % 5));
                replica.insert(rec(author, seq, RecordBody::Cancel { item_id }));
            }
        }
        replica.compact(item(16 + 1), 5);
        replica.compact(item(2 * 16 + 3), 5);
        let store = Store::open(dir).await.unwrap();
        let held: Vec<Record> = (1..=3u8)
            .flat_map(|a| (1..=12).map(move |s| (a, s)))
            .filter_map(|(a, s)| replica.get(&node(a), s).cloned())
            .collect();
        store.put_records(received(held)).await.unwrap();
        (replica, store)
    }

    /// Issue 12 point 3: a page answering a peer's summary is the same whether its records
    /// come from memory or from the database, cut for cut and mark for mark, so a node can
    /// answer from SQLite the records it no longer keeps in memory.
    #[tokio::test]
    async fn pages_from_the_database_are_the_pages_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (replica, store) = held_and_stored(dir.path()).await;
        let mut asker = Replica::new();
        let limit = PageLimit {
            records: 4,
            bytes: usize::MAX,
        };
        let range = AuthorRange::all();
        let (mut pages, mut marks) = (0, 0);
        loop {
            let theirs = asker.summary();
            let horizons = replica.horizons_in(&range);
            let from_memory = replica.missing_in(&theirs, &range, limit);
            let from_db = store
                .call(move |c| page_in(&Table(c), &horizons, &theirs, limit))
                .await
                .unwrap();
            assert_eq!(from_db, from_memory, "page {pages}");
            marks += from_db.complete.len();
            for r in from_db.records {
                asker.insert(r);
            }
            for (a, s) in from_db.complete {
                asker.raise_horizon(&a, s);
            }
            pages += 1;
            if !from_db.more {
                break;
            }
            assert!(pages < 20, "the walk ends");
        }
        assert!(marks > 0, "the holes were marked complete");
        assert_eq!(asker.summary(), replica.summary());
        assert_eq!(asker.len(), replica.len());
        // The node's own call: one page of the default size, all of it.
        let answer = store
            .sync_page(replica.horizons_in(&range), Summary::default())
            .await
            .unwrap();
        let Response::Records { records, more, .. } = answer else {
            panic!("records expected, got {answer:?}");
        };
        assert_eq!((records.len(), more), (replica.len(), false));
    }
}
