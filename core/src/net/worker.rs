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

pub(crate) fn spawn_ingest(
    node: Weak<NodeInner>,
    rx: Receiver<IngestItem>,
    cmds: UnboundedSender<NetCommand>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("fieldsync-ingest".into())
        .spawn(move || {
            while let Ok(item) = rx.recv() {
                let Some(node) = node.upgrade() else { break };
                let (document, peer, from_gossip, result) = match item {
                    IngestItem::Wire {
                        document,
                        peer,
                        bytes,
                    } => (document, peer, true, node.ingest_wire(document, &bytes)),
                    IngestItem::Event(e) => {
                        node.emit(e);
                        continue;
                    }
                    IngestItem::Stop => break,
                };
                tracing::debug!(?result, from_gossip, "ingest outcome");
                match result {
                    Ok(IngestOutcome::Applied { .. }) | Ok(IngestOutcome::Stored { .. }) => {
                        let _ = cmds.send(NetCommand::HeadsChanged(document));
                    }
                    Ok(IngestOutcome::Duplicate) => {}
                    Err(IngestError::SeqGap { .. }) => {
                        // Something was missed (lost gossip): catch up with the sender.
                        if from_gossip {
                            let _ = cmds.send(NetCommand::SyncWith(document, peer));
                        }
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
        })
}
