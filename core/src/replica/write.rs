//! The local write path: an app's edit becomes one signed operation of this device's log,
//! stored with its outbox entry in one transaction before the call returns.
//!
//! [`Replica::edit`] runs the app's change on the loaded Loro document, exports the update,
//! seals it (group-encrypted unless the document is plain) and appends it with
//! [`Replica::append_own`], the one way an own operation (document update or control
//! message) is written. [`snapshot_if_due`] is the one place a snapshot is taken.

use loro::{ExportMode, LoroDoc};

use crate::auth::Role;
use crate::base::events::{Event, Origin};
use crate::base::ids::DocumentId;
use crate::base::log::LogKind;
use crate::document::cache::LoadedDoc;
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
        let op = {
            let mut guard = self.lock();
            let st = &mut *guard;
            self.require_role(st, id, Role::Writer)?;
            self.check_own_log(st, id, LogKind::Delta)?;
            let doc = self.loaded(st, id)?;
            let before = doc.loro.oplog_vv();
            let out = f(doc);
            if out.is_err() {
                if doc.loro.get_pending_txn_len() > 0 || doc.loro.oplog_vv() != before {
                    // The edit failed after changing something: none of it stays (the
                    // document reloads from the store).
                    st.drop_loaded(id);
                }
                return out;
            }
            doc.loro.commit();
            if doc.loro.oplog_vv() == before {
                return out;
            }
            let persisted = doc
                .loro
                .export(ExportMode::updates(&before))
                .map_err(engine)
                .and_then(|update| {
                    let body = self.seal_update(st, id, &update)?;
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
                    let snapshot = self.publish_if_due(st, id);
                    if snapshot.is_some() && self.config.retention != Retention::KeepAll {
                        if let Err(e) = compact_locked(st, id, self.config.retention) {
                            tracing::warn!(%id, "compaction failed: {e}");
                        }
                    }
                    (op, snapshot, out)
                }
                Err(e) => {
                    // Drop the in-memory edit: the document reloads from the store.
                    st.drop_loaded(id);
                    return Err(e);
                }
            }
        };
        let (op, snapshot, out) = op;
        self.emit(Event::DocumentChanged {
            document: id,
            origin: Origin::Local,
        });
        self.publish_local(id, op);
        if let Some(snapshot) = snapshot {
            self.publish_local(id, snapshot);
        }
        out
    }

    /// Writes a snapshot of every loaded document with operations since its last one.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let tx = st.store.transaction()?;
        let every = self.config.snapshot_every;
        for (id, doc) in st.docs.iter_mut() {
            if doc.since_snapshot > 0 {
                let total = save_snapshot(&tx, *id, &doc.loro)?;
                doc.snapshotted(total, every);
            }
        }
        tx.commit()?;
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
    if doc.count_ops(applied) {
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
