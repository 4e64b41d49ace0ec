//! Offering a file: read it once (SHA-512, BLAKE3 and chunk hashes in one pass; a large file
//! without its SHA-512, which follows in a `checksum` record: `checksum.rs`), find its media
//! type, and turn it into an offer record, or find the item that already has it.

use std::path::{Path, PathBuf};

use dmc_protocol::engine::Event;
use dmc_protocol::record::{CHUNK_SIZE, MAX_FILE_SIZE};
use dmc_protocol::wire::FileRole;
use dmc_protocol::{ItemId, ItemState, Millis, Offer, Phase, RecordBody};
use tracing::{info, warn};

use super::files::result_present;
use super::handle::CoreError;
use super::msg::Internal;
use super::task::Core;
use crate::control::api::{ItemView, OfferOutcome};
use crate::ffmpeg;
use crate::store::{FileKey, LocalFile, Store};
use crate::transfer::{self, Hashes};

/// Files of at least this size are offered as soon as their BLAKE3 manifest is known, at
/// BLAKE3's speed; their SHA-512, four times slower to make, follows in a `checksum` record
/// while converters already pull (`docs/protocol.md`, "Checksums that follow"). Smaller files
/// carry it in the offer: for them the wait is short and one record fewer is kept.
pub(crate) const SHA512_FOLLOWS_FROM: u64 = 64 << 20;

/// What `prepare` needs of the node to look for a delivered item of the same content.
pub(crate) struct Lookup {
    pub store: Store,
    pub me: dmc_protocol::NodeId,
}

impl Core {
    /// Starts preparing an offer off the core task; the answer arrives as `OfferPrepared`.
    pub(crate) fn begin_offer(
        &self,
        path: PathBuf,
        profile: Option<String>,
        priority: i32,
        again: bool,
        settled: Option<FileKey>,
        reply: tokio::sync::oneshot::Sender<Result<OfferOutcome, CoreError>>,
    ) {
        let internal = self.internal.clone();
        let known = self.known_profiles();
        let lookup = Lookup {
            store: self.store.clone(),
            me: self.engine.me().clone(),
        };
        let data_dir = self.data_dir.clone();
        let open_dirs = [
            self.config.node.output_dir.clone(),
            self.config.gui.upload_dir.clone(),
        ];
        tokio::spawn(async move {
            let prepared = match refuse_private(&path, &data_dir, &open_dirs).await {
                Err(e) => Err(e),
                Ok(()) => prepare(&path, profile, priority, &known, settled, &lookup).await,
            };
            let _ = internal
                .send(Internal::OfferPrepared {
                    prepared: Box::new(prepared),
                    again,
                    reply,
                })
                .await;
        });
    }

    /// Records the prepared offer as a new item, or answers with the item that already has
    /// this content and profile (unless `again`).
    pub(crate) async fn finish_offer(
        &mut self,
        prepared: Result<(Offer, LocalFile), CoreError>,
        again: bool,
    ) -> Result<OfferOutcome, CoreError> {
        let (mut offer, mut local) = prepared?;
        // The item id is bound to this node's id, so only this node can offer it.
        getrandom::fill(&mut offer.nonce)
            .map_err(|e| CoreError::Internal(format!("cannot draw random bytes: {e}")))?;
        offer.item_id = ItemId::for_origin(self.engine.me(), &offer.nonce);
        if !again {
            if let Some(item) = self.existing_offer(&offer).await {
                return Ok(OfferOutcome {
                    existing: true,
                    item,
                });
            }
        }
        let item_id = offer.item_id;
        let sha512_follows = offer.sha512_follows;
        local.item_id = item_id;
        self.store
            .put_local_file(local.clone())
            .await
            .map_err(|e| CoreError::Internal(format!("cannot store the offer: {e}")))?;
        self.add_local_file(local);
        self.feed(Event::Local(RecordBody::Offer(offer))).await;
        if sha512_follows {
            self.begin_checksum(item_id);
        }
        let item = self
            .engine
            .item(&item_id)
            .ok_or_else(|| CoreError::Internal("the offer was not recorded".into()))?;
        info!(item = %item_id, file = %item.offer.file.file_name, "offered");
        Ok(OfferOutcome {
            existing: false,
            item: self.view(item),
        })
    }
}

impl Core {
    /// This node's item with the offer's content and profile that has not failed, been
    /// cancelled, or lost its result: a delivered item counts only while its result is still
    /// in place with its size (a stat, not a hash: re-offers stay instant for large files, and
    /// `dmc fetch` hashes what it copies).
    /// The newest such item wins: an older item whose result was deleted can look present
    /// again once a newer item's result lands under the same name.
    /// Items in memory are open or just ended; delivered items that left memory are found
    /// in this node's stored summaries.
    async fn existing_offer(&self, offer: &Offer) -> Option<ItemView> {
        let in_memory = self.live_offer(offer);
        let stored = self.delivered_offer(offer).await;
        match (in_memory, stored) {
            (Some(i), Some((at, _))) if i.created_at >= at => Some(self.view(i)),
            (_, Some((_, v))) => Some(v),
            (Some(i), None) => Some(self.view(i)),
            (None, None) => None,
        }
    }

    /// The newest such item among those in memory.
    fn live_offer(&self, offer: &Offer) -> Option<&ItemState> {
        let me = self.engine.me();
        self.engine
            .replica()
            .items()
            .filter(|i| {
                // BLAKE3 names the content as well as SHA-512, and every offer has it.
                i.origin == *me
                    && i.offer.file.blake3 == offer.file.blake3
                    && i.offer.file.file_size == offer.file.file_size
                    && i.offer.profile == offer.profile
                    && !matches!(i.phase, Phase::Failed | Phase::Cancelled)
                    && (i.phase != Phase::Delivered || result_still_there(i))
            })
            .max_by_key(|i| (i.created_at, i.item_id()))
    }

    /// The newest of this node's delivered items of the offer's content and profile that is
    /// out of memory and whose result is still there, from its stored summary.
    /// An offer without its SHA-512 has none: `prepare` found no delivered item its size.
    async fn delivered_offer(&self, offer: &Offer) -> Option<(Millis, ItemView)> {
        if offer.sha512_follows {
            return None;
        }
        let found = self
            .store
            .delivered_with(
                self.engine.me().clone(),
                offer.file.sha512.clone(),
                offer.profile.clone(),
            )
            .await;
        let rows = found
            .map_err(|e| warn!("cannot look for a delivered item of this content: {e}"))
            .ok()?;
        rows.into_iter()
            .filter_map(|(at, json)| Some((at, serde_json::from_str::<ItemView>(&json).ok()?)))
            .filter(|(_, v)| self.engine.item(&v.item_id).is_none())
            .find(|(_, v)| match (&v.output_path, v.output_file_size) {
                (Some(path), Some(size)) => result_present(Path::new(path), size).is_ok(),
                _ => false,
            })
    }
}

/// Whether a delivered item's result is still where it was delivered (see
/// [`result_present`]).
fn result_still_there(i: &ItemState) -> bool {
    match (&i.output_path, &i.result) {
        (Some(path), Some(result)) => result_present(Path::new(path), result.file_size).is_ok(),
        _ => false,
    }
}

/// Refuses files inside the node's data dir (its keys, database, work files; results in an
/// output dir and uploads in an upload dir placed there, `open_dirs`, are fine): whoever may
/// use the control socket must not get them sent to a converter.
async fn refuse_private(
    path: &Path,
    data_dir: &Path,
    open_dirs: &[PathBuf],
) -> Result<(), CoreError> {
    let (Ok(file), Ok(dir)) = (
        tokio::fs::canonicalize(path).await,
        tokio::fs::canonicalize(data_dir).await,
    ) else {
        // A path that does not resolve fails later with its own error.
        return Ok(());
    };
    let mut in_open_dir = false;
    for open in open_dirs {
        if let Ok(open) = tokio::fs::canonicalize(open).await {
            in_open_dir |= file.starts_with(open);
        }
    }
    if file.starts_with(&dir) && !in_open_dir {
        return Err(CoreError::BadRequest(format!(
            "{}: files inside the node's data dir ({}) cannot be offered",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// `path` cannot be read: the error, with its kind where the CLI says what to do about it.
fn unreadable(path: &Path, e: std::io::Error) -> CoreError {
    CoreError::Unreadable {
        kind: crate::control::api::ErrorKind::of_file_error(&e),
        message: format!("cannot read {}: {e}", path.display()),
    }
}

/// Reads the file at `path` once (probe, hashes) into an offer of it and the local file that
/// serves it; steps below.
async fn prepare(
    path: &Path,
    profile: Option<String>,
    priority: i32,
    known: &[super::queries::KnownProfile],
    settled: Option<FileKey>,
    lookup: &Lookup,
) -> Result<(Offer, LocalFile), CoreError> {
    if !path.is_absolute() {
        return Err(bad(format!("{}: give an absolute path", path.display())));
    }
    // A watched file is read through the descriptor of the version that settled, never
    // through a link put in its place.
    let opened = match settled {
        Some(key) => Some(
            crate::watch::open_settled(path, key)
                .map_err(|e| bad(format!("{}: {e}", path.display())))?,
        ),
        None => None,
    };
    let size = check_regular_file(path).await?;
    let probe = ffmpeg::probe(path).await.map_err(|e| bad(e.to_string()))?;
    let media_type = probe.media_type().ok_or_else(|| {
        bad(format!(
            "{}: no audio, image or video stream found",
            path.display()
        ))
    })?;
    let profile =
        profile.unwrap_or_else(|| crate::ffmpeg::profiles::default_profile(media_type).into());
    super::queries::check_offer_profile(known, &profile, media_type).map_err(bad)?;
    let which = hashes_for(size, &profile, lookup).await;
    let hashed = hash_unchanged(path, opened, settled.is_some(), which).await?;
    let offer = Offer {
        // Bound to the origin's id in `finish_offer`.
        item_id: ItemId(uuid::Uuid::nil()),
        nonce: [0; 16],
        file: hashed.file_info(super::names::safe_file_name(&file_name_of(path))),
        media_type,
        profile,
        duration_ms: probe.duration_ms,
        priority,
        sha512_follows: hashed.sha512.is_none(),
        part_of: None,
    };
    let local = LocalFile::of_hashed(
        offer.item_id,
        FileRole::Source,
        0,
        path.to_path_buf(),
        hashed,
    );
    Ok((offer, local))
}

fn bad(message: String) -> CoreError {
    CoreError::BadRequest(message)
}

/// Which hashes the offer of a file of `size` bytes makes: all, or, from
/// [`SHA512_FOLLOWS_FROM`], all but the SHA-512. A re-offer is found by the SHA-512 among
/// delivered items that left memory, so while this node has delivered one of that size and
/// profile, the offer makes the SHA-512 too and looks.
async fn hashes_for(size: u64, profile: &str, lookup: &Lookup) -> Hashes {
    if size < SHA512_FOLLOWS_FROM {
        return Hashes::All;
    }
    let delivered = lookup
        .store
        .delivered_of_size(lookup.me.clone(), size, profile.to_string())
        .await;
    match delivered {
        Ok(false) => Hashes::WithoutSha512,
        Ok(true) => Hashes::All,
        Err(e) => {
            warn!("cannot look for delivered items of this size: {e}");
            Hashes::All
        }
    }
}

/// The path is a regular file within dmc's size limit; its size.
async fn check_regular_file(path: &Path) -> Result<u64, CoreError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| unreadable(path, e))?;
    if !meta.is_file() {
        return Err(bad(format!("{} is not a regular file", path.display())));
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(bad(format!(
            "{} is larger than dmc's limit of 1 TiB",
            path.display()
        )));
    }
    Ok(meta.len())
}

/// Hashes the file in one pass (through `opened` when a watch settled it) and checks it did
/// not change while it was read (nor, when `watched`, get replaced by another file or a link).
async fn hash_unchanged(
    path: &Path,
    opened: Option<std::fs::File>,
    watched: bool,
    which: Hashes,
) -> Result<transfer::HashedFile, CoreError> {
    let p2 = path.to_path_buf();
    let hashed = tokio::task::spawn_blocking(move || {
        let file = match opened {
            Some(f) => f,
            None => std::fs::File::open(&p2)?,
        };
        transfer::hash_open(file, &p2, CHUNK_SIZE, which, |_| {})
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()))?
    .map_err(|e| unreadable(path, e))?;
    let after = if watched {
        tokio::fs::symlink_metadata(path).await
    } else {
        tokio::fs::metadata(path).await
    }
    .map_err(|e| unreadable(path, e))?;
    let replaced = watched && transfer::FileId::of(&after) != hashed.id;
    if replaced || after.len() != hashed.size || transfer::mtime_ns(&after) != hashed.mtime_ns {
        return Err(bad(format!(
            "{} changed while it was being read; offer it again",
            path.display()
        )));
    }
    Ok(hashed)
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unnamed".into())
}
