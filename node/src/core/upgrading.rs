//! While the start's fill-in runs (`upgrade.rs`), the control socket already answers: `info`,
//! `status` and `list` from what the store holds (the summary rows written so far, and those
//! from before), each saying how far the upgrade got; everything else (offers, cancels,
//! priority changes, retries, fetches, peers, profiles) is refused with that line until the engine is restored,
//! which happens only once every item's state is known. Nothing is scheduled before then: the
//! engine and the swarm do not exist yet. The answers read through a second, read-only
//! connection (`store/reader.rs`), so none waits behind the fill-in's current step on the
//! store thread (counting the items, storing the horizons, a batch).

use dmc_protocol::{ItemId, NodeId};
use tokio::sync::watch;

use super::handle::{Command, Commands, CoreError};
use super::summaries::{page_query, stored_view};
use super::upgrade::{fill_in_reporting, FillInRules, FilledIn};
use crate::control::api::{CheckedList, ItemPage, ItemView, NodeView, UpgradingView};
use crate::store::{Store, StoreError, StoreReader};

/// Runs the fill-in while answering `commands` as this module says, once it has found items
/// to fill in (a start with nothing to do answers nothing here: its commands wait for the
/// core, as they would have); `node` is what `info` shows of this node meanwhile. Commands
/// left when the fill-in ends wait for the core.
pub(crate) async fn fill_in_answering(
    store: &Store,
    rules: &FillInRules,
    commands: &mut Commands,
    node: NodeView,
) -> Result<FilledIn, StoreError> {
    let (progress_tx, mut progress) = watch::channel(None);
    let answers = Answers {
        reader: store.open_reader().await?,
        me: rules.me.clone(),
        node,
        progress: progress.clone(),
    };
    let fill = fill_in_reporting(store, rules, &progress_tx);
    tokio::pin!(fill);
    loop {
        let upgrading = progress.borrow_and_update().is_some();
        // Queued commands first; answering one reads beside the fill-in, not after it.
        tokio::select! {
            biased;
            cmd = commands.0.recv(), if upgrading => match cmd {
                Some(cmd) => answers.answer(cmd).await,
                None => return fill.await,
            },
            _ = progress.changed(), if !upgrading => {}
            done = &mut fill => return done,
        }
    }
}

/// What the answers are made from.
struct Answers {
    /// Reads what the fill-in has committed so far, beside it.
    reader: StoreReader,
    me: NodeId,
    node: NodeView,
    /// `None` until the fill-in has found items to fill in.
    progress: watch::Receiver<Option<UpgradingView>>,
}

impl Answers {
    fn upgrading(&self) -> UpgradingView {
        self.progress.borrow().unwrap_or_default()
    }

    /// Why a command waits: the upgrade's line, and what to do.
    fn refusal(&self, what: &str) -> CoreError {
        CoreError::Upgrading(format!(
            "{}: this node takes no {what} until it is done; `dmc status` shows how far it got",
            self.upgrading().text()
        ))
    }

    async fn answer(&self, cmd: Command) {
        match cmd {
            Command::Info { reply } => {
                let _ = reply.send(Ok(NodeView {
                    upgrading: Some(self.upgrading()),
                    ..self.node.clone()
                }));
            }
            Command::List { query, reply } => {
                let _ = reply.send(self.list(query).await);
            }
            Command::Status { item, reply } => {
                let _ = reply.send(self.status(item).await);
            }
            Command::Offer { reply, .. } => {
                let _ = reply.send(Err(self.refusal("offers")));
            }
            Command::Cancel { reply, .. } => {
                let _ = reply.send(Err(self.refusal("cancels")));
            }
            Command::Priority { reply, .. } => {
                let _ = reply.send(Err(self.refusal("priority changes")));
            }
            Command::Retry { reply, .. } => {
                let _ = reply.send(Err(self.refusal("retries")));
            }
            Command::Fetch { reply, .. } => {
                let _ = reply.send(Err(self.refusal("fetches")));
            }
            Command::Peers { reply } => {
                let _ = reply.send(Err(self.refusal("questions about peers")));
            }
            Command::Profiles { reply } => {
                let _ = reply.send(Err(self.refusal("questions about profiles")));
            }
        }
    }

    /// A page of the rows written so far (no live state: nothing runs yet).
    async fn list(&self, q: CheckedList) -> Result<ItemPage, CoreError> {
        let (offset, limit) = (q.offset, q.limit);
        let page = match page_query(q, &self.me) {
            Some(query) => self
                .reader
                .summary_page(query)
                .await
                .map_err(|e| CoreError::Internal(e.to_string()))?,
            None => crate::store::SummaryPage {
                rows: Vec::new(),
                total: 0,
            },
        };
        let items: Vec<ItemView> = page
            .rows
            .iter()
            .filter_map(|(id, json)| stored_view(id, json))
            .collect();
        let mut answer = ItemPage::new(items, page.total, offset, limit, 0);
        answer.upgrading = Some(self.upgrading());
        Ok(answer)
    }

    /// One item's row, if written yet.
    async fn status(&self, id: ItemId) -> Result<ItemView, CoreError> {
        let json = self
            .reader
            .summary(id)
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        match json.and_then(|j| stored_view(&id.to_string(), &j)) {
            Some(view) => Ok(view),
            None => Err(CoreError::Upgrading(format!(
                "no item {id} is known yet ({}); try again when `dmc status` no longer says so",
                self.upgrading().text()
            ))),
        }
    }
}
