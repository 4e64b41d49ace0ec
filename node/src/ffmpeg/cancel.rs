//! A cloneable cancellation token built on `tokio::sync::watch`.

use std::sync::Arc;

use tokio::sync::watch;

/// Shared cancellation flag: every clone sees `cancel()` from any other clone.
#[derive(Clone, Debug)]
pub struct CancelToken {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancelToken {
    pub fn new() -> Self {
        let (tx, _rx) = watch::channel(false);
        CancelToken { tx: Arc::new(tx) }
    }

    /// Requests cancellation (idempotent).
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once `cancel()` has been called on any clone.
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so this only returns once the flag is set.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}
