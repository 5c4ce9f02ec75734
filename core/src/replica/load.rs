//! The one load/replay path: a document rebuilt from the op log, from its snapshot cache
//! (loading) or from nothing (checking the cache against the log).

use std::collections::HashMap;
use std::sync::Arc;

use loro::LoroDoc;

use crate::base::ids::DocumentId;
use crate::base::log::LogKind;
use crate::base::version::VersionVector;
use crate::document::cache::LoadedDoc;
use crate::document::DocumentError;
use crate::replica::keyring::{readable_unapplied, KeyRing};
use crate::replica::observe::DocHub;
use crate::replica::snapshot::held_states;
use crate::replica::write::engine;
use crate::replica::{Replica, ReplicaState};
use crate::store::documents::{self, DocumentState};
use crate::store::tx::Tx;
use crate::store::{bases, oplog};

/// Where a rebuild starts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The snapshot cache, then the log after it; stored operations that became readable
    /// (their key arrived before a crash interrupted the retry) are applied and marked.
    Snapshot,
    /// The empty document and the whole log's applied operations; nothing is written.
    Empty,
}

/// Rebuilds document `id` from the op log, decrypting the stored bodies with the
/// document's group state. Returns the document and how many operations its snapshot held.
pub(crate) fn rebuild(
    conn: &Tx<'_>,
    id: DocumentId,
    peer: Option<u64>,
    keys: &mut KeyRing,
    accept_plain: bool,
    start: Start,
) -> Result<(LoroDoc, u64), DocumentError> {
    let doc = LoroDoc::new();
    if let Some(peer) = peer {
        doc.set_peer_id(peer).map_err(engine)?;
    }
    let snapshot = match start {
        Start::Snapshot => documents::snapshot(conn, id)?,
        Start::Empty => None,
    };
    let since = match snapshot {
        Some((snap, vv)) => {
            doc.import(&snap).map_err(engine)?;
            vv
        }
        None => VersionVector::new(),
    };
    // Operations covered by a snapshot operation and not held (never fetched, or pruned):
    // their content is in the snapshots' states. Not needed when the cache covers them.
    let bases = bases::of_document(conn, id, LogKind::Delta)?;
    if bases
        .iter()
        .any(|(author, seq, _)| since.get(author).is_none_or(|s| s < *seq))
    {
        let states = held_states(conn, id, keys, accept_plain)?;
        if !states.is_empty() {
            doc.import_batch(&states).map_err(engine)?;
        }
    }
    let ops = oplog::delta_ops_after(conn, id, &since)?;
    let mut updates = Vec::with_capacity(ops.len());
    for op in ops.into_iter().filter(|o| o.applied) {
        if let Some(b) = op.body {
            if let Ok(Some(payload)) = keys.open_delta(conn, id, &b, accept_plain) {
                updates.push(payload);
            }
        }
    }
    let late = match start {
        Start::Snapshot => readable_unapplied(conn, keys, id, accept_plain)?,
        Start::Empty => Vec::new(),
    };
    updates.extend(late.iter().map(|(_, u)| u.clone()));
    if !updates.is_empty() {
        doc.import_batch(&updates).map_err(engine)?;
    }
    for ((author, seq), _) in &late {
        oplog::mark_applied(conn, id, author, *seq)?;
    }
    Ok((doc, since.total_ops()))
}

impl ReplicaState {
    /// The loaded document `id`, loaded from the store if it is not in memory.
    pub(crate) fn loaded(
        &mut self,
        id: DocumentId,
        peer: u64,
        accept_plain: bool,
        config: &crate::replica::NodeConfig,
    ) -> Result<&mut LoadedDoc, DocumentError> {
        if !self.docs.contains_key(&id) {
            if documents::state(self.store.conn(), id)? != DocumentState::Live {
                return Err(DocumentError::NotFound(id));
            }
            let tx = self.store.transaction()?;
            let (loro, ops) = rebuild(
                &tx,
                id,
                Some(peer),
                &mut self.keys,
                accept_plain,
                Start::Snapshot,
            )?;
            tx.commit()?;
            insert_loaded(&mut self.docs, &self.observers, id, loro, ops, config);
        }
        self.docs.get_mut(&id).ok_or(DocumentError::NotFound(id))
    }
}

/// Keeps a document just rebuilt from the store in memory, with its undo manager and, if
/// it has observers, their subscription (they re-read: it may differ from what they saw
/// before it was dropped).
pub(crate) fn insert_loaded(
    docs: &mut HashMap<DocumentId, LoadedDoc>,
    observers: &HashMap<DocumentId, Arc<DocHub>>,
    id: DocumentId,
    loro: LoroDoc,
    ops: u64,
    config: &crate::replica::NodeConfig,
) {
    let mut doc = LoadedDoc::new(loro, ops, config.snapshot_every, config.undo_steps);
    if let Some(hub) = observers.get(&id) {
        if hub.observed() {
            doc.observing = Some(hub.attach(&doc.loro, true));
        }
    }
    docs.insert(id, doc);
}

/// Drops loaded document `id` from memory (it reloads from the store on next use) and
/// tells its observers to re-read: what they were sent may have been rolled back.
pub(crate) fn drop_loaded(
    docs: &mut HashMap<DocumentId, LoadedDoc>,
    observers: &HashMap<DocumentId, Arc<DocHub>>,
    id: DocumentId,
) {
    if docs.remove(&id).is_some() {
        if let Some(hub) = observers.get(&id) {
            hub.lag_all();
        }
    }
}

impl ReplicaState {
    /// [`drop_loaded`] on this state.
    pub(crate) fn drop_loaded(&mut self, id: DocumentId) {
        drop_loaded(&mut self.docs, &self.observers, id);
    }

    /// Drops every loaded document (see [`drop_loaded`]).
    pub(crate) fn drop_all_loaded(&mut self) {
        self.docs.clear();
        for hub in self.observers.values() {
            hub.lag_all();
        }
    }
}

impl Replica {
    /// The loaded document `id` (see [`ReplicaState::loaded`]).
    pub(crate) fn loaded<'a>(
        &self,
        st: &'a mut ReplicaState,
        id: DocumentId,
    ) -> Result<&'a mut LoadedDoc, DocumentError> {
        let plain = self.is_plain(st.store.conn(), id)?;
        st.loaded(id, self.identity.loro_peer_id(), plain, &self.config)
    }

    /// Rebuilds a document from its op log alone (ignoring the snapshot cache) and returns
    /// its canonical JSON: cached state must equal a replay of the log.
    pub(crate) fn replay_json(&self, id: DocumentId) -> Result<String, DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        self.ensure_live(st, id)?;
        // The log is compared with the document: coalesced edits are signed first.
        if let Some(op) = self.sign_window(st, id)? {
            self.publish_local(id, op);
        }
        let plain = self.is_plain(st.store.conn(), id)?;
        // Reads only: the transaction is dropped, not committed.
        let tx = st.store.transaction()?;
        let (doc, _) = rebuild(&tx, id, None, &mut st.keys, plain, Start::Empty)?;
        crate::document::json::canonical_json(&doc)
    }
}
