//! Telling the user that one of this node's items ended (delivered, or failed for good): the
//! `[notify] on_done` command and a desktop notification. Both run off the core task; their
//! failures are logged, never fatal.

mod command;
mod desktop;
pub mod text;

use crate::control::api::ItemView;
use tokio::sync::broadcast::error::RecvError;

use crate::config::NotifyConfig;
use crate::core::EndedReceiver;

pub use command::{run_on_done, OnDoneError};
pub use desktop::{desktop_available, notify_desktop};
pub use text::{for_notification, for_terminal};

/// Announces each item that ends on `ended` (the core's channel) until the core stops.
///
/// A lag cannot be re-derived (announcements are not recorded), and cannot happen in
/// practice: this loop only starts background tasks, far faster than items end. Should it
/// happen, the number of items not announced is logged.
pub fn spawn_announcer(cfg: NotifyConfig, mut ended: EndedReceiver) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match ended.recv().await {
                Ok(e) => item_ended(&cfg, e.item),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        "[notify]: {missed} ended item(s) were not announced (fell behind)"
                    )
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

/// Runs what `[notify]` asks for `item`, in the background.
pub fn item_ended(cfg: &NotifyConfig, item: ItemView) {
    if let Some(cmd) = cfg.on_done.clone() {
        let (timeout, item) = (cfg.timeout, item.clone());
        tokio::spawn(async move {
            match run_on_done(&cmd, &item, timeout).await {
                Ok(()) => tracing::debug!(item = %item.item_id, "on_done ran"),
                Err(e) => tracing::warn!(item = %item.item_id, "[notify] on_done: {e}"),
            }
        });
    }
    if cfg.desktop {
        tokio::spawn(async move { notify_desktop(&item).await });
    }
}

#[cfg(test)]
mod tests;
