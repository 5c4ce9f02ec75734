//! A document's sync status as a pull stream, for a UI's "synced / 3 pending / 2 peers" line.

use std::sync::Arc;
use std::time::Duration;

use fieldsync::EventStream;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::document::Document;
use crate::network::SyncStatus;

/// How often the status is re-read when no event arrives (outbox acknowledgements and
/// connection drops need not come with an event).
const RECHECK: Duration = Duration::from_secs(1);

/// Changes of one document's `SyncStatus`, from `Document.syncStatuses()`: the first
/// `SyncStatusSubscription.next` returns the status now, every later one waits until it
/// differs (peers connect or leave, the outbox fills or drains, a sync finishes, the network
/// starts or stops). `android/` wraps it as a `Flow` (`document.syncStatusFlow()`), `ios/` as an
/// `AsyncStream` (`document.syncStatusStream()`).
#[derive(uniffi::Object)]
pub struct SyncStatusSubscription {
    node: fieldsync::Node,
    document: fieldsync::DocumentId,
    state: Arc<Mutex<(EventStream, Option<SyncStatus>)>>,
    cancel: CancellationToken,
}

impl SyncStatusSubscription {
    pub(crate) fn new(doc: &Document, node: fieldsync::Node, cancel: CancellationToken) -> Self {
        let events = node.subscribe();
        SyncStatusSubscription {
            node,
            document: doc.inner.id(),
            state: Arc::new(Mutex::new((events, None))),
            cancel,
        }
    }
}

#[uniffi::export]
impl SyncStatusSubscription {
    /// The status now (first call) or once it changed; `null`/`nil` when the subscription
    /// ended (cancelled, node shut down, document deleted). Never throws.
    ///
    /// Cancel safety: Cancelling the calling coroutine / task drops the wait; the next call returns the
    /// status if it differs from the last one returned.
    pub async fn next(&self) -> Option<SyncStatus> {
        let (node, document) = (self.node.clone(), self.document);
        let (state, cancel) = (self.state.clone(), self.cancel.clone());
        let res = crate::guard_async(async move {
            let mut state = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(None),
                s = state.lock_owned() => s,
            };
            loop {
                let now = SyncStatus::from(node.sync_status(document).await?);
                if state.1.as_ref() != Some(&now) {
                    state.1 = Some(now.clone());
                    return Ok(Some(now));
                }
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Ok(None),
                    e = state.0.next() => if e.is_none() { return Ok(None) },
                    _ = tokio::time::sleep(RECHECK) => {}
                }
            }
        })
        .await;
        match res {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(target: "fieldsync_ffi", "sync status subscription ended: {e}");
                self.cancel.cancel();
                None
            }
        }
    }

    /// Ends the subscription: a pending and every later `next()` returns `null`/`nil`.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for SyncStatusSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
