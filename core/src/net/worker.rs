//! The ingest worker: one OS thread that validates and applies everything sync receives, in
//! arrival order, and forwards sync events after the operations that preceded them.

use std::sync::mpsc::Receiver;
use std::sync::Weak;

use tokio::sync::mpsc::UnboundedSender;

use crate::error::IngestError;
use crate::events::Event;
use crate::ids::{AuthorId, DocumentId};
use crate::net::NetCommand;
use crate::node::{IngestOutcome, NodeInner};

/// Work for the ingest thread.
pub(crate) enum IngestItem {
    /// An encoded operation from `peer` for `document` (gossip push or catch-up).
    Wire {
        document: DocumentId,
        peer: AuthorId,
        bytes: Vec<u8>,
    },
    /// A sync event, emitted once everything before it was ingested.
    Event(Event),
    /// The network stops: end the thread (senders may outlive the network).
    Stop,
}

/// An encoded operation from a peer for a document.
type Received = (DocumentId, AuthorId, Vec<u8>);

/// Most operations ingested in one SQLite transaction.
const MAX_BATCH: usize = 512;

/// Collects the operations waiting in the queue (up to [`MAX_BATCH`]), stopping at the first
/// non-operation item, which is returned to be handled after the batch.
fn next_batch(first: IngestItem, rx: &Receiver<IngestItem>) -> (Vec<Received>, Option<IngestItem>) {
    let mut batch = Vec::new();
    let mut item = first;
    loop {
        match item {
            IngestItem::Wire {
                document,
                peer,
                bytes,
            } => batch.push((document, peer, bytes)),
            other => return (batch, Some(other)),
        }
        if batch.len() >= MAX_BATCH {
            return (batch, None);
        }
        match rx.try_recv() {
            Ok(next) => item = next,
            Err(_) => return (batch, None),
        }
    }
}

/// Reacts to the outcome of one received operation.
fn handle(
    node: &NodeInner,
    cmds: &UnboundedSender<NetCommand>,
    document: DocumentId,
    peer: AuthorId,
    result: Result<IngestOutcome, IngestError>,
    changed: &mut Vec<DocumentId>,
) {
    tracing::debug!(?result, "ingest outcome");
    match result {
        Ok(IngestOutcome::Applied { .. }) | Ok(IngestOutcome::Stored { .. }) => {
            if !changed.contains(&document) {
                changed.push(document);
            }
        }
        Ok(IngestOutcome::Duplicate) => {}
        Err(IngestError::SeqGap { .. }) => {
            // Something was missed (lost gossip): catch up with the sender.
            let _ = cmds.send(NetCommand::SyncWith(document, peer));
        }
        Err(IngestError::Store(e)) => {
            tracing::error!("storing a received operation failed: {e}");
        }
        Err(e) => {
            let total = {
                let mut rejected = node
                    .net
                    .shared
                    .rejected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                let n = rejected.entry((Some(peer), document)).or_insert(0);
                *n += 1;
                *n
            };
            tracing::warn!("rejected operation from {peer}: {e}");
            node.emit(Event::OperationsRejected {
                peer: Some(peer),
                document,
                total,
                reason: e.to_string(),
            });
        }
    }
}

pub(crate) fn spawn_ingest(
    node: Weak<NodeInner>,
    rx: Receiver<IngestItem>,
    cmds: UnboundedSender<NetCommand>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fieldsync-ingest".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let (batch, after) = next_batch(first, &rx);
                let Some(node) = node.upgrade() else { break };
                if !batch.is_empty() {
                    let results =
                        node.ingest_wire_batch(batch.iter().map(|(d, _, b)| (*d, b.as_slice())));
                    let mut changed = Vec::new();
                    for ((document, peer, _), result) in batch.iter().zip(results) {
                        handle(&node, &cmds, *document, *peer, result, &mut changed);
                    }
                    for document in changed {
                        let _ = cmds.send(NetCommand::HeadsChanged(document));
                    }
                }
                match after {
                    Some(IngestItem::Event(e)) => node.emit(e),
                    Some(IngestItem::Stop) => break,
                    Some(IngestItem::Wire { .. }) | None => {}
                }
            }
        })
}
