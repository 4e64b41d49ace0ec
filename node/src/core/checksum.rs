//! The SHA-512 of a source offered without it ([`Offer::sha512_follows`]): read once more, off
//! the core task, while converters already pull, and recorded as the origin's `checksum`
//! record. A delivery that comes first waits for it, so a delivered item names its source's
//! checksum.
//!
//! [`Offer::sha512_follows`]: dmc_protocol::Offer::sha512_follows

use dmc_protocol::engine::Event;
use dmc_protocol::wire::FileRole;
use dmc_protocol::{ItemId, RecordBody};
use tracing::{info, warn};

use super::msg::Internal;
use super::task::Core;
use crate::transfer;

impl Core {
    /// Starts reading the source of `item_id` for its SHA-512 (unless a read of it runs); the
    /// answer arrives as `ChecksumRead`.
    pub(crate) fn begin_checksum(&mut self, item_id: ItemId) {
        let Some(file) = self.files.get(&(item_id, FileRole::Source, 0)).cloned() else {
            warn!(item = %item_id, "the source's SHA-512 stays unknown: this node no longer serves the source");
            return;
        };
        if !self.checksums.insert(item_id) {
            return;
        }
        let internal = self.internal.clone();
        tokio::spawn(async move {
            let (path, was) = (file.path.clone(), file.unchanged());
            let read = tokio::task::spawn_blocking(move || transfer::sha512_unchanged(&path, &was))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()));
            let _ = internal
                .send(Internal::ChecksumRead { item_id, read })
                .await;
        });
    }

    /// Records the SHA-512 read (or says why there is none), then the delivery that waited
    /// for it, if any.
    pub(crate) async fn on_checksum_read(&mut self, item_id: ItemId, read: Result<String, String>) {
        self.checksums.remove(&item_id);
        match read {
            Ok(sha512) => {
                let body = RecordBody::Checksum { item_id, sha512 };
                if self.engine.may_author(&body) {
                    info!(item = %item_id, "source SHA-512 read");
                    self.feed(Event::Local(body)).await;
                }
            }
            Err(e) => warn!(item = %item_id, "the source's SHA-512 stays unknown: {e}"),
        }
        if let Some(delivered) = self.awaiting_checksum.remove(&item_id) {
            self.feed(Event::Local(delivered)).await;
        }
    }

    /// Whether `delivered` must wait for its item's source checksum, which is being read; it
    /// is then kept and recorded right after the checksum.
    pub(crate) fn delivery_awaits_checksum(
        &mut self,
        item_id: ItemId,
        delivered: &RecordBody,
    ) -> bool {
        if !self.checksums.contains(&item_id) {
            return false;
        }
        self.awaiting_checksum.insert(item_id, delivered.clone());
        true
    }

    /// At start: reads the checksums this node's items still lack (a restart came between
    /// their offer and their checksum).
    pub(crate) fn resume_checksums(&mut self) {
        let me = self.engine.me().clone();
        let lacking: Vec<ItemId> = self
            .engine
            .replica()
            .items()
            .filter(|i| i.origin == me && i.offer.sha512_follows && i.source_sha512().is_none())
            .map(|i| i.item_id())
            .collect();
        for item_id in lacking {
            self.begin_checksum(item_id);
        }
    }
}
