//! [`ChangeStream`]: an observer of a document or of one container in it.

use std::sync::Arc;

use crate::document::DocumentError;
use crate::node::Document;
use crate::replica::observe::{ChangeBatch, ChangeQueue, Queued};

/// What an observer receives.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeItem {
    /// The observed value now, as JSON: always the first item, so a UI can bind directly.
    Current {
        /// The document's canonical JSON, or the observed container's JSON.
        json: String,
    },
    /// Changes of one local edit or one import of a device's operations.
    Changes(ChangeBatch),
    /// Changes were dropped (the observer fell more than
    /// `replica::observe::QUEUE_BATCHES` batches behind, or the document was rebuilt from
    /// the store): here is the value now; later items continue from it.
    Lagged {
        /// The value now, as in [`ChangeItem::Current`].
        json: String,
    },
}

/// A pull subscription to changes of a document or of one container of it (and
/// everything below it), from [`Document::observe`] / [`Document::observe_path`].
///
/// Memory is bounded: at most 256 batches wait per observer; beyond that it receives one
/// [`ChangeItem::Lagged`]. Dropping the stream ends the subscription.
pub struct ChangeStream {
    pub(crate) doc: Document,
    pub(crate) queue: Arc<ChangeQueue>,
    /// The value when the stream was made, until it is taken as the first item.
    pub(crate) first: Option<String>,
}

impl std::fmt::Debug for ChangeStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ChangeStream({:?})", self.doc)
    }
}

impl ChangeStream {
    fn current(&self) -> Result<String, DocumentError> {
        self.doc.replica.observed_json(self.doc.id, &self.queue)
    }

    /// The next item if one is ready.
    pub fn try_next(&mut self) -> Result<Option<ChangeItem>, DocumentError> {
        if let Some(json) = self.first.take() {
            return Ok(Some(ChangeItem::Current { json }));
        }
        Ok(match self.queue.pop() {
            None => None,
            Some(Queued::Batch(b)) => Some(ChangeItem::Changes(b)),
            Some(Queued::Lagged) => Some(ChangeItem::Lagged {
                json: self.current()?,
            }),
        })
    }

    /// Waits for the next item. Cancel-safe: an item is only taken when it is returned.
    pub async fn next(&mut self) -> Result<ChangeItem, DocumentError> {
        let queue = self.queue.clone();
        loop {
            let notified = queue.notify.notified();
            if let Some(item) = self.try_next()? {
                return Ok(item);
            }
            notified.await;
        }
    }
}
