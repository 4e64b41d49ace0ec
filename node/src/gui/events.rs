//! `GET /v1/events`: server-sent events of what changed, read from the core's changes
//! channel. An `item` event carries the item's view as `GET /v1/items/{id}` gives it, a
//! `peers` event the list `GET /v1/peers` gives; `resync` says the stream fell behind and the
//! page should read its list again; `ready` opens the stream. Changes are gathered for a
//! moment and sent once each, so a converting item costs a few events a second at most.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

use crate::core::{Change, ChangeSender, CoreHandle};

/// How long changes are gathered before they are sent.
const GATHER: Duration = Duration::from_millis(200);

/// What the stream needs.
#[derive(Clone)]
pub(super) struct Events {
    pub core: CoreHandle,
    pub changes: ChangeSender,
    pub shutdown: watch::Receiver<bool>,
}

pub(super) async fn events(
    State(ev): State<Events>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = ev.changes.subscribe();
    let ready = stream::once(async { vec![Event::default().event("ready").data("{}")] });
    let batches = stream::unfold((rx, ev.core), |(mut rx, core)| async move {
        let batch = next_batch(&mut rx, &core).await?;
        Some((batch, (rx, core)))
    });
    let mut shutdown = ev.shutdown;
    let stop = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let stream = ready
        .chain(batches)
        .flat_map(stream::iter)
        .map(Ok)
        .take_until(stop);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The events of the next changes; `None` when the core is gone.
async fn next_batch(rx: &mut broadcast::Receiver<Change>, core: &CoreHandle) -> Option<Vec<Event>> {
    let first = match rx.recv().await {
        Ok(change) => change,
        Err(RecvError::Lagged(_)) => return Some(vec![resync()]),
        Err(RecvError::Closed) => return None,
    };
    tokio::time::sleep(GATHER).await;
    let mut items = BTreeSet::new();
    let mut peers = false;
    let mut note = |c: Change| match c {
        Change::Item(id) => {
            items.insert(id);
        }
        Change::Peers => peers = true,
    };
    note(first);
    loop {
        match rx.try_recv() {
            Ok(change) => note(change),
            Err(TryRecvError::Lagged(_)) => return Some(vec![resync()]),
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Closed) => break,
        }
    }
    let mut out = Vec::new();
    for id in items {
        // An item compacted meanwhile has no view: nothing to show.
        if let Ok(view) = core.status(id).await {
            out.extend(json_event("item", &view));
        }
    }
    if peers {
        if let Ok(list) = core.peers().await {
            out.extend(json_event("peers", &list));
        }
    }
    Some(out)
}

fn resync() -> Event {
    Event::default().event("resync").data("{}")
}

fn json_event(name: &str, value: &impl serde::Serialize) -> Option<Event> {
    Event::default().event(name).json_data(value).ok()
}
