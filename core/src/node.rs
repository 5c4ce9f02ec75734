//! The node: owns the store, the identity, the loaded documents and the event bus.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use loro::{ExportMode, LoroDoc};
use p2panda_core::Hash;
use rusqlite::Connection;
use tokio::sync::broadcast;

use crate::batch_memo::{BatchMemo, LogKey};
use crate::deferred_import::DeferredImports;
use crate::document::{Document, VersionVector};
use crate::error::{DocumentError, Error, IngestError, Result, StoreError};
use crate::events::{Event, EventStream, Origin};
use crate::identity::{DeviceKeyStore, Identity};
use crate::ids::{AuthorId, DocumentId};
use crate::membership::{self, CryptoState};
use crate::operation::{self, build_operation, Authenticated, FsOperation, LogKind};
use crate::store::documents::{self, DocumentState};
use crate::store::outbox::{self, OutboxEntry};
use crate::store::{oplog, parked, Store};

/// Settings of a node.
#[derive(Clone)]
pub struct NodeConfig {
    /// Directory holding the node's database.
    pub data_dir: PathBuf,
    /// Largest encoded operation accepted from the network, in bytes.
    pub max_operation_bytes: usize,
    /// Largest operation body accepted or produced, in bytes.
    pub max_body_bytes: u64,
    /// A document snapshot is cached after this many operations.
    pub snapshot_every: u32,
    /// Most operations kept aside while waiting for their predecessors.
    pub max_parked: u64,
    /// Where the device key is kept; `None` keeps it in the SDK database.
    pub key_store: Option<Arc<dyn DeviceKeyStore>>,
    /// End-to-end encrypt documents (default `true`). When off, new documents are plain and
    /// plain bodies are accepted for every document; meant for tests and benchmarks. See
    /// [`crate::membership`].
    pub encrypt: bool,
}

impl NodeConfig {
    /// Defaults for a node stored in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            max_operation_bytes: 17 * 1024 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            snapshot_every: 256,
            max_parked: 100_000,
            key_store: None,
            encrypt: true,
        }
    }
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("data_dir", &self.data_dir)
            .field("max_operation_bytes", &self.max_operation_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("snapshot_every", &self.snapshot_every)
            .field("encrypt", &self.encrypt)
            .finish()
    }
}

/// What [`Node::ingest`] did with an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// The operation was stored and applied, together with `unparked` parked successors.
    Applied {
        /// The document it belongs to.
        document: DocumentId,
        /// Parked operations that could be applied after it.
        unparked: usize,
    },
    /// The operation was stored; its content waits for a key (or it is a control message).
    Stored {
        /// The document it belongs to.
        document: DocumentId,
    },
    /// The operation was already held; nothing changed.
    Duplicate,
}

pub(crate) struct LoadedDoc {
    pub(crate) loro: LoroDoc,
    /// Operations applied since the cached snapshot was saved.
    since_snapshot: u64,
    /// Operations between snapshots: [`NodeConfig::snapshot_every`] or a quarter of the
    /// document's operations, whichever is larger. Exporting a snapshot costs in proportion
    /// to the document, so a fixed interval made writing and catching up quadratic; a
    /// growing one keeps the cost per operation constant and bounds the replay on the next
    /// open to a fifth of the log.
    interval: u64,
}

impl LoadedDoc {
    fn new(loro: LoroDoc, ops_in_snapshot: u64, every: u32) -> Self {
        LoadedDoc {
            loro,
            since_snapshot: 0,
            interval: snapshot_interval(every, ops_in_snapshot),
        }
    }

    /// Counts one applied operation; true when a snapshot is due.
    fn count_op(&mut self) -> bool {
        self.count_ops(1)
    }

    /// Counts `n` applied operations; true when a snapshot is due.
    fn count_ops(&mut self, n: u64) -> bool {
        self.since_snapshot += n;
        self.since_snapshot >= self.interval
    }

    /// Records a saved snapshot covering `total_ops` operations.
    fn snapshotted(&mut self, total_ops: u64, every: u32) {
        self.since_snapshot = 0;
        self.interval = snapshot_interval(every, total_ops);
    }
}

/// Operations until the next snapshot of a document holding `total_ops`.
fn snapshot_interval(every: u32, total_ops: u64) -> u64 {
    u64::from(every.max(1)).max(total_ops / 4)
}

pub(crate) struct NodeState {
    pub(crate) store: Store,
    pub(crate) docs: HashMap<DocumentId, LoadedDoc>,
    pub(crate) crypto: CryptoState,
    /// [`NodeConfig::snapshot_every`].
    pub(crate) snapshot_every: u32,
    /// While a batch of received operations is ingested: their Loro updates, imported at
    /// the end of the batch (see [`crate::deferred_import`]).
    pub(crate) deferred: Option<DeferredImports>,
    /// While a batch of received operations is ingested: what it learnt about the store
    /// (see [`crate::batch_memo`]).
    pub(crate) memo: Option<BatchMemo>,
    /// Per document and log kind, the highest seq of our own log a peer has acknowledged
    /// since start: outbox entries up to it are gone, so the next acknowledgement only
    /// looks at the seqs after it (peers announce their heights after every batch).
    pub(crate) acknowledged: HashMap<(DocumentId, LogKind), u32>,
}

/// Shared state behind [`Node`] and [`Document`] handles.
pub(crate) struct NodeInner {
    state: Mutex<NodeState>,
    events: broadcast::Sender<Event>,
    pub(crate) identity: Identity,
    pub(crate) config: NodeConfig,
    pub(crate) local_ops: broadcast::Sender<(DocumentId, FsOperation)>,
    db_path: PathBuf,
    pub(crate) net: crate::net::NetSlot,
    /// Documents' `plain` flags, read once (see [`NodeInner::is_plain`]).
    pub(crate) plain_docs: Mutex<HashMap<DocumentId, bool>>,
}

/// A FieldSync node: one device's replica of its documents.
#[derive(Clone)]
pub struct Node {
    pub(crate) inner: Arc<NodeInner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.inner.identity.author())
    }
}

fn engine(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Engine(e.to_string())
}

/// Rebuilds a document from its snapshot cache plus the op log after it, decrypting the
/// stored bodies with the document's group state. Stored operations that became readable
/// (their key arrived before a crash interrupted the retry) are applied and marked too.
fn load_doc(
    conn: &Connection,
    id: DocumentId,
    peer: u64,
    crypto: &mut CryptoState,
    accept_plain: bool,
) -> Result<(LoroDoc, u64), DocumentError> {
    let doc = LoroDoc::new();
    doc.set_peer_id(peer).map_err(engine)?;
    let since = match documents::snapshot(conn, id)? {
        Some((snap, vv)) => {
            doc.import(&snap).map_err(engine)?;
            vv
        }
        None => VersionVector::new(),
    };
    let ops = oplog::delta_ops_after(conn, id, &since)?;
    let mut updates = Vec::with_capacity(ops.len());
    for op in ops.into_iter().filter(|o| o.applied) {
        if let Some(b) = op.body {
            if let Ok(Some(payload)) = crypto.open_delta(conn, id, &b, accept_plain) {
                updates.push(payload);
            }
        }
    }
    let late = membership::readable_unapplied(conn, crypto, id, accept_plain)?;
    updates.extend(late.iter().map(|(_, u)| u.clone()));
    if !updates.is_empty() {
        doc.import_batch(&updates).map_err(engine)?;
    }
    for ((author, seq), _) in &late {
        oplog::mark_applied(conn, id, author, *seq)?;
    }
    Ok((doc, since.total_ops()))
}

/// The log `op` belongs to.
fn log_of(op: &FsOperation) -> LogKey {
    (
        AuthorId::from(op.header.verifying_key),
        DocumentId::from(op.header.extensions.document),
        op.header.extensions.kind,
    )
}

/// The head (seq, hash) of the log `op` belongs to, as stored (remembered in a batch).
fn log_head(st: &mut NodeState, op: &FsOperation) -> Result<Option<(u32, Hash)>, StoreError> {
    let log = log_of(op);
    match st.memo.as_mut() {
        Some(memo) => memo.head(st.store.conn(), log),
        None => oplog::latest(st.store.conn(), &log.0, log.1, log.2),
    }
}

/// Rejects Loro updates that carry changes of peers other than the operation's author.
pub(crate) fn check_attribution(payload: &[u8], author: &AuthorId) -> Result<(), IngestError> {
    let meta = LoroDoc::decode_import_blob_meta(payload, true)
        .map_err(|e| IngestError::InvalidUpdate(e.to_string()))?;
    let own = author.loro_peer_id();
    for (peer, end) in meta.partial_end_vv.iter() {
        let start = meta.partial_start_vv.get(peer).copied().unwrap_or(0);
        if *peer != own && *end > start {
            return Err(IngestError::InvalidUpdate(format!(
                "update carries changes of peer {peer:x}, not of its author"
            )));
        }
    }
    Ok(())
}

impl NodeState {
    pub(crate) fn loaded(
        &mut self,
        id: DocumentId,
        peer: u64,
        accept_plain: bool,
    ) -> Result<&mut LoadedDoc, DocumentError> {
        if !self.docs.contains_key(&id) {
            if documents::state(self.store.conn(), id)? != DocumentState::Live {
                return Err(DocumentError::NotFound(id));
            }
            let (loro, ops) =
                load_doc(self.store.conn(), id, peer, &mut self.crypto, accept_plain)?;
            self.docs
                .insert(id, LoadedDoc::new(loro, ops, self.snapshot_every));
        }
        self.docs.get_mut(&id).ok_or(DocumentError::NotFound(id))
    }
}

impl NodeInner {
    /// The device signing key (for the network layer).
    pub(crate) fn signing_key(&self) -> &p2panda_core::SigningKey {
        self.identity.signing_key()
    }

    /// Path of the node database.
    pub(crate) fn db_path(&self) -> PathBuf {
        self.db_path.clone()
    }

    /// Operations this node writes, as they are committed.
    pub(crate) fn local_ops_receiver(&self) -> broadcast::Receiver<(DocumentId, FsOperation)> {
        self.local_ops.subscribe()
    }

    /// Ids of live documents.
    pub(crate) fn document_ids(&self) -> Result<Vec<DocumentId>, StoreError> {
        documents::list(self.lock().store.conn())
    }

    /// Largest encoded operation accepted from the network.
    pub(crate) fn max_operation_bytes(&self) -> usize {
        self.config.max_operation_bytes
    }

    /// Whether this node holds `document` and serves it to peers.
    pub(crate) fn serves(&self, document: DocumentId) -> bool {
        documents::state(self.lock().store.conn(), document).is_ok_and(|s| s == DocumentState::Live)
    }

    /// A peer holds our log of `document` up to `seq`: acknowledge those outbox entries.
    pub(crate) fn acknowledge_up_to(
        &self,
        document: DocumentId,
        kind: LogKind,
        seq: u32,
    ) -> Result<usize, StoreError> {
        let me = self.identity.author();
        let mut st = self.lock();
        // Never remember more than our log holds: operations written after an announcement
        // beyond it (a peer restored from elsewhere, or lying) must still be acknowledged.
        let Some((ours, _)) = oplog::latest(st.store.conn(), &me, document, kind)? else {
            return Ok(0);
        };
        let upto = seq.min(ours);
        let after = st.acknowledged.get(&(document, kind)).copied();
        if after.is_some_and(|done| done >= upto) {
            return Ok(0);
        }
        let n = outbox::acknowledge_range(st.store.conn(), document, kind, after, upto)?;
        st.acknowledged.insert((document, kind), upto);
        Ok(n)
    }

    /// Reads a value of the node's key/value metadata.
    pub(crate) fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.lock().store.meta_get(key)
    }

    /// Writes a value of the node's key/value metadata.
    pub(crate) fn meta_set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.lock().store.meta_set(key, value)
    }

    /// Version vector of a document, for announcing heads.
    pub(crate) fn heads(
        &self,
        document: DocumentId,
        kind: LogKind,
    ) -> Result<VersionVector, StoreError> {
        oplog::version_vector_of(self.lock().store.conn(), document, kind)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, NodeState> {
        // A poisoned lock only means another thread panicked mid-call; the store is
        // transactional, so the state is still consistent and usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(crate) fn check_input_size(&self, len: usize) -> Result<(), DocumentError> {
        // Leave room for CRDT metadata inside the body limit.
        let max = self.config.max_body_bytes.saturating_sub(1024) as usize;
        if len > max {
            return Err(DocumentError::InvalidArgument(format!(
                "input of {len} bytes exceeds the maximum of {max} bytes"
            )));
        }
        Ok(())
    }

    pub(crate) fn read<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        let mut st = self.lock();
        let plain = self.is_plain(st.store.conn(), id)?;
        let doc = st.loaded(id, self.identity.loro_peer_id(), plain)?;
        f(&doc.loro)
    }

    pub(crate) fn edit<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        let op = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let plain = self.is_plain(st.store.conn(), id)?;
            let doc = st.loaded(id, self.identity.loro_peer_id(), plain)?;
            let before = doc.loro.oplog_vv();
            let out = f(&doc.loro);
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
                    self.persist_local(st, id, LogKind::Delta, body)
                        .map_err(DocumentError::from)
                });
            match persisted {
                Ok(op) => (op, out),
                Err(e) => {
                    // Drop the in-memory edit: the document reloads from the store.
                    st.docs.remove(&id);
                    return Err(e);
                }
            }
        };
        let (op, out) = op;
        self.emit(Event::DocumentChanged {
            document: id,
            origin: Origin::Local,
        });
        let _ = self.local_ops.send((id, op));
        out
    }

    /// Signs the next operation of our log and stores it with its outbox entry.
    fn persist_local(
        &self,
        st: &mut NodeState,
        id: DocumentId,
        kind: LogKind,
        body: Vec<u8>,
    ) -> Result<FsOperation, StoreError> {
        let me = self.identity.author();
        let tx = st.store.transaction()?;
        let prev = oplog::latest(&tx, &me, id, kind)?;
        let op = build_operation(self.identity.signing_key(), id, kind, prev, body);
        oplog::insert(&tx, id, &op, &op.header.encode(), true)?;
        outbox::push(&tx, &op)?;
        if let Some(doc) = st.docs.get_mut(&id) {
            if doc.count_op() {
                let total = Self::save_snapshot(&tx, id, &doc.loro)?;
                doc.snapshotted(total, self.config.snapshot_every);
            }
        }
        tx.commit()?;
        Ok(op)
    }

    /// Saves the document's snapshot cache; returns how many operations it covers.
    fn save_snapshot(conn: &Connection, id: DocumentId, loro: &LoroDoc) -> Result<u64, StoreError> {
        let snap = loro
            .export(ExportMode::Snapshot)
            .map_err(|e| StoreError::Corrupt(format!("snapshot export failed: {e}")))?;
        let vv = oplog::version_vector(conn, id)?;
        documents::save_snapshot(conn, id, &snap, &vv)?;
        Ok(vv.total_ops())
    }

    pub(crate) fn version_vector(&self, id: DocumentId) -> Result<VersionVector, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        Ok(oplog::version_vector(st.store.conn(), id)?)
    }

    pub(crate) fn op_count(&self, id: DocumentId) -> Result<u64, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        Ok(oplog::count(st.store.conn(), id)?)
    }

    pub(crate) fn pending_count(&self, id: DocumentId) -> Result<u64, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        Ok(outbox::pending_count(st.store.conn(), id)?)
    }

    pub(crate) fn ensure_live(&self, st: &NodeState, id: DocumentId) -> Result<(), DocumentError> {
        match documents::state(st.store.conn(), id)? {
            DocumentState::Live => Ok(()),
            _ => Err(DocumentError::NotFound(id)),
        }
    }

    /// Validates an authenticated operation against the log and applies it (and any parked
    /// successors).
    pub(crate) fn ingest_operation(&self, op: Authenticated) -> Result<IngestOutcome, IngestError> {
        let (outcome, changed_by) = {
            let mut guard = self.lock();
            self.ingest_locked(&mut guard, &op)?
        };
        if let Some((document, author)) = changed_by {
            self.emit(Event::DocumentChanged {
                document,
                origin: Origin::Remote(author),
            });
        }
        Ok(outcome)
    }

    /// Ingests decoded (authenticated) operations in one SQLite transaction (each operation
    /// still in its own savepoint: a refused one changes nothing, the others go on). Results
    /// are in input order; decoding errors are passed through in place. Change events go out
    /// after the commit, once per document and author.
    ///
    /// The operations' Loro updates are imported together at the end (see
    /// [`crate::deferred_import`]); if that import fails, the batch is rolled back and
    /// ingested again one operation at a time, with an import per operation.
    pub(crate) fn ingest_decoded_batch(
        &self,
        decoded: Vec<Result<Authenticated, IngestError>>,
    ) -> Vec<Result<IngestOutcome, IngestError>> {
        let mut results: Vec<Option<Result<IngestOutcome, IngestError>>> =
            Vec::with_capacity(decoded.len());
        let mut ops: Vec<(usize, Authenticated)> = Vec::with_capacity(decoded.len());
        for (i, item) in decoded.into_iter().enumerate() {
            match item {
                Ok(op) => {
                    ops.push((i, op));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let changed = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let fast = self.ingest_in_batch(st, &ops, true, &mut results);
            match fast {
                Some(changed) => changed,
                None => self
                    .ingest_in_batch(st, &ops, false, &mut results)
                    .unwrap_or_default(),
            }
        };
        for (document, author) in changed {
            self.emit(Event::DocumentChanged {
                document,
                origin: Origin::Remote(author),
            });
        }
        results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(IngestError::Store(StoreError::Corrupt(
                        "operation left unprocessed".into(),
                    )))
                })
            })
            .collect()
    }

    /// One pass of [`NodeInner::ingest_decoded_batch`] over `ops`, writing each outcome into
    /// `results` at the operation's index. Returns the (document, author) pairs whose
    /// content changed, or `None` when `defer` was set and the deferred import failed: the
    /// batch was then rolled back and nothing of it is kept.
    #[allow(clippy::type_complexity)]
    fn ingest_in_batch(
        &self,
        st: &mut NodeState,
        ops: &[(usize, Authenticated)],
        defer: bool,
        results: &mut [Option<Result<IngestOutcome, IngestError>>],
    ) -> Option<Vec<(DocumentId, AuthorId)>> {
        let batched = st.store.begin_batch().is_ok();
        let defer = defer && batched;
        if defer {
            st.deferred = Some(DeferredImports::default());
        }
        if batched {
            // Without a memo (it could not be loaded), every lookup reads the store.
            st.memo = BatchMemo::load(st.store.conn()).ok();
        }
        let changed = self.ingest_each(st, ops, defer, batched, results);
        st.memo = None;
        changed
    }

    /// The body of [`NodeInner::ingest_in_batch`], once its batch was begun (if `batched`).
    #[allow(clippy::type_complexity)]
    fn ingest_each(
        &self,
        st: &mut NodeState,
        ops: &[(usize, Authenticated)],
        defer: bool,
        batched: bool,
        results: &mut [Option<Result<IngestOutcome, IngestError>>],
    ) -> Option<Vec<(DocumentId, AuthorId)>> {
        let mut changed: Vec<(DocumentId, AuthorId)> = Vec::new();
        for (i, op) in ops {
            let result = self.ingest_locked(st, op);
            results[*i] = Some(result.map(|(outcome, by)| {
                if let Some(by) = by {
                    if !changed.contains(&by) {
                        changed.push(by);
                    }
                }
                outcome
            }));
        }
        if defer {
            let deferred = st.deferred.take().unwrap_or_default();
            if let Err(e) = self.import_deferred(st, deferred) {
                tracing::debug!("batched import failed ({e}); ingesting one by one");
                st.store.rollback_batch();
                st.docs.clear();
                st.crypto.forget_all();
                return None;
            }
        }
        if batched {
            if let Err(e) = st.store.commit_batch() {
                st.store.rollback_batch();
                st.docs.clear();
                st.crypto.forget_all();
                changed.clear();
                let reason = format!("batch commit failed: {e}");
                for r in results.iter_mut() {
                    if matches!(r, Some(Ok(_))) {
                        *r = Some(Err(IngestError::Store(StoreError::Corrupt(reason.clone()))));
                    }
                }
            }
        }
        Some(changed)
    }

    /// Imports the updates collected during a batch, a run at a time, checking each run's
    /// attribution, then saves the snapshots that came due. Runs inside the batch's
    /// transaction; on error the caller rolls it back.
    fn import_deferred(
        &self,
        st: &mut NodeState,
        deferred: DeferredImports,
    ) -> Result<(), IngestError> {
        if deferred.is_empty() {
            return Ok(());
        }
        let peer = self.identity.loro_peer_id();
        let mut counts: Vec<(DocumentId, u64)> = Vec::new();
        for run in deferred.into_runs() {
            let plain = self.is_plain(st.store.conn(), run.document)?;
            // Loaded from the store if it was dropped meanwhile: the load already applies
            // this batch's stored updates, and importing them again changes nothing.
            let doc = st
                .loaded(run.document, peer, plain)
                .map_err(|e| IngestError::InvalidUpdate(e.to_string()))?;
            // Attribution of every update, on all cores, before any is imported.
            operation::parallel_map(&run.updates, |u| check_attribution(u, &run.author))
                .into_iter()
                .collect::<Result<(), IngestError>>()?;
            run.import_into(&doc.loro)
                .map_err(|e| IngestError::InvalidUpdate(e.to_string()))?;
            match counts.iter_mut().find(|(d, _)| *d == run.document) {
                Some((_, n)) => *n += run.updates.len() as u64,
                None => counts.push((run.document, run.updates.len() as u64)),
            }
        }
        for (document, n) in counts {
            if let Some(doc) = st.docs.get_mut(&document) {
                if doc.count_ops(n) {
                    let total = Self::save_snapshot(st.store.conn(), document, &doc.loro)?;
                    doc.snapshotted(total, self.config.snapshot_every);
                }
            }
        }
        Ok(())
    }

    /// Ingests one authenticated operation under the node lock. Returns the outcome and, if
    /// content changed, (document, author) for the change event.
    #[allow(clippy::type_complexity)]
    fn ingest_locked(
        &self,
        st: &mut NodeState,
        received: &Authenticated,
    ) -> Result<(IngestOutcome, Option<(DocumentId, AuthorId)>), IngestError> {
        let op = &received.op;
        let document = DocumentId::from(op.header.extensions.document);
        let author = AuthorId::from(op.header.verifying_key);
        // An operation above its log's head cannot be stored yet: only one at or below the
        // head can be a duplicate (or a fork), found by its position and compared by hash.
        let latest = log_head(st, op)?;
        let duplicate = match latest {
            Some((head, hash)) if op.header.seq_num == head => hash == op.hash,
            Some((head, _)) if op.header.seq_num < head => oplog::contains(st.store.conn(), op)?,
            _ => false,
        };
        if duplicate {
            return Ok((IngestOutcome::Duplicate, None));
        }
        let known = st.memo.as_ref().is_some_and(|m| m.is_live(document))
            || match documents::state(st.store.conn(), document)? {
                DocumentState::Deleted => return Err(IngestError::DeletedDocument(document)),
                DocumentState::Live => true,
                DocumentState::Unknown => false,
            };
        self.check_position_after(st, op, latest)?;
        // A failed apply leaves the store unchanged; drop the cached group state too so it
        // reloads from the store (a control message may have changed it in memory).
        let (mut applied, kind, mut seq) = self
            .apply_checked(st, document, known, received)
            .inspect_err(|_| st.crypto.forget(document))?;
        let mut unparked = 0;
        // Close gaps: apply parked successors while they chain on (in a batch, only logs
        // with parked operations are looked at).
        let log = (author, document, kind);
        while let Some((header, body)) = match &st.memo {
            Some(memo) if !memo.may_have_parked(&log) => None,
            _ => parked::take(st.store.conn(), &author, document, kind, seq + 1)?,
        } {
            let Ok(next) = operation::authenticate(header, body, self.config.max_body_bytes) else {
                break;
            };
            if self.check_position(st, &next.op).is_err() {
                break;
            }
            match self.apply_checked(st, document, known, &next) {
                Ok((a, _, s)) => {
                    seq = s;
                    applied |= a;
                    unparked += 1;
                }
                Err(_) => {
                    st.crypto.forget(document);
                    break;
                }
            }
        }
        let result = if applied {
            IngestOutcome::Applied { document, unparked }
        } else {
            IngestOutcome::Stored { document }
        };
        Ok((result, applied.then_some((document, author))))
    }

    /// Checks seq and backlink against the stored log; parks the operation on a gap.
    fn check_position(&self, st: &mut NodeState, op: &FsOperation) -> Result<(), IngestError> {
        let latest = log_head(st, op)?;
        self.check_position_after(st, op, latest)
    }

    /// [`NodeInner::check_position`] given the log's head, `latest` (seq, hash).
    fn check_position_after(
        &self,
        st: &mut NodeState,
        op: &FsOperation,
        latest: Option<(u32, Hash)>,
    ) -> Result<(), IngestError> {
        let author = AuthorId::from(op.header.verifying_key);
        let seq = op.header.seq_num;
        let expected = latest.map_or(0, |(s, _)| s + 1);
        if seq < expected {
            // Not a duplicate (checked by hash before), so a different op holds this slot.
            return Err(IngestError::ForkedLog { author, seq });
        }
        if seq > expected {
            parked::park(st.store.conn(), op, self.config.max_parked)?;
            if let Some(memo) = st.memo.as_mut() {
                memo.parked(log_of(op));
            }
            return Err(IngestError::SeqGap {
                author,
                expected,
                got: seq,
            });
        }
        if let Some((_, prev_hash)) = latest {
            if op.header.backlink != Some(prev_hash) {
                return Err(IngestError::BacklinkMismatch { author, seq });
            }
        }
        Ok(())
    }

    /// Stores an operation whose position was checked, and applies its content. `known`:
    /// the document's row exists in the store. Returns (content applied, kind, seq).
    fn apply_checked(
        &self,
        st: &mut NodeState,
        document: DocumentId,
        known: bool,
        received: &Authenticated,
    ) -> Result<(bool, LogKind, u32), IngestError> {
        let op = &received.op;
        let kind = op.header.extensions.kind;
        let seq = op.header.seq_num;
        let author = AuthorId::from(op.header.verifying_key);
        let payload = match kind {
            LogKind::Delta => {
                let Some(b) = op.body.as_ref() else {
                    return Err(IngestError::MissingBody);
                };
                let plain = self.is_plain(st.store.conn(), document)?;
                let payload =
                    st.crypto
                        .open_delta(st.store.conn(), document, b.as_bytes(), plain)?;
                // Attribution (only the author's own Loro changes) is checked on import.
                payload
            }
            LogKind::Control => None,
        };
        let peer = self.identity.loro_peer_id();
        // In a batch with deferred imports, a delta operation of a document that exists
        // writes one row: the insert below (the import comes after the batch). One
        // statement is atomic on its own, so it needs no savepoint.
        let single = known && kind == LogKind::Delta && st.deferred.is_some();
        let tx = if single {
            st.store.single_statement()?
        } else {
            st.store.transaction()?
        };
        if !known {
            documents::ensure(&tx, document)?;
        }
        let plain = self.is_plain(&tx, document)?;
        if kind == LogKind::Control {
            let body = op.body.as_ref().map(|b| b.as_bytes());
            st.crypto
                .receive_control(&tx, document, &author, seq, body)?;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = st.docs.entry(document) {
            let (loro, ops) = load_doc(&tx, document, peer, &mut st.crypto, plain)
                .map_err(|e| IngestError::InvalidUpdate(e.to_string()))?;
            slot.insert(LoadedDoc::new(loro, ops, self.config.snapshot_every));
        }
        oplog::insert(&tx, document, op, &received.header, payload.is_some())?;
        let Some(doc) = st.docs.get_mut(&document) else {
            return Err(IngestError::Store(StoreError::Corrupt(
                "document vanished".into(),
            )));
        };
        let applied = payload.is_some();
        if let (Some(payload), Some(deferred)) = (&payload, st.deferred.as_mut()) {
            // Imported with the rest of the batch (see `ingest_decoded_batch`).
            deferred.push(document, author, payload.to_vec());
        } else if let Some(payload) = &payload {
            let imported = check_attribution(payload, &author).and_then(|()| {
                doc.loro
                    .import(payload)
                    .map(|_| ())
                    .map_err(|e| IngestError::InvalidUpdate(e.to_string()))
            });
            if let Err(e) = imported {
                // The in-memory document may hold part of the refused update: drop it (it
                // reloads from the store, which the rolled-back transaction left unchanged).
                drop(tx);
                st.docs.remove(&document);
                return Err(e);
            }
            if doc.count_op() {
                let total = Self::save_snapshot(&tx, document, &doc.loro)?;
                doc.snapshotted(total, self.config.snapshot_every);
            }
        }
        if let Err(e) = tx.commit() {
            st.docs.remove(&document);
            st.crypto.forget(document);
            return Err(e.into());
        }
        if let Some(memo) = st.memo.as_mut() {
            memo.live(document);
            memo.extended(log_of(op), seq, op.hash);
            if kind == LogKind::Control {
                // It may have appended to this node's own logs (see `crate::batch_memo`).
                memo.forget_heads();
            }
        }
        let mut applied = applied;
        if kind == LogKind::Control {
            // New keys may unlock operations stored earlier.
            applied |= self.retry_unapplied(st, document)?;
        }
        Ok((applied, kind, seq))
    }
}

impl Node {
    /// Opens (or creates) the node stored in `config.data_dir`.
    pub fn open(config: NodeConfig) -> Result<Self> {
        let store = Store::open(&config.data_dir)?;
        let db_path = store.path().to_path_buf();
        let identity = Identity::load_or_create(&store, config.key_store.as_ref())?;
        let crypto = load_crypto_state(&store, &identity.author())?;
        let (events, _) = broadcast::channel(4096);
        let (local_ops, _) = broadcast::channel(4096);
        let node = Node {
            inner: Arc::new(NodeInner {
                state: Mutex::new(NodeState {
                    store,
                    docs: HashMap::new(),
                    crypto,
                    snapshot_every: config.snapshot_every,
                    deferred: None,
                    memo: None,
                    acknowledged: HashMap::new(),
                }),
                events,
                identity,
                config,
                local_ops,
                db_path,
                net: Default::default(),
                plain_docs: Mutex::new(HashMap::new()),
            }),
        };
        node.refresh_key_bundle()?;
        Ok(node)
    }

    /// This device's author id (its public key).
    pub fn author(&self) -> AuthorId {
        self.inner.identity.author()
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// Creates a new, empty document. With [`NodeConfig::encrypt`] on (the default) this
    /// creates its encryption group with this device as the only member and publishes the
    /// group's "create" control operation.
    pub fn create_document(&self) -> Result<Document> {
        let id = DocumentId::random();
        let op = self.inner.init_document(&mut self.inner.lock(), id)?;
        self.inner.net.send(crate::net::NetCommand::Subscribe(id));
        if let Some(op) = op {
            self.inner.publish_local(id, op);
        }
        Ok(Document {
            node: self.inner.clone(),
            id,
        })
    }

    /// Opens an existing document.
    pub fn document(&self, id: DocumentId) -> Result<Document> {
        let st = self.inner.lock();
        self.inner.ensure_live(&st, id)?;
        Ok(Document {
            node: self.inner.clone(),
            id,
        })
    }

    /// Opens a document, registering it if this node has never seen it (used when joining).
    pub fn document_or_register(&self, id: DocumentId) -> Result<Document> {
        let st = self.inner.lock();
        match documents::state(st.store.conn(), id)? {
            DocumentState::Deleted => return Err(DocumentError::NotFound(id).into()),
            DocumentState::Unknown => {
                documents::ensure(st.store.conn(), id)?;
                self.inner.net.send(crate::net::NetCommand::Subscribe(id));
            }
            DocumentState::Live => {}
        }
        Ok(Document {
            node: self.inner.clone(),
            id,
        })
    }

    /// Ids of all documents on this node.
    pub fn documents(&self) -> Result<Vec<DocumentId>> {
        let st = self.inner.lock();
        Ok(documents::list(st.store.conn())?)
    }

    /// Deletes a document on this node: its content, log and outbox entries. A tombstone
    /// keeps sync from bringing it back.
    pub fn delete_document(&self, id: DocumentId) -> Result<()> {
        let mut guard = self.inner.lock();
        let st = &mut *guard;
        self.inner.ensure_live(st, id)?;
        let tx = st.store.transaction()?;
        oplog::delete_document(&tx, id)?;
        outbox::delete_document(&tx, id)?;
        documents::mark_deleted(&tx, id)?;
        tx.commit()?;
        st.docs.remove(&id);
        Ok(())
    }

    /// Validates and applies an encoded operation received from another node.
    ///
    /// Checks, in order: size, envelope CBOR, header CBOR and Ed25519 signature, payload
    /// size, BLAKE3 payload hash, position in the author's log (seq and backlink). Idempotent.
    /// An operation that arrives before its predecessors is parked (returned as
    /// [`IngestError::SeqGap`]) and applied as soon as the gap closes.
    pub fn ingest(&self, bytes: &[u8]) -> Result<IngestOutcome, IngestError> {
        let op = operation::authenticate_wire(
            bytes,
            self.inner.config.max_operation_bytes,
            self.inner.config.max_body_bytes,
        )?;
        self.inner.ingest_operation(op)
    }

    /// Ingests many encoded operations in one SQLite transaction (much faster than calling
    /// [`Node::ingest`] for each when a transport delivers them in bulk). Each operation is
    /// still validated and applied on its own: a refused one changes nothing and the others
    /// go on. Results are in input order.
    pub fn ingest_batch(&self, ops: &[Vec<u8>]) -> Vec<Result<IngestOutcome, IngestError>> {
        let decoded = operation::authenticate_many(
            ops,
            Vec::as_slice,
            self.inner.config.max_operation_bytes,
            self.inner.config.max_body_bytes,
        );
        self.inner.ingest_decoded_batch(decoded)
    }

    /// Every operation of a document, wire-encoded, in log order per author.
    pub fn operations(&self, id: DocumentId) -> Result<Vec<Vec<u8>>> {
        let st = self.inner.lock();
        self.inner.ensure_live(&st, id)?;
        let conn = st.store.conn();
        let mut out = Vec::new();
        for (author, kind, _) in oplog::heights(conn, id)? {
            for op in oplog::log_entries(conn, &author, id, kind, None, None)? {
                out.push(operation::encode_wire(&op.header, op.body.as_deref()));
            }
        }
        Ok(out)
    }

    /// Local operations no peer has acknowledged yet, oldest first.
    pub fn pending(&self, document: Option<DocumentId>) -> Result<Vec<OutboxEntry>> {
        let st = self.inner.lock();
        Ok(outbox::pending(st.store.conn(), document)?)
    }

    /// Marks operations as held by a peer; returns how many were pending.
    pub fn acknowledge(&self, hashes: &[Hash]) -> Result<usize> {
        let st = self.inner.lock();
        Ok(outbox::acknowledge(st.store.conn(), hashes)?)
    }

    /// Records a failed delivery attempt on outbox entries.
    pub fn record_delivery_failure(&self, hashes: &[Hash], error: &str) -> Result<()> {
        let st = self.inner.lock();
        Ok(outbox::record_attempt(
            st.store.conn(),
            hashes,
            Some(error),
        )?)
    }

    /// Number of operations parked while waiting for their predecessors.
    pub fn parked_count(&self) -> Result<u64> {
        let st = self.inner.lock();
        Ok(parked::count(st.store.conn())?)
    }

    /// Subscribes to node events.
    pub fn subscribe(&self) -> EventStream {
        EventStream::new(self.inner.events.subscribe())
    }

    /// Writes a snapshot of every loaded document so the next open is fast.
    pub fn flush(&self) -> Result<()> {
        let mut guard = self.inner.lock();
        let st = &mut *guard;
        let tx = st.store.transaction()?;
        let every = self.inner.config.snapshot_every;
        for (id, doc) in st.docs.iter_mut() {
            if doc.since_snapshot > 0 {
                let total = NodeInner::save_snapshot(&tx, *id, &doc.loro)?;
                doc.snapshotted(total, every);
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs SQLite's integrity check on the node database.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let st = self.inner.lock();
        Ok(st.store.integrity_check()?)
    }

    /// Rebuilds a document from its op log alone (ignoring the snapshot cache) and returns
    /// its JSON. Used to verify that cached state equals a replay of the log.
    pub fn replay_json(&self, id: DocumentId) -> Result<String> {
        let mut guard = self.inner.lock();
        let st = &mut *guard;
        self.inner.ensure_live(st, id)?;
        let plain = self.inner.is_plain(st.store.conn(), id)?;
        let doc = LoroDoc::new();
        let mut updates = Vec::new();
        for op in oplog::delta_ops_after(st.store.conn(), id, &VersionVector::new())? {
            if let Some(b) = op.body.filter(|_| op.applied) {
                if let Ok(Some(p)) = st.crypto.open_delta(st.store.conn(), id, &b, plain) {
                    updates.push(p);
                }
            }
        }
        if !updates.is_empty() {
            doc.import_batch(&updates).map_err(engine)?;
        }
        Ok(crate::document::canonical_json(&doc)?)
    }
}

/// Loads the device's key material, turning a panic on damaged key material into an error.
///
/// p2panda-encryption 0.7.1 panics (`key_manager.rs`, "we know the item exists in the set")
/// when a restored pre-key state is inconsistent, which a bit flip inside the stored key blob
/// produces: SQLite does not checksum row contents. A damaged database must give an error on
/// open, never a crash (found by `tests/tests/corrupt_db.rs`). Only effective with
/// `panic = "unwind"`, FieldSync's setting in every profile.
fn load_crypto_state(store: &crate::store::Store, me: &AuthorId) -> Result<CryptoState> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        CryptoState::load_or_create(store, me)
    }))
    .unwrap_or_else(|_| {
        Err(StoreError::Corrupt("the device key material in the database is damaged".into()).into())
    })
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        // Snapshots are only a cache. Saving one panics when the last handle is dropped while
        // thread-locals are destroyed (Loro uses thread-locals; found by fuzzing), and a
        // panic there aborts the process: skip the snapshot instead.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Ok(tx) = st.store.transaction() {
                for (id, doc) in st.docs.iter() {
                    if doc.since_snapshot > 0 {
                        let _ = NodeInner::save_snapshot(&tx, *id, &doc.loro);
                    }
                }
                let _ = tx.commit();
            }
        }));
    }
}

impl From<Error> for DocumentError {
    fn from(e: Error) -> Self {
        match e {
            Error::Document(d) => d,
            Error::Store(s) => DocumentError::Store(s),
            other => DocumentError::Engine(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_remove_each_seq_range_once() {
        let dir = tempfile::tempdir().unwrap();
        let node = Node::open(NodeConfig::new(dir.path())).unwrap();
        let doc = node.create_document().unwrap();
        for i in 0..5 {
            doc.text("t").unwrap().push(&i.to_string()).unwrap();
        }
        // Five delta operations (seqs 0..=4) and the control operation creating the group.
        assert_eq!(node.pending(Some(doc.id())).unwrap().len(), 6);
        let ack = |kind, seq| node.inner.acknowledge_up_to(doc.id(), kind, seq).unwrap();
        assert_eq!(ack(LogKind::Delta, 2), 3);
        // A repeated or older announcement touches nothing.
        assert_eq!(ack(LogKind::Delta, 2), 0);
        assert_eq!(ack(LogKind::Delta, 1), 0);
        assert_eq!(ack(LogKind::Delta, 4), 2);
        let left = node.pending(Some(doc.id())).unwrap();
        assert_eq!(left.len(), 1, "only the control operation is still pending");
        // An announcement beyond our log does not hide operations written after it.
        assert_eq!(ack(LogKind::Delta, 9), 0);
        doc.text("t").unwrap().push("5").unwrap();
        assert_eq!(node.pending(Some(doc.id())).unwrap().len(), 2);
        assert_eq!(ack(LogKind::Delta, 9), 1);
        assert_eq!(ack(LogKind::Control, 0), 1);
        assert!(node.pending(Some(doc.id())).unwrap().is_empty());
    }
}
