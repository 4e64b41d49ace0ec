//! Ephemeral progress: this converter's reports and heartbeats, the newest report of each
//! open item held in memory, and reports from peers checked, taken in and relayed once.
//! Nothing here is a record: a report renews the lease and feeds the converter's measured
//! speed and the status view, then the next report replaces it.

use crate::ids::{Epoch, ItemId, Millis, NodeId};
use crate::item::{ItemState, Phase};
use crate::record::ProgressInfo;
use crate::report::ProgressReport;
use crate::wire::Request;

use super::{note_speed, Effect, Engine};

/// What became of a report from a peer.
enum Taken {
    /// Newer than what we held: kept (and to be relayed).
    New,
    /// Nothing new (a duplicate or older), or about an item or epoch we cannot judge yet.
    Ignored,
    /// Invalid, forged, or from a node that does not hold the item: refused with a reason.
    Refused(String),
}

impl Engine {
    /// The newest progress report we hold on an item's current epoch, from its converter.
    pub fn report(&self, item_id: &ItemId) -> Option<&ProgressReport> {
        let r = self.reports.get(item_id)?;
        let item = self.replica.item(item_id)?;
        (item.assignment.as_ref() == Some(&(r.epoch, r.author.clone()))).then_some(r)
    }

    /// An item as users see it: its records' state, with the newest progress report of its
    /// converter laid over it (phase and progress while it runs).
    pub fn live_item(&self, item: &ItemState) -> ItemState {
        let mut live = item.clone();
        if let Some(r) = self.report(&item.item_id()) {
            live.overlay_progress(r.progress, r.created_at);
        }
        live
    }

    /// Converter: makes, keeps and sends a report of ours on an item we run in `epoch`, if
    /// we hold it; otherwise does nothing.
    pub(super) fn report_progress(
        &mut self,
        item_id: ItemId,
        epoch: Epoch,
        progress: ProgressInfo,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        if !self.job_wanted(&item_id, epoch) || progress.validate().is_err() {
            return;
        }
        let mut report = ProgressReport {
            author: self.cfg.me().clone(),
            item_id,
            epoch,
            progress,
            created_at: now,
            sig: Default::default(),
        };
        self.cfg.signer.sign_report(&mut report);
        self.reported.insert(item_id, now);
        note_speed(&mut self.speeds, &report.author, &report.progress);
        for peer in &self.connected {
            fx.push(Effect::Send {
                to: peer.clone(),
                request: Request::Progress {
                    report: report.clone(),
                },
            });
        }
        self.reports.insert(item_id, report);
    }

    /// Converter: what we last reported on an item we run, for a heartbeat (queued if we
    /// have reported nothing in this epoch yet).
    pub(super) fn last_progress(&self, item_id: &ItemId, epoch: Epoch) -> ProgressInfo {
        self.reports
            .get(item_id)
            .filter(|r| r.epoch == epoch && r.author == *self.cfg.me())
            .map(|r| r.progress)
            .unwrap_or(ProgressInfo {
                stage: crate::record::Stage::Queued,
                fraction: 0.0,
                fps: None,
                speed: None,
                eta_secs: None,
                segments: None,
            })
    }

    /// A peer connected: it gets at once a fresh report on every item we run, and the newest
    /// report we hold on the others, so it sees the current progress without waiting.
    pub(super) fn reports_for_new_peer(
        &mut self,
        peer: &NodeId,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        let me = self.cfg.me().clone();
        let running: Vec<(ItemId, Epoch)> = self
            .replica
            .open_items()
            .filter_map(|i| i.assignment.as_ref().map(|(e, _)| (i.item_id(), *e)))
            .filter(|(id, e)| self.job_wanted(id, *e))
            .collect();
        for (item_id, epoch) in running {
            let progress = self.last_progress(&item_id, epoch);
            // Sent to everyone: a fresh report also renews the lease where it is relayed.
            self.report_progress(item_id, epoch, progress, now, fx);
        }
        for r in self.reports.values().filter(|r| r.author != me) {
            if self.report(&r.item_id).is_some() && r.author != *peer {
                fx.push(Effect::Send {
                    to: peer.clone(),
                    request: Request::Progress { report: r.clone() },
                });
            }
        }
    }

    /// Takes in a report from a peer: checked, kept if newer than the one we hold, and then
    /// relayed once to every other connected peer (so a node reached only through this one
    /// sees it too). A report from the current converter renews the origin's lease.
    pub(super) fn receive_report(
        &mut self,
        from: &NodeId,
        report: ProgressReport,
        now: Millis,
        fx: &mut Vec<Effect>,
    ) {
        match self.take_report(&report) {
            Taken::Ignored => return,
            Taken::Refused(reason) => {
                fx.push(Effect::Refused {
                    from: from.clone(),
                    reason,
                });
                return;
            }
            Taken::New => {}
        }
        let id = report.item_id;
        if self
            .replica
            .item(&id)
            .is_some_and(|i| i.origin == *self.cfg.me())
        {
            self.heard.insert(id, now);
        }
        note_speed(&mut self.speeds, &report.author, &report.progress);
        for peer in self
            .connected
            .iter()
            .filter(|p| *p != from && **p != report.author)
        {
            fx.push(Effect::Send {
                to: peer.clone(),
                request: Request::Progress {
                    report: report.clone(),
                },
            });
        }
        self.reports.insert(id, report);
    }

    /// Judges a report from a peer.
    fn take_report(&self, r: &ProgressReport) -> Taken {
        if r.author == *self.cfg.me() {
            return Taken::Ignored;
        }
        if let Err(e) = r.validate().and_then(|()| crate::sign::verify_report(r)) {
            return Taken::Refused(e.to_string());
        }
        let Some(item) = self.replica.item(&r.item_id) else {
            return Taken::Ignored;
        };
        match item.assignment.as_ref() {
            Some((e, c)) if *e == r.epoch && *c != r.author => {
                return Taken::Refused(format!(
                    "progress report on item {} from {}, which does not hold it in epoch {}",
                    r.item_id,
                    r.author.short(),
                    r.epoch
                ));
            }
            // Another epoch: an old converter's late word, or one whose assignment we lack.
            Some((e, _)) if *e != r.epoch => return Taken::Ignored,
            None => return Taken::Ignored,
            Some(_) => {}
        }
        if !runs(item.phase)
            || self
                .reports
                .get(&r.item_id)
                .is_some_and(|h| !r.newer_than(h))
        {
            return Taken::Ignored;
        }
        Taken::New
    }

    /// Forgets reports on items no longer running in the epoch they were made for, so what is
    /// held stays bounded by the items running now.
    pub(super) fn forget_stale_reports(&mut self) {
        let replica = &self.replica;
        self.reports.retain(|id, r| {
            replica.item(id).is_some_and(|i| {
                runs(i.phase) && i.assignment.as_ref() == Some(&(r.epoch, r.author.clone()))
            })
        });
    }
}

/// Whether an item is in the hands of its converter, where progress is news.
fn runs(phase: Phase) -> bool {
    matches!(
        phase,
        Phase::Accepted | Phase::Transferring | Phase::Converting
    )
}
