//! A catch-up [`Session`] that needs no QUIC endpoint: for links an app supplies
//! (`link.rs`) and offline bundles (`bundle.rs`). It has its own ingest worker (the same
//! two-stage worker as the network's) and receive budget; [`Standalone::finish`] returns
//! once everything it received was processed.

use std::sync::{Arc, Weak};

use crate::net::budget::{self, ReceiveBudget};
use crate::net::catchup::{CatchupError, Session};
use crate::net::config::PeerFilter;
use crate::net::sync_store::SyncStore;
use crate::net::worker::{self, IngestItem};
use crate::net::NetSlot;
use crate::replica::Replica;

/// A session and the worker that ingests what it receives.
pub(crate) struct Standalone {
    pub session: Session,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Standalone {
    /// A session on `node`'s store. When the QUIC network runs, what the worker applies is
    /// announced to its peers as usual.
    pub(crate) fn new(node: &Arc<Replica>, slot: &NetSlot) -> Result<Self, CatchupError> {
        let store = SyncStore::open(&node.db_path(), &node.store_cipher())
            .map_err(|e| CatchupError::Store(e.to_string()))?;
        let commands = slot
            .commands
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            // No network: commands (announce heads, catch up with a peer) go nowhere.
            .unwrap_or_else(|| tokio::sync::mpsc::unbounded_channel().0);
        let (ingest_tx, ingest_rx) = std::sync::mpsc::channel();
        let weak: Weak<Replica> = Arc::downgrade(node);
        let worker = worker::spawn_ingest(
            weak.clone(),
            Arc::downgrade(&slot.shared),
            ingest_rx,
            commands,
        )
        .map_err(|e| CatchupError::Store(e.to_string()))?;
        let session = Session {
            node: weak,
            store,
            ingest: ingest_tx,
            max_frame: node.max_operation_bytes(),
            budget: ReceiveBudget::new(
                budget::DEFAULT_RECEIVE_BUDGET.max(2 * node.max_operation_bytes()),
                budget::DEFAULT_CONNECTION_BUDGET,
            ),
            filter: PeerFilter::new(None),
            addresses: None,
        };
        Ok(Standalone {
            session,
            worker: Some(worker),
        })
    }

    /// Waits until everything received was validated and stored.
    pub(crate) async fn finish(mut self) {
        let _ = self.session.ingest.send(IngestItem::Stop);
        if let Some(worker) = self.worker.take() {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
    }
}

impl Drop for Standalone {
    fn drop(&mut self) {
        // Dropped without `finish` (a cancelled future): the worker ends on its own.
        let _ = self.session.ingest.send(IngestItem::Stop);
    }
}
