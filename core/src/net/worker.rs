//! The ingest worker: two OS threads (a verify stage and the ingest thread, see
//! [`spawn_ingest`]) that validate and apply everything sync receives, in arrival order, and
//! forward sync events after the operations that preceded them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Weak};

use tokio::sync::mpsc::UnboundedSender;

use crate::base::events::Event;
use crate::base::ids::{AuthorId, DocumentId};
use crate::net::budget::Grant;
use crate::net::{NetCommand, NetShared};
use crate::replica::{IngestError, IngestOutcome, Replica};
use crate::wire::operation::{self, Authenticated};

/// Bytes a document's gossip has waiting in the ingest queue. The queue itself is unbounded,
/// so every source checks its budget before queueing: gossip drops a push when its backlog
/// is full (catch-up repairs it); a catch-up session waits for its grant of the node's
/// receive budget before it reads a frame (`budget.rs`: QUIC flow control then slows the
/// peer down). Without this, a peer streaming operations faster than they are validated grew
/// memory without bound and starved every other peer (found by
/// `tests/tests/integration/hostile_peer.rs`).
#[derive(Clone, Default)]
pub(crate) struct Backlog(Arc<BacklogInner>);

#[derive(Default)]
struct BacklogInner {
    /// Bytes queued or in validation.
    queued: AtomicUsize,
}

impl Backlog {
    /// Whether `len` more bytes fit: always when nothing waits (one operation of any
    /// accepted size), otherwise while the backlog stays within `max` bytes.
    pub(crate) fn has_room(&self, len: usize, max: usize) -> bool {
        let queued = self.0.queued.load(Ordering::Acquire);
        queued == 0 || queued.saturating_add(len) <= max
    }

    /// Counts `len` bytes as queued until the returned permit is dropped.
    pub(crate) fn acquire(&self, len: usize) -> Permit {
        self.0.queued.fetch_add(len, Ordering::AcqRel);
        Permit {
            backlog: self.0.clone(),
            len,
        }
    }
}

/// Bytes counted in a [`Backlog`] while an operation waits for (or is in) validation.
pub(crate) struct Permit {
    backlog: Arc<BacklogInner>,
    len: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.backlog.queued.fetch_sub(self.len, Ordering::AcqRel);
    }
}

/// What a received operation holds of a budget until it was processed: a gossip backlog's
/// permit or the receive budget's grant (catch-up). Never read: dropping it releases it.
#[allow(dead_code)]
pub(crate) enum Held {
    /// Counted in a document's gossip backlog.
    Backlog(Permit),
    /// Granted by the node's receive budget.
    Budget(Grant),
}

/// Work for the ingest thread.
pub(crate) enum IngestItem {
    /// An encoded operation from `peer` for `document` (gossip push or catch-up).
    Wire {
        document: DocumentId,
        peer: AuthorId,
        bytes: Vec<u8>,
        /// Released once the operation was processed.
        held: Held,
    },
    /// A sync event, emitted once everything before it was ingested.
    Event(Event),
    /// The network stops: end the thread (senders may outlive the network).
    Stop,
}

/// An encoded operation from a peer for a document, with its backlog permit (released when
/// the batch it is in was processed).
type Received = (DocumentId, AuthorId, Vec<u8>, Held);

/// Most operations ingested in one SQLite transaction. A commit writes every page the
/// transaction touched: the more operations share a transaction, the fewer pages per
/// operation are written. Batches only grow this large when that many operations already
/// wait (a catch-up); a live edit is a batch of one. The node's own writes wait for the
/// batch being stored, so this trades catch-up speed against their latency meanwhile.
/// Measured with `fieldsync-bench catchup 100000` (three alternating runs each, a write
/// every 20 ms meanwhile): 512 took 7.3-9.0 s with writes at p50 14-24 ms / p99 80-131 ms;
/// 1024 took 6.4-7.8 s, writes 36-48 / 143-288 ms; 2048 took 6.9-8.7 s, writes 93-130 /
/// 210-275 ms. 512 is kept: ~11 % slower than 1024, for half the latency of an app's edits
/// during a bulk catch-up.
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
                held,
            } => batch.push((document, peer, bytes, held)),
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
    node: &Replica,
    shared: &NetShared,
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
                let mut rejected = shared.rejected.lock().unwrap_or_else(|p| p.into_inner());
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

/// A batch of received operations, decoded and authenticated by the verify stage, on its
/// way to the ingest stage.
struct Verified {
    /// The received items (their permits are released once the batch is ingested).
    batch: Vec<Received>,
    /// Decoding result of each item, in order.
    decoded: Vec<Result<Authenticated, IngestError>>,
    /// The non-operation item that ended the batch, handled after it.
    after: Option<IngestItem>,
}

/// Decoded batches allowed to wait for the ingest stage: one being verified while one is
/// ingested keeps both stages busy; more would only hold memory.
const VERIFIED_QUEUE: usize = 1;

/// Starts the two threads that process what sync receives, in arrival order:
///
/// - `fieldsync-verify` batches queued operations and decodes and authenticates them (the
///   Ed25519 verification dominates) on all cores;
/// - `fieldsync-ingest` stores and applies each verified batch in one SQLite transaction and
///   forwards sync events after the operations that preceded them.
///
/// The stages overlap: the next batch is verified while the previous one is stored. Backlog
/// permits travel with their batch, so a source's backlog covers both stages. Returns the
/// ingest thread, which ends after [`IngestItem::Stop`] (and joins the verify thread then).
pub(crate) fn spawn_ingest(
    node: Weak<Replica>,
    shared: Weak<NetShared>,
    rx: Receiver<IngestItem>,
    cmds: UnboundedSender<NetCommand>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let limits = match node.upgrade() {
        Some(n) => (n.config.max_operation_bytes, n.config.max_body_bytes),
        None => return Err(std::io::Error::other("node closed")),
    };
    let (verified_tx, verified_rx) = std::sync::mpsc::sync_channel::<Verified>(VERIFIED_QUEUE);
    let verify = std::thread::Builder::new()
        .name("fieldsync-verify".into())
        .spawn(move || verify_stage(rx, verified_tx, limits))?;
    std::thread::Builder::new()
        .name("fieldsync-ingest".into())
        .spawn(move || {
            while let Ok(Verified {
                batch,
                decoded,
                after,
            }) = verified_rx.recv()
            {
                let (Some(node), Some(shared)) = (node.upgrade(), shared.upgrade()) else {
                    break;
                };
                if !batch.is_empty() {
                    let results = node.ingest_decoded_batch(decoded);
                    let mut changed = Vec::new();
                    for ((document, peer, _, _), result) in batch.iter().zip(results) {
                        handle(
                            &node,
                            &shared,
                            &cmds,
                            *document,
                            *peer,
                            result,
                            &mut changed,
                        );
                    }
                    for document in changed {
                        let _ = cmds.send(NetCommand::HeadsChanged(document));
                    }
                }
                drop(batch);
                match after {
                    Some(IngestItem::Event(e)) => {
                        if let Event::SyncFinished {
                            document,
                            peer,
                            received_ops,
                            ..
                        } = &e
                        {
                            shared.synced(*document, *peer);
                            // What the session brought is committed: one more session
                            // tells the peer our heights, which acknowledge its operations
                            // (its outbox empties without waiting for our announcement).
                            if *received_ops > 0 {
                                let _ = cmds.send(NetCommand::SyncWith(*document, *peer));
                            }
                        }
                        node.emit(e)
                    }
                    Some(IngestItem::Stop) => {
                        // The verify stage forwarded Stop as its last item.
                        let _ = verify.join();
                        break;
                    }
                    Some(IngestItem::Wire { .. }) | None => {}
                }
            }
        })
}

/// The verify stage: batches queued items and decodes each batch on all cores. Ends after
/// forwarding [`IngestItem::Stop`], or when either side of it is gone.
fn verify_stage(
    rx: Receiver<IngestItem>,
    tx: std::sync::mpsc::SyncSender<Verified>,
    (max_operation_bytes, max_body_bytes): (usize, u64),
) {
    while let Ok(first) = rx.recv() {
        let (batch, after) = next_batch(first, &rx);
        let authenticated = operation::authenticate_many(
            &batch,
            |(_, _, bytes, _)| bytes,
            max_operation_bytes,
            max_body_bytes,
        );
        let decoded = batch
            .iter()
            .zip(authenticated)
            .map(|((document, ..), op)| {
                op.and_then(|op| operation::check_document(*document, op))
                    .map_err(IngestError::from)
            })
            .collect();
        let stop = matches!(after, Some(IngestItem::Stop));
        if tx
            .send(Verified {
                batch,
                decoded,
                after,
            })
            .is_err()
            || stop
        {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_takes_one_operation_of_any_size_then_bounds_the_rest() {
        let backlog = Backlog::default();
        assert!(backlog.has_room(1000, 10));
        let held = backlog.acquire(1000);
        assert!(!backlog.has_room(1, 10));
        drop(held);
        assert!(backlog.has_room(5, 10));
        let small = backlog.acquire(5);
        assert!(backlog.has_room(5, 10) && !backlog.has_room(6, 10));
        drop(small);
    }
}
