//! Coalescing of local edits (`NodeConfig::coalesce_window`): consecutive edits of a
//! document within the window become one signed operation.
//!
//! An edit in a window is committed to the loaded Loro document (readers, observers and
//! undo see it at once) and recorded as a range of this device's Loro counters
//! (`document::cache::Window`); nothing is signed or written yet. The window is signed and stored as one
//! operation, exported with `ExportMode::updates_in_range` over exactly that range (so a
//! remote update imported meanwhile is never re-signed as ours):
//! - when it has been open for the window's length (the coalescer thread, [`start`]);
//! - when it would grow past half of `NodeConfig::max_body_bytes`;
//! - before anything that must see the log and the document agree: a snapshot (cached or
//!   published), received operations (a rolled-back batch reloads documents), a failed
//!   edit (which reloads the document), `Node::flush`, and closing the node.
//!
//! Durability: an edit in an open window is not durable until the window is signed. A
//! crash loses at most the open window (`Node::flush` returns once it is stored).

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Weak;
use std::time::{Duration, Instant};

use loro::{ExportMode, IdSpan};

use crate::base::ids::DocumentId;
use crate::base::log::LogKind;
use crate::document::cache::Window;
use crate::document::DocumentError;
use crate::replica::write::engine;
use crate::replica::{Replica, ReplicaState};
use crate::wire::operation::FsOperation;

/// Handle of the coalescer thread: tells it when a window closes.
#[derive(Debug)]
pub(crate) struct Coalescer {
    due: std::sync::Mutex<Sender<(DocumentId, Instant)>>,
}

impl Coalescer {
    /// Asks for `id`'s window to be signed at `at`.
    pub(crate) fn schedule(&self, id: DocumentId, at: Instant) {
        let _ = self
            .due
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send((id, at));
    }
}

/// A coalescer and the receiver its thread will read (see [`start`]).
pub(crate) fn channel() -> (Coalescer, Receiver<(DocumentId, Instant)>) {
    let (tx, rx) = std::sync::mpsc::channel();
    (
        Coalescer {
            due: std::sync::Mutex::new(tx),
        },
        rx,
    )
}

/// Starts the thread that signs windows as they close. It holds the replica weakly and
/// ends when the replica (and so the sender) is gone.
pub(crate) fn start(replica: Weak<Replica>, rx: Receiver<(DocumentId, Instant)>) {
    let spawned = std::thread::Builder::new()
        .name("fieldsync-coalesce".into())
        .spawn(move || run(replica, rx));
    if let Err(e) = spawned {
        tracing::warn!("the coalescer thread did not start ({e}): windows close on the next edit");
    }
}

fn run(replica: Weak<Replica>, rx: Receiver<(DocumentId, Instant)>) {
    let mut due: HashMap<DocumentId, Instant> = HashMap::new();
    loop {
        let next = due.values().min().copied();
        let received = match next {
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match received {
            Ok((id, at)) => {
                let slot = due.entry(id).or_insert(at);
                *slot = (*slot).min(at);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let ready: Vec<DocumentId> = due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        if ready.is_empty() {
            continue;
        }
        let Some(replica) = replica.upgrade() else {
            return;
        };
        for id in ready {
            due.remove(&id);
            replica.close_window(id);
        }
    }
}

impl Replica {
    /// The coalescing window, or `None` when every edit is signed on its own.
    pub(crate) fn window(&self) -> Option<Duration> {
        (!self.config.coalesce_window.is_zero()).then_some(self.config.coalesce_window)
    }

    /// Signs `id`'s open window, if any, and hands the operation to the network.
    pub(crate) fn close_window(&self, id: DocumentId) {
        let op = {
            let mut guard = self.lock();
            self.sign_window(&mut guard, id)
        };
        match op {
            Ok(Some(op)) => self.publish_local(id, op),
            Ok(None) => {}
            Err(e) => tracing::warn!(%id, "signing the coalesced edits failed: {e}"),
        }
    }

    /// Signs and stores `id`'s open window as one operation. On failure the loaded
    /// document is dropped (it reloads from the store without the window's edits, as
    /// after a crash).
    pub(crate) fn sign_window(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
    ) -> Result<Option<FsOperation>, DocumentError> {
        let Some(window) = st.docs.get_mut(&id).and_then(|d| d.window.take()) else {
            return Ok(None);
        };
        let peer = self.identity.loro_peer_id();
        // An edit after the window may be committed to the document already (being
        // refused, or waiting for this window to be signed first): while the window's
        // operation is stored, a marker window keeps it out of the snapshot cache.
        let beyond = st
            .docs
            .get(&id)
            .is_some_and(|d| d.loro.oplog_vv().get(&peer).copied().unwrap_or(0) > window.end);
        let signed = st
            .docs
            .get(&id)
            .ok_or(DocumentError::NotFound(id))
            .and_then(|doc| {
                doc.loro
                    .export(ExportMode::updates_in_range(vec![IdSpan::new(
                        peer,
                        window.start,
                        window.end,
                    )]))
                    .map_err(engine)
            })
            .and_then(|update| {
                let body = self.seal_update(st, id, &update)?;
                let mark = |st: &mut ReplicaState, w: Option<Window>| {
                    if let Some(d) = st.docs.get_mut(&id) {
                        d.window = w;
                    }
                };
                if beyond {
                    mark(
                        st,
                        Some(Window {
                            start: window.end,
                            bytes: 0,
                            ..window
                        }),
                    );
                }
                let op = self.append_own(st, id, LogKind::Delta, body);
                if beyond {
                    mark(st, None);
                }
                op.map_err(DocumentError::from)
            });
        if signed.is_err() {
            st.drop_loaded(id);
        }
        signed.map(Some)
    }

    /// Signs every open window (see the module docs for when). Returns the operations to
    /// hand to the network once the lock is released.
    pub(crate) fn sign_all_windows(&self, st: &mut ReplicaState) -> Vec<(DocumentId, FsOperation)> {
        let open: Vec<DocumentId> = st
            .docs
            .iter()
            .filter(|(_, d)| d.window.is_some())
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in open {
            match self.sign_window(st, id) {
                Ok(Some(op)) => out.push((id, op)),
                Ok(None) => {}
                Err(e) => tracing::warn!(%id, "signing the coalesced edits failed: {e}"),
            }
        }
        out
    }
}
