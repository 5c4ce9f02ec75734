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
use crate::operation::FsOperation;

/// Work for the ingest thread.
pub(crate) enum IngestItem {
    /// An operation received from `peer` for `document`.
    Op {
        document: DocumentId,
        peer: AuthorId,
        op: Box<FsOperation>,
    },
    /// A sync event, emitted once everything before it was ingested.
    Event(Event),
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
                match item {
                    IngestItem::Op { document, peer, op } => {
                        match node.ingest_received(document, *op) {
                            Ok(IngestOutcome::Applied { .. })
                            | Ok(IngestOutcome::Stored { .. }) => {
                                let _ = cmds.send(NetCommand::HeadsChanged(document));
                            }
                            Ok(IngestOutcome::Duplicate) | Err(IngestError::SeqGap { .. }) => {}
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
                    IngestItem::Event(e) => node.emit(e),
                }
            }
        })
}
