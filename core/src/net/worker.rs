//! The ingest worker: two OS threads (a verify stage and the ingest thread, see
//! [`spawn_ingest`]) that validate and apply everything sync receives, in arrival order, and
//! forward sync events after the operations that preceded them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::base::events::Event;
use crate::base::ids::{AuthorId, DocumentId};
use crate::net::{NetCommand, NetShared};
use crate::replica::{IngestError, IngestOutcome, Replica};
use crate::wire::operation::{self, Authenticated};

/// Bytes one source (a catch-up session, a document's gossip) has waiting in the ingest
/// queue. The queue itself is unbounded, so every source checks its backlog before queueing:
/// a catch-up session stops reading from its peer (QUIC flow control then slows the peer
/// down), gossip drops the push (catch-up repairs it). Without this, a peer streaming
/// operations faster than they are validated grew memory without bound and starved every
/// other peer (found by `tests/tests/integration/hostile_peer.rs`).
#[derive(Clone, Default)]
pub(crate) struct Backlog(Arc<BacklogInner>);

#[derive(Default)]
struct BacklogInner {
    /// Bytes queued or in validation.
    queued: AtomicUsize,
    /// Signalled whenever queued bytes are released.
    released: tokio::sync::Notify,
}

impl Backlog {
    /// Whether `len` more bytes fit: always when nothing waits (one operation of any
    /// accepted size), otherwise while the backlog stays within `max` bytes.
    pub(crate) fn has_room(&self, len: usize, max: usize) -> bool {
        let queued = self.0.queued.load(Ordering::Acquire);
        queued == 0 || queued.saturating_add(len) <= max
    }

    /// Waits until `len` more bytes fit (see [`Backlog::has_room`]), until `deadline`.
    /// Returns false if the backlog stayed full that long.
    async fn room_until(&self, len: usize, max: usize, deadline: tokio::time::Instant) -> bool {
        loop {
            let released = self.0.released.notified();
            tokio::pin!(released);
            // Registered before the check, so a release between check and wait wakes us.
            released.as_mut().enable();
            if self.has_room(len, max) {
                return true;
            }
            if tokio::time::timeout_at(deadline, released).await.is_err() {
                return self.has_room(len, max);
            }
        }
    }

    /// Waits, for at most `limit`, until `len` more bytes fit both in this backlog (at most
    /// `max`) and in `shared` (at most `shared_max`), a budget several sources draw from.
    /// Returns false if either stayed full that long.
    pub(crate) async fn room_in_both(
        &self,
        (max, shared, shared_max): (usize, &Backlog, usize),
        len: usize,
        limit: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if !self.room_until(len, max, deadline).await
                || !shared.room_until(len, shared_max, deadline).await
            {
                return false;
            }
            // The shared budget may have filled the own one's room meanwhile: check again.
            if self.has_room(len, max) {
                return true;
            }
        }
    }

    /// Counts `len` bytes as queued until the returned permit is dropped.
    pub(crate) fn acquire(&self, len: usize) -> Permit {
        self.0.queued.fetch_add(len, Ordering::AcqRel);
        Permit {
            backlog: self.0.clone(),
            shared: None,
            len,
        }
    }

    /// Counts `len` bytes as queued both here and in `shared` until the permit is dropped.
    pub(crate) fn acquire_in_both(&self, shared: &Backlog, len: usize) -> Permit {
        let mut permit = self.acquire(len);
        shared.0.queued.fetch_add(len, Ordering::AcqRel);
        permit.shared = Some(shared.0.clone());
        permit
    }
}

/// One [`Backlog`] per peer, shared by all of that peer's sessions at once (several documents,
/// or several sessions on one): a peer cannot widen its share of a budget by opening more
/// sessions. An entry lives as long as a session holds its backlog.
#[derive(Clone, Default)]
pub(crate) struct PeerBacklogs(Arc<Mutex<HashMap<AuthorId, Weak<BacklogInner>>>>);

impl PeerBacklogs {
    /// The backlog of `peer`: the one its running sessions use, or a new one.
    pub(crate) fn of(&self, peer: AuthorId) -> Backlog {
        // A poisoned lock only means a panic elsewhere mid-update of this map of weak
        // references, which leaves it consistent.
        let mut peers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = peers.get(&peer).and_then(Weak::upgrade) {
            return Backlog(inner);
        }
        peers.retain(|_, backlog| backlog.strong_count() > 0);
        let backlog = Backlog::default();
        peers.insert(peer, Arc::downgrade(&backlog.0));
        backlog
    }

    /// Peers with a live backlog (for tests).
    #[cfg(test)]
    fn live(&self) -> usize {
        let peers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        peers.values().filter(|b| b.strong_count() > 0).count()
    }
}

/// Bytes counted in a [`Backlog`] (and possibly a shared one) while an operation waits for
/// (or is in) validation.
pub(crate) struct Permit {
    backlog: Arc<BacklogInner>,
    shared: Option<Arc<BacklogInner>>,
    len: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        for backlog in std::iter::once(&self.backlog).chain(self.shared.as_ref()) {
            backlog.queued.fetch_sub(self.len, Ordering::AcqRel);
            backlog.released.notify_waiters();
        }
    }
}

/// Work for the ingest thread.
pub(crate) enum IngestItem {
    /// An encoded operation from `peer` for `document` (gossip push or catch-up).
    Wire {
        document: DocumentId,
        peer: AuthorId,
        bytes: Vec<u8>,
        /// Released once the operation was processed.
        permit: Permit,
    },
    /// A sync event, emitted once everything before it was ingested.
    Event(Event),
    /// The network stops: end the thread (senders may outlive the network).
    Stop,
}

/// An encoded operation from a peer for a document, with its backlog permit (released when
/// the batch it is in was processed).
type Received = (DocumentId, AuthorId, Vec<u8>, Permit);

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
                permit,
            } => batch.push((document, peer, bytes, permit)),
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
                    Some(IngestItem::Event(e)) => node.emit(e),
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

    const SHORT: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn shared_budget_bounds_every_source_and_is_released_by_permits() {
        let (own, other, shared) = (Backlog::default(), Backlog::default(), Backlog::default());
        let held = other.acquire_in_both(&shared, 10);
        // Own backlog empty, shared one full for 10 more bytes: wait, then give up.
        assert!(!own.room_in_both((100, &shared, 15), 10, SHORT).await);
        // The own budget alone also bounds.
        let mine = own.acquire_in_both(&shared, 1);
        assert!(!own.room_in_both((5, &shared, 1000), 10, SHORT).await);
        drop(mine);
        // A waiter is woken when the permit holding the shared budget is dropped.
        let waiter = {
            let (own, shared) = (own.clone(), shared.clone());
            tokio::spawn(async move {
                own.room_in_both((100, &shared, 15), 10, Duration::from_secs(30))
                    .await
            })
        };
        tokio::task::yield_now().await;
        drop(held);
        let woke = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter is woken by the release")
            .expect("waiter task");
        assert!(woke);
        // Dropping a permit released both counts.
        assert!(own.has_room(1000, 1) && shared.has_room(1000, 1));
    }

    #[test]
    fn a_peers_sessions_share_one_backlog_and_other_peers_have_their_own() {
        let peers = PeerBacklogs::default();
        let author = || AuthorId::from(p2panda_core::SigningKey::generate().verifying_key());
        let (p, q) = (author(), author());
        let (first, second) = (peers.of(p), peers.of(p));
        let held = first.acquire(90);
        // The second session of the same peer sees the first one's bytes...
        assert!(!second.has_room(20, 100));
        // ...another peer does not.
        let other = peers.of(q);
        assert!(other.has_room(20, 100));
        drop(held);
        assert!(second.has_room(20, 100));
        // Entries end with the peer's last session; a later session starts empty.
        drop((first, second, other));
        assert_eq!(peers.live(), 0);
        let again = peers.of(p);
        assert!(again.has_room(100, 100));
        assert_eq!(peers.live(), 1);
    }
}
