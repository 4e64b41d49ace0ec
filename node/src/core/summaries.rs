//! The item summaries this node keeps in SQLite (`store::ItemSummary`): rows made from the
//! engine's folded items, written with the records that change them and brought up to date at
//! start; `status` and `list` are answered from them, a page at a time, with the live view
//! (progress, a delivery under way, why it waits) laid over items still in memory.

use std::collections::{BTreeSet, HashMap};

use dmc_protocol::{ItemId, ItemState, NodeId, Record};
use tracing::{info, warn};

use super::handle::CoreError;
use super::task::Core;
use crate::control::api::{CheckedList, ItemPage, ItemView, Names};
use crate::store::{ItemSummary, PageQuery, StoreError, SummaryPage};

/// The row of an item, as its records tell it (no progress or other live state), naming
/// nodes as `names` does.
pub(super) fn summary_of(item: &ItemState, names: &Names) -> ItemSummary {
    let view = ItemView::of(item, names);
    ItemSummary {
        item_id: view.item_id,
        client_id: view.client_id.clone(),
        server_id: view.server_id.clone(),
        file_name: view.file_name.clone(),
        profile: view.conversion_type.clone(),
        file_size: view.file_size,
        sha512_checksum: view.sha512_checksum.clone(),
        status: view.status.as_str().to_string(),
        phase: view.phase.as_str().to_string(),
        errors: view.errors.join("\n"),
        output_path: view.output_path.clone(),
        created_at: item.created_at,
        updated_at: item.updated_at,
        ended_at: item.phase.is_final().then_some(item.updated_at),
        version: item.version,
        // An `ItemView` is plain data; encoding it cannot fail.
        view: serde_json::to_string(&view).unwrap_or_default(),
    }
}

/// Whether an item has a row, and so is listed: not a segment's sub-item, which its
/// coordinator's item stands for (`status` of that item counts its segments).
pub(super) fn is_listed(item: &ItemState) -> bool {
    item.offer.part_of.is_none()
}

fn internal(e: StoreError) -> CoreError {
    CoreError::Internal(e.to_string())
}

impl Core {
    /// The rows of the items `records` touch, as the engine now folds them.
    pub(super) fn summaries_of(&self, records: &[Record]) -> Vec<ItemSummary> {
        let ids: BTreeSet<ItemId> = records.iter().filter_map(|r| r.body.item_id()).collect();
        let names = self.names();
        ids.iter()
            .filter_map(|id| self.engine.item(id))
            .filter(|i| is_listed(i))
            .map(|i| summary_of(i, &names))
            .collect()
    }

    /// The items `records` touch that ended and left memory: records about them arrived
    /// late, and their rows' version is recounted from the store.
    pub(super) fn ended_out_of_memory(&self, records: &[Record]) -> Vec<ItemId> {
        let ids: BTreeSet<ItemId> = records.iter().filter_map(|r| r.body.item_id()).collect();
        let replica = self.engine.replica();
        ids.into_iter().filter(|id| replica.is_ended(id)).collect()
    }

    /// Writes the rows of items in memory whose row is missing or older than the item (a new
    /// database, or a crash between storing records and their rows). Only those: a start with
    /// nothing to do looks each item in memory up once and writes nothing.
    pub(super) async fn bring_summaries_up_to_date(&self) -> Result<(), StoreError> {
        let items = self.engine.replica().items().filter(|i| is_listed(i));
        let stale = self
            .store
            .stale_summaries(items.map(|i| (i.item_id(), i.version)).collect())
            .await?;
        let names = self.names();
        let rows: Vec<ItemSummary> = stale
            .iter()
            .filter_map(|id| self.engine.item(id))
            .map(|i| summary_of(i, &names))
            .collect();
        if !rows.is_empty() {
            info!("writing the summaries of {} items", rows.len());
            self.store.put_summaries(rows).await?;
        }
        Ok(())
    }

    /// A page of items, newest first: this node's, or with `all` every item it knows.
    pub(super) async fn list_page(&self, q: CheckedList) -> Result<ItemPage, CoreError> {
        let page = match page_query(q.clone(), self.engine.me()) {
            Some(query) => self.store.summary_page(query).await.map_err(internal)?,
            None => SummaryPage {
                rows: Vec::new(),
                total: 0,
            },
        };
        let names = self.names();
        let places = self.queue_positions();
        let items = page
            .rows
            .iter()
            .filter_map(|(id, json)| self.page_item(id, json, &names, &places))
            .collect();
        // The estimate counts the items of the query still to do, on every page: `open`.
        let queue = self.queue_estimate(q.all, &names);
        let mut answer = ItemPage::new(items, page.total, q.offset, q.limit, queue.to_do);
        answer.queue = Some(queue);
        Ok(answer)
    }

    /// An item of a page: its live view while the engine holds it, else its stored one.
    fn page_item(
        &self,
        id: &str,
        json: &str,
        names: &Names,
        places: &HashMap<ItemId, u32>,
    ) -> Option<ItemView> {
        if let Some(item) = ItemId::parse(id).and_then(|i| self.engine.item(&i)) {
            let mut view = self.view_named(item, names);
            view.queue_position = places.get(&item.item_id()).copied();
            return Some(view);
        }
        stored_view(id, json)
    }

    /// One item: its live view while the engine holds it, else its stored summary (an item
    /// of this node whose records were compacted).
    pub(super) async fn status_of(&self, id: ItemId) -> Result<ItemView, CoreError> {
        if let Some(item) = self.engine.item(&id) {
            return Ok(self.view(item));
        }
        match self.store.summary(id).await.map_err(internal)? {
            Some(json) => stored_view(&id.to_string(), &json).ok_or_else(|| {
                CoreError::Internal(format!("the stored summary of {id} does not decode"))
            }),
            None => Err(CoreError::UnknownItem(id)),
        }
    }
}

/// The store's query of a checked list query; `me`: this node (the origin unless `all`).
/// `None` when no item can match: this node's items asked for with another origin.
pub(super) fn page_query(q: CheckedList, me: &NodeId) -> Option<PageQuery> {
    let f = q.filters;
    let client_id = match (q.all, f.origin) {
        (true, origin) => origin,
        (false, Some(origin)) if &origin != me => return None,
        (false, _) => Some(me.clone()),
    };
    Some(PageQuery {
        client_id,
        id_prefix: q.prefix,
        server_id: f.converter,
        profile: f.profile,
        phases: f
            .phases
            .map(|ps| ps.into_iter().map(|p| p.as_str()).collect()),
        limit: q.limit,
        offset: q.offset,
    })
}

/// A stored view; one that no longer decodes is logged and skipped.
pub(super) fn stored_view(id: &str, json: &str) -> Option<ItemView> {
    serde_json::from_str(json)
        .map_err(|e| {
            warn!(
                item = id,
                "skipping an item summary that does not decode: {e}"
            )
        })
        .ok()
}
