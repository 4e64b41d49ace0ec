//! Read-only answers to the control API: items, peers, profiles, this node; and the profiles
//! this node may offer with.

use std::collections::HashMap;

use dmc_protocol::{ItemId, ItemState, MediaType, NodeId, Phase, Stage};

use super::handle::CoreError;
use super::task::Core;
use crate::control::api::{
    waiting_text, waiting_text_at, ItemView, Names, NodeView, OverBudgetView, PeerView, ProfileView,
};
use crate::ffmpeg::profiles::BUILTIN_PROFILES;
use dmc_protocol::time::rfc3339;

/// A profile this node may offer items with: built in, defined in its own config, or
/// advertised by a converter it knows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct KnownProfile {
    pub name: String,
    /// For a profile only advertised by others: the media types of the converters advertising
    /// it (adverts carry profile names only).
    pub media_types: Vec<MediaType>,
    /// "-" when only advertised by others.
    pub encoder: String,
    pub extension: String,
}

/// Checks an offer's `profile` for a file of `media` against what this node knows; the error
/// lists the profiles that fit.
pub(crate) fn check_offer_profile(
    known: &[KnownProfile],
    profile: &str,
    media: MediaType,
) -> Result<(), String> {
    let fits = || {
        let v: Vec<&str> = known
            .iter()
            .filter(|k| k.media_types.contains(&media))
            .map(|k| k.name.as_str())
            .collect();
        v.join(", ")
    };
    match known.iter().find(|k| k.name == profile) {
        None => Err(format!(
            "unknown profile `{profile}`; for this {media} file choose one of: {} (`dmc profiles` \
             lists every profile and the converters that run it)",
            fits()
        )),
        Some(k) if !k.media_types.contains(&media) => Err(format!(
            "profile `{profile}` does not convert {media}; for this file choose one of: {}",
            fits()
        )),
        Some(_) => Ok(()),
    }
}

impl Core {
    /// Every profile this node may offer with: built-in ones, its own custom ones, then names
    /// known converters advertise.
    pub(crate) fn known_profiles(&self) -> Vec<KnownProfile> {
        let mut out: Vec<KnownProfile> = BUILTIN_PROFILES
            .iter()
            .chain(self.config.converter.custom_profiles.iter().copied())
            .map(|p| KnownProfile {
                name: p.name.into(),
                media_types: p.media_types.to_vec(),
                encoder: p.encoder.into(),
                extension: p.extension.into(),
            })
            .collect();
        let local = out.len();
        for (_, _, info) in self.engine.replica().nodes() {
            let Some(ad) = info.converter.as_ref() else {
                continue;
            };
            for name in &ad.profiles {
                if let Some(k) = out.iter_mut().skip(local).find(|k| &k.name == name) {
                    for m in &ad.media_types {
                        if !k.media_types.contains(m) {
                            k.media_types.push(*m);
                        }
                    }
                } else if !out[..local].iter().any(|k| &k.name == name)
                    && dmc_protocol::media::valid_profile_name(name)
                {
                    out.push(KnownProfile {
                        name: name.clone(),
                        media_types: ad.media_types.clone(),
                        encoder: "-".into(),
                        extension: "-".into(),
                    });
                }
            }
        }
        out
    }

    /// How texts name the nodes this node knows (from their node records).
    pub(crate) fn names(&self) -> Names {
        Names::new(
            self.engine
                .replica()
                .nodes()
                .map(|(id, _, info)| (id, info.name.as_str())),
        )
    }

    /// An item's view, with what only this node knows: its converter's newest progress
    /// report (not a record: `Engine::live_item`), a delivery under way.
    pub(crate) fn view(&self, item: &ItemState) -> ItemView {
        let mut v = self.view_named(item, &self.names());
        v.queue_position = self.queue_positions().get(&item.item_id()).copied();
        v
    }

    /// The queue places of the items accepted by a converter and waiting for a worker there
    /// (no job of this node runs them, and their converter reports none running): computed
    /// once for a page of items.
    pub(crate) fn queue_positions(&self) -> HashMap<ItemId, u32> {
        let waiting = self
            .engine
            .replica()
            .open_items()
            .filter(|i| i.phase == Phase::Accepted)
            .filter_map(|i| {
                let (epoch, converter) = i.assignment.as_ref()?;
                let running = self.jobs.contains_key(&(i.item_id(), *epoch))
                    || self
                        .engine
                        .report(&i.item_id())
                        .is_some_and(|r| r.progress.stage != Stage::Queued);
                (!running).then_some((converter, i.queue_key()))
            });
        dmc_protocol::schedule::queue_positions(waiting)
    }

    /// [`Self::view`] with the names already made (once for a page of items).
    pub(crate) fn view_named(&self, item: &ItemState, names: &Names) -> ItemView {
        let mut v = ItemView::of(&self.engine.live_item(item), names);
        if item.phase == Phase::Converted {
            if let Some(f) = self.delivering.get(&item.item_id()) {
                v.phase = Phase::Delivering;
                v.status = Phase::Delivering.status();
                v.progress = *f;
            }
        }
        if v.segments.is_some() {
            // Only while it converts in segments: a scan of the items in memory.
            v.segment_converters = self.segment_converters(item, names);
        }
        let now = super::now_ms();
        if let Some(note) = self.engine.retry_note(item, now) {
            v.waiting_reason = Some(waiting_text_at(&note, now, names));
        }
        if v.waiting_reason.is_none() && v.phase != Phase::Delivering {
            v.waiting_reason = self
                .engine
                .lease_note(item, super::now_ms())
                .map(|note| waiting_text(&note, names));
        }
        v
    }

    /// The converters (labels, sorted) that encode or encoded segments of `item`'s current
    /// attempt, from the sub-items of its coordinator this node knows.
    fn segment_converters(&self, item: &ItemState, names: &Names) -> Vec<String> {
        let Some((epoch, _)) = &item.assignment else {
            return Vec::new();
        };
        let id = item.item_id();
        let on: std::collections::BTreeSet<String> = self
            .engine
            .replica()
            .items()
            .filter(|s| {
                s.offer
                    .part_of
                    .as_ref()
                    .is_some_and(|p| p.item_id == id && p.epoch == *epoch)
            })
            .filter(|s| {
                matches!(
                    s.phase,
                    Phase::Transferring | Phase::Converting | Phase::Converted | Phase::Delivered
                )
            })
            .filter_map(|s| s.converter().map(|c| names.label(c)))
            .collect();
        on.into_iter().collect()
    }

    pub(super) fn item_view(&self, id: &ItemId) -> Result<ItemView, CoreError> {
        self.engine
            .item(id)
            .map(|i| self.view(i))
            .ok_or(CoreError::UnknownItem(*id))
    }

    pub(super) fn peers(&self) -> Vec<PeerView> {
        let me = self.engine.me();
        let mut ids: Vec<NodeId> = self
            .engine
            .replica()
            .nodes()
            .map(|(id, _, _)| id.clone())
            .chain(self.peer_book.addrs.keys().cloned())
            .chain(self.engine.connected().iter().cloned())
            .filter(|id| id != me)
            .collect();
        ids.sort();
        ids.dedup();
        let mut load: std::collections::HashMap<&NodeId, u32> = Default::default();
        for item in self
            .engine
            .replica()
            .open_items()
            .filter(|i| dmc_protocol::schedule::occupies_converter(i))
        {
            if let Some(c) = item.converter() {
                *load.entry(c).or_default() += 1;
            }
        }
        ids.iter()
            .map(|id| self.peer_view(id, load.get(id).copied().unwrap_or(0)))
            .chain(
                self.peer_book
                    .rejected
                    .iter()
                    .filter(|r| r.node_id.as_ref().is_none_or(|id| !ids.contains(id)))
                    .map(|r| PeerView {
                        node_id: r.node_id.clone().unwrap_or_else(|| NodeId::new("unknown")),
                        name: None,
                        addresses: r.addr.iter().cloned().collect(),
                        online: false,
                        last_seen: Some(rfc3339(r.at)),
                        seen_secs_ago: Some(super::now_ms().saturating_sub(r.at) / 1000),
                        role: "-".into(),
                        media_types: Vec::new(),
                        profiles: Vec::new(),
                        workers: None,
                        free_slots: None,
                        measured_speed: None,
                        rejected: Some(r.reason.to_string()),
                        over_budget: None,
                    }),
            )
            .collect()
    }

    /// A known peer as `dmc peers` shows it; `load`: the items assigned to it that take a
    /// worker.
    fn peer_view(&self, id: &NodeId, load: u32) -> PeerView {
        let info = self.engine.replica().node(id);
        let ad = info.and_then(|i| i.converter.as_ref());
        let (mut addresses, last) = self.peer_book.addrs.get(id).cloned().unwrap_or_default();
        let online = self.engine.connected().contains(id);
        // A peer that dialled us has no stored address; show its connection's.
        if let Some(a) = self.peer_book.conn_addrs.get(id).filter(|_| online) {
            if !addresses.contains(a) {
                addresses.push(a.clone());
            }
        }
        PeerView {
            name: info.map(|i| i.name.clone()),
            addresses,
            online,
            last_seen: (last > 0).then(|| rfc3339(last)),
            seen_secs_ago: (last > 0).then(|| super::now_ms().saturating_sub(last) / 1000),
            role: if ad.is_some() { "converter" } else { "client" }.into(),
            media_types: ad.map(|a| a.media_types.clone()).unwrap_or_default(),
            profiles: ad.map(|a| a.profiles.clone()).unwrap_or_default(),
            workers: ad.map(|a| a.workers),
            free_slots: ad.map(|a| a.workers.saturating_sub(load)),
            measured_speed: self.engine.measured_speed(id).filter(|_| ad.is_some()),
            rejected: self
                .peer_book
                .rejected
                .iter()
                .find(|r| !online && r.node_id.as_ref() == Some(id))
                .map(|r| r.reason.to_string()),
            over_budget: self.over_budget_view(id),
            node_id: id.clone(),
        }
    }

    /// The latest refusal of `peer`'s records over its budget, if any.
    fn over_budget_view(&self, peer: &NodeId) -> Option<OverBudgetView> {
        let n = self.peer_book.over_budget.get(peer)?;
        Some(OverBudgetView {
            reason: n.reason(),
            at: rfc3339(n.at),
        })
    }

    pub(super) fn profiles(&self) -> Vec<ProfileView> {
        let me = self.engine.me();
        self.known_profiles()
            .into_iter()
            .map(|p| {
                let (converters, converter_names): (Vec<NodeId>, Vec<String>) = self
                    .engine
                    .replica()
                    .nodes()
                    .filter(|(id, _, _)| *id == me || self.engine.connected().contains(*id))
                    .filter(|(_, _, info)| {
                        info.converter
                            .as_ref()
                            .is_some_and(|a| a.profiles.contains(&p.name))
                    })
                    .map(|(id, _, info)| (id.clone(), info.name.clone()))
                    .unzip();
                ProfileView {
                    local: self
                        .engine
                        .config()
                        .converter
                        .as_ref()
                        .is_some_and(|a| a.profiles.contains(&p.name)),
                    name: p.name,
                    media_types: p.media_types,
                    encoder: p.encoder,
                    extension: p.extension,
                    converters,
                    converter_names,
                }
            })
            .collect()
    }

    pub(super) fn info(&self) -> NodeView {
        NodeView {
            node_id: self.engine.me().clone(),
            name: self.engine.config().name.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            data_dir: self.data_dir.display().to_string(),
            listen_addrs: self
                .peer_book
                .listen_addrs
                .iter()
                .map(|a| a.to_string())
                .collect(),
            converter: self.engine.config().converter.is_some(),
            output_dir: self.config.node.output_dir.display().to_string(),
            upgrading: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str, media: &[MediaType]) -> KnownProfile {
        KnownProfile {
            name: name.into(),
            media_types: media.to_vec(),
            encoder: "-".into(),
            extension: "-".into(),
        }
    }

    #[test]
    fn offer_profile_must_be_known_and_fit_the_media() {
        let k = [
            known("mkv-x265", &[MediaType::Video]),
            known("opus", &[MediaType::Audio]),
            known("flac", &[MediaType::Audio]),
        ];
        assert!(check_offer_profile(&k, "flac", MediaType::Audio).is_ok());
        let e = check_offer_profile(&k, "flac", MediaType::Video).unwrap_err();
        assert_eq!(
            e,
            "profile `flac` does not convert video; for this file choose one of: mkv-x265"
        );
        let e = check_offer_profile(&k, "wav", MediaType::Audio).unwrap_err();
        assert!(
            e.starts_with("unknown profile `wav`; for this audio file choose one of: opus, flac"),
            "{e}"
        );
    }
}
