//! The local write path: an app's edit becomes one signed operation of this device's log,
//! stored with its outbox entry in one transaction before the call returns.
//!
//! [`Replica::edit`] runs the app's change on the loaded Loro document, exports the update,
//! seals it (group-encrypted unless the document is plain) and appends it with
//! [`Replica::append_own`], the one way an own operation (document update or control
//! message) is written. [`snapshot_if_due`] is the one place a snapshot is taken.

use loro::{ExportMode, IdSpan, LoroDoc};

use crate::auth::Role;
use crate::base::events::{Event, Origin};
use crate::base::ids::DocumentId;
use crate::base::log::LogKind;
use crate::document::cache::{LoadedDoc, Window};
use crate::document::DocumentError;
use crate::replica::snapshot::compact_locked;
use crate::replica::{Replica, ReplicaState, Retention};
use crate::store::tx::Tx;
use crate::store::{documents, oplog, outbox, StoreError};
use crate::wire::operation::{build_operation, FsOperation};

pub(crate) fn engine(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Engine(e.to_string())
}

impl Replica {
    /// Runs the app's change `f` on document `id`; if it changed anything, the update is
    /// sealed, signed and stored before this returns, then announced (event, network).
    pub(crate) fn edit<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        self.edit_loaded(id, |doc| f(&doc.loro))
    }

    /// Undoes (`redo` false) or redoes this device's last edit of document `id` that is
    /// still on the stack, as a new local edit. Remote edits made since stay. Returns false
    /// when there was nothing to undo (or redo) or undo is off.
    pub(crate) fn undo(&self, id: DocumentId, redo: bool) -> Result<bool, DocumentError> {
        self.edit_loaded(id, |doc| match doc.undo.as_mut() {
            None => Ok(false),
            Some(undo) if redo => undo.redo().map_err(engine),
            Some(undo) => undo.undo().map_err(engine),
        })
    }

    /// (can undo, can redo) of document `id`.
    pub(crate) fn undo_state(&self, id: DocumentId) -> Result<(bool, bool), DocumentError> {
        let mut guard = self.lock();
        let doc = self.loaded(&mut guard, id)?;
        Ok(doc
            .undo
            .as_ref()
            .map_or((false, false), |u| (u.can_undo(), u.can_redo())))
    }

    /// [`Replica::edit`] with the whole loaded document (its undo manager too).
    pub(crate) fn edit_loaded<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&mut LoadedDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        let mut published = Vec::new();
        let result = {
            let mut guard = self.lock();
            self.edit_locked(&mut guard, id, f, &mut published)
        };
        if matches!(result, Ok((_, true))) {
            self.emit(Event::DocumentChanged {
                document: id,
                origin: Origin::Local,
            });
        }
        for op in published {
            self.publish_local(id, op);
        }
        result.map(|(out, _)| out)
    }

    /// The body of [`Replica::edit_loaded`] under the lock: returns the closure's result
    /// and whether the document changed; operations to hand to the network are pushed on
    /// `published`.
    fn edit_locked<T>(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
        f: impl FnOnce(&mut LoadedDoc) -> Result<T, DocumentError>,
        published: &mut Vec<FsOperation>,
    ) -> Result<(T, bool), DocumentError> {
        self.require_role(st, id, Role::Writer)?;
        self.check_own_log(st, id, LogKind::Delta)?;
        let doc = self.loaded(st, id)?;
        let before = doc.loro.oplog_vv();
        let out = f(doc);
        if out.is_err() {
            if doc.loro.get_pending_txn_len() > 0 || doc.loro.oplog_vv() != before {
                // The edit failed after changing something: none of it stays (the
                // document reloads from the store), but the open window's edits before it
                // are signed first.
                doc.loro.commit();
                if let Some(w) = doc.window.as_mut() {
                    w.end = w
                        .end
                        .min(own_counter(&before, self.identity.loro_peer_id()));
                }
                if let Ok(Some(op)) = self.sign_window(st, id) {
                    published.push(op);
                }
                st.drop_loaded(id);
            }
            return out.map(|o| (o, false));
        }
        doc.loro.commit();
        if doc.loro.oplog_vv() == before {
            return out.map(|o| (o, false));
        }
        let peer = self.identity.loro_peer_id();
        let (from, to) = (
            own_counter(&before, peer),
            own_counter(&doc.loro.oplog_vv(), peer),
        );
        let update = doc
            .loro
            .export(ExportMode::updates_in_range(vec![IdSpan::new(
                peer, from, to,
            )]));
        let update = match update {
            Ok(u) => u,
            Err(e) => {
                st.drop_loaded(id);
                return Err(engine(e));
            }
        };
        if let Some(window) = self.window() {
            let limit = self.config.max_body_bytes / 2;
            let size = update.len() as u64;
            let joins = doc
                .window
                .is_some_and(|w| w.end == from && w.bytes + size <= limit);
            if doc.window.is_some() && !joins {
                // This edit would make the window too large: the window is signed first.
                if let Some(w) = doc.window.as_mut() {
                    w.end = from;
                }
                match self.sign_window(st, id) {
                    Ok(Some(op)) => published.push(op),
                    Ok(None) => {}
                    Err(e) => return Err(e),
                }
            }
            let Some(doc) = st.docs.get_mut(&id) else {
                return Err(DocumentError::NotFound(id));
            };
            if size <= limit {
                match doc.window.as_mut() {
                    Some(w) => {
                        w.end = to;
                        w.bytes += size;
                    }
                    None => {
                        let opened = std::time::Instant::now();
                        doc.window = Some(Window {
                            start: from,
                            end: to,
                            bytes: size,
                            opened,
                        });
                        self.coalescer.schedule(id, opened + window);
                    }
                }
                let overdue = doc.window.is_some_and(|w| w.opened.elapsed() >= window);
                if overdue {
                    if let Some(op) = self.sign_window(st, id)? {
                        published.push(op);
                    }
                    self.after_append(st, id, published);
                }
                return out.map(|o| (o, true));
            }
        }
        let persisted = self.seal_update(st, id, &update).and_then(|body| {
            if body.len() as u64 > self.config.max_body_bytes {
                return Err(DocumentError::InvalidArgument(format!(
                    "edit produces {} bytes, above the maximum of {}",
                    body.len(),
                    self.config.max_body_bytes
                )));
            }
            self.append_own(st, id, LogKind::Delta, body)
                .map_err(DocumentError::from)
        });
        match persisted {
            Ok(op) => {
                published.push(op);
                self.after_append(st, id, published);
                out.map(|o| (o, true))
            }
            Err(e) => {
                // Drop the in-memory edit: the document reloads from the store.
                st.drop_loaded(id);
                Err(e)
            }
        }
    }

    /// After an own update was stored: the snapshot operation the policy asks for, and
    /// the compaction the retention asks for after it.
    fn after_append(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
        published: &mut Vec<FsOperation>,
    ) {
        if let Some(snapshot) = self.publish_if_due(st, id) {
            published.push(snapshot);
            if self.config.retention != Retention::KeepAll {
                if let Err(e) = compact_locked(st, id, self.config.retention) {
                    tracing::warn!(%id, "compaction failed: {e}");
                }
            }
        }
    }

    /// Writes a snapshot of every loaded document with operations since its last one.
    /// Signs every open coalescing window first: once this returns, every edit made
    /// before the call is durable.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let published = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let published = self.sign_all_windows(st);
            let tx = st.store.transaction()?;
            let every = self.config.snapshot_every;
            for (id, doc) in st.docs.iter_mut() {
                if doc.since_snapshot > 0 && doc.window.is_none() {
                    let total = save_snapshot(&tx, *id, &doc.loro)?;
                    doc.snapshotted(total, every);
                }
            }
            tx.commit()?;
            published
        };
        for (id, op) in published {
            self.publish_local(id, op);
        }
        Ok(())
    }

    /// Signs the next operation of this device's `kind` log of `id` and stores it with its
    /// outbox entry, in one transaction: for a document update, with the snapshot if one came
    /// due; for a control message, with the document's row and its current group state.
    pub(crate) fn append_own(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
        kind: LogKind,
        body: Vec<u8>,
    ) -> Result<FsOperation, StoreError> {
        let me = self.identity.author();
        let tx = st.store.transaction()?;
        if kind == LogKind::Control {
            documents::ensure(&tx, id)?;
        }
        let prev = oplog::latest(&tx, &me, id, kind)?;
        let op = build_operation(self.identity.signing_key(), id, kind, prev, body);
        oplog::insert(&tx, id, &op, &op.header.encode(), true)?;
        outbox::push(&tx, &op)?;
        match kind {
            LogKind::Delta => {
                if let Some(doc) = st.docs.get_mut(&id) {
                    snapshot_if_due(&tx, id, doc, 1, self.config.snapshot_every)?;
                }
            }
            LogKind::Control => st.keys.save_group(&tx, id)?,
            LogKind::Snapshot => {}
        }
        tx.commit()?;
        Ok(op)
    }
}

/// Counts `applied` operations on a loaded document and saves its snapshot when one is due
/// (see [`LoadedDoc`]): the one place the snapshot policy is applied.
pub(crate) fn snapshot_if_due(
    conn: &Tx<'_>,
    id: DocumentId,
    doc: &mut LoadedDoc,
    applied: u64,
    every: u32,
) -> Result<(), StoreError> {
    // Not while a coalescing window is open: the cache would hold unsigned edits.
    if doc.count_ops(applied) && doc.window.is_none() {
        let total = save_snapshot(conn, id, &doc.loro)?;
        doc.snapshotted(total, every);
    }
    Ok(())
}

/// Saves the document's snapshot cache; returns how many operations it covers.
pub(crate) fn save_snapshot(
    conn: &Tx<'_>,
    id: DocumentId,
    loro: &LoroDoc,
) -> Result<u64, StoreError> {
    let snap = loro
        .export(ExportMode::Snapshot)
        .map_err(|e| StoreError::Corrupt(format!("snapshot export failed: {e}")))?;
    let vv = oplog::version_vector(conn, id)?;
    documents::save_snapshot(conn, id, &snap, &vv)?;
    Ok(vv.total_ops())
}

/// This device's next Loro counter in `vv` (0 if it wrote nothing).
fn own_counter(vv: &loro::VersionVector, peer: u64) -> i32 {
    vv.get(&peer).copied().unwrap_or(0)
}
