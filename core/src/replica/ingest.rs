//! Ingest: received operations, authenticated by the wire layer, checked against the
//! author's log (duplicate, fork, gap, backlink) and the document's group, then stored and
//! applied, each in its own savepoint. A batch runs in one SQLite transaction with an
//! explicit [`Batch`] (what it learnt about the store, and the Loro updates it imports at
//! the end).

use p2panda_core::Hash;

use crate::base::events::{Event, Origin};
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::{LogId, LogKind};
use crate::base::pool::parallel_map;
use crate::crypto::CryptoError;
use crate::document::deferred::DeferredImports;
use crate::document::{attribution, InvalidUpdate};
use crate::replica::authz::{doc_auth, record_invite, sweep_revoked, Gate};
use crate::replica::batch::{Batch, BatchMemo};
use crate::replica::load::{rebuild, Start};
use crate::replica::snapshot::compact_locked;
use crate::replica::write::snapshot_if_due;
use crate::replica::{IngestError, Replica, ReplicaState};
use crate::store::documents::{self, DocumentState};
use crate::store::{oplog, parked, StoreError};
use crate::wire::body::CONTROL_INVITE;
use crate::wire::operation::{self, Authenticated, FsOperation};

/// What `Node::ingest` did with an operation.
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

/// The log `op` belongs to.
fn log_of(op: &FsOperation) -> LogId {
    (
        AuthorId::from(op.header.verifying_key),
        DocumentId::from(op.header.extensions.document),
        op.header.extensions.kind,
    )
}

/// The head (seq, hash) of the log `op` belongs to, as stored (remembered in a batch).
fn log_head(
    st: &ReplicaState,
    batch: &mut Batch,
    op: &FsOperation,
) -> Result<Option<(u32, Hash)>, StoreError> {
    head_of(st, batch, log_of(op))
}

/// The head (seq, hash) of `log`, as stored (remembered in a batch).
fn head_of(
    st: &ReplicaState,
    batch: &mut Batch,
    log: LogId,
) -> Result<Option<(u32, Hash)>, StoreError> {
    match batch.memo.as_mut() {
        Some(memo) => memo.head(st.store.conn(), log),
        None => oplog::latest(st.store.conn(), &log.0, log.1, log.2),
    }
}

impl Replica {
    /// Signs the open coalescing windows before received operations are ingested: a
    /// rolled-back batch reloads documents, which would drop unsigned edits.
    fn sign_windows_before_ingest(&self, st: &mut ReplicaState) {
        if self.window().is_none() {
            return;
        }
        for (id, op) in self.sign_all_windows(st) {
            self.publish_local(id, op);
        }
    }

    /// Validates and applies an encoded operation received from another node (see
    /// `Node::ingest`).
    pub(crate) fn ingest(&self, bytes: &[u8]) -> Result<IngestOutcome, IngestError> {
        let op = operation::authenticate_wire(
            bytes,
            self.config.max_operation_bytes,
            self.config.max_body_bytes,
        )?;
        self.ingest_operation(op)
    }

    /// Ingests many encoded operations in one SQLite transaction (see `Node::ingest_batch`).
    pub(crate) fn ingest_batch(&self, ops: &[Vec<u8>]) -> Vec<Result<IngestOutcome, IngestError>> {
        let decoded = operation::authenticate_many(
            ops,
            Vec::as_slice,
            self.config.max_operation_bytes,
            self.config.max_body_bytes,
        )
        .into_iter()
        .map(|r| r.map_err(IngestError::from))
        .collect();
        self.ingest_decoded_batch(decoded)
    }

    /// Validates an authenticated operation against the log and applies it (and any parked
    /// successors).
    pub(crate) fn ingest_operation(&self, op: Authenticated) -> Result<IngestOutcome, IngestError> {
        let (outcome, changed_by) = {
            let mut guard = self.lock();
            self.sign_windows_before_ingest(&mut guard);
            let mut batch = Batch::default();
            let ingested = self.ingest_locked(&mut guard, &mut batch, &op)?;
            for document in batch.compact {
                if let Err(e) = compact_locked(&mut guard, document, self.config.retention) {
                    tracing::warn!(%document, "compaction failed: {e}");
                }
            }
            ingested
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
    /// [`crate::document::deferred`]); if that import fails, the batch is rolled back and
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
            self.sign_windows_before_ingest(st);
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

    /// One pass of [`Replica::ingest_decoded_batch`] over `ops`, writing each outcome into
    /// `results` at the operation's index. Returns the (document, author) pairs whose
    /// content changed, or `None` when `defer` was set and the deferred import failed: the
    /// batch was then rolled back and nothing of it is kept.
    #[allow(clippy::type_complexity)]
    fn ingest_in_batch(
        &self,
        st: &mut ReplicaState,
        ops: &[(usize, Authenticated)],
        defer: bool,
        results: &mut [Option<Result<IngestOutcome, IngestError>>],
    ) -> Option<Vec<(DocumentId, AuthorId)>> {
        let batched = st.store.begin_batch().is_ok();
        let defer = defer && batched;
        let mut batch = Batch {
            // Without a memo (it could not be loaded), every lookup reads the store.
            memo: batched
                .then(|| BatchMemo::load(st.store.conn()).ok())
                .flatten(),
            deferred: defer.then(DeferredImports::default),
            revoked: Vec::new(),
            frozen: Vec::new(),
            compact: Vec::new(),
        };
        self.ingest_each(st, &mut batch, ops, defer, batched, results)
    }

    /// The body of [`Replica::ingest_in_batch`], once its batch was begun (if `batched`).
    #[allow(clippy::type_complexity)]
    fn ingest_each(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        ops: &[(usize, Authenticated)],
        defer: bool,
        batched: bool,
        results: &mut [Option<Result<IngestOutcome, IngestError>>],
    ) -> Option<Vec<(DocumentId, AuthorId)>> {
        let mut changed: Vec<(DocumentId, AuthorId)> = Vec::new();
        for (i, op) in ops {
            let result = self.ingest_locked(st, batch, op);
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
            let deferred = batch.deferred.take().unwrap_or_default();
            if let Err(e) = self.import_deferred(st, deferred) {
                tracing::debug!("batched import failed ({e}); ingesting one by one");
                st.store.rollback_batch();
                st.forget_cached();
                return None;
            }
        }
        for document in std::mem::take(&mut batch.revoked) {
            if let Err(e) = self.sweep(st, document) {
                tracing::warn!(%document, "sweeping revoked updates failed ({e}); rolling back");
                st.store.rollback_batch();
                st.forget_cached();
                return None;
            }
        }
        for log in std::mem::take(&mut batch.frozen) {
            if let Err(e) = self.truncate(st, log) {
                tracing::warn!("removing a forked log's operations failed ({e}); rolling back");
                st.store.rollback_batch();
                st.forget_cached();
                return None;
            }
        }
        if let Some(memo) = batch.memo.as_mut() {
            // Sweeps and truncations may have removed operations of any log.
            memo.forget_heads();
        }
        for document in std::mem::take(&mut batch.compact) {
            if let Err(e) = compact_locked(st, document, self.config.retention) {
                tracing::warn!(%document, "compaction failed ({e}); rolling back");
                st.store.rollback_batch();
                st.forget_cached();
                return None;
            }
        }
        if batched {
            if let Err(e) = st.store.commit_batch() {
                st.store.rollback_batch();
                st.forget_cached();
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
        st: &mut ReplicaState,
        deferred: DeferredImports,
    ) -> Result<(), IngestError> {
        if deferred.is_empty() {
            return Ok(());
        }
        let mut counts: Vec<(DocumentId, u64)> = Vec::new();
        for run in deferred.into_runs() {
            // Loaded from the store if it was dropped meanwhile: the load already applies
            // this batch's stored updates, and importing them again changes nothing.
            let hub = st.observers.get(&run.document).cloned();
            let doc = self.loaded(st, run.document)?;
            // Attribution of every update, on all cores, before any is imported.
            parallel_map(&run.updates, |u| attribution::check(u, &run.author))
                .into_iter()
                .collect::<Result<(), InvalidUpdate>>()?;
            // One at a time while there is something to undo: the batched import ends in a
            // checkout, which empties Loro's undo stacks.
            let one_by_one = doc
                .undo
                .as_ref()
                .is_some_and(|u| u.can_undo() || u.can_redo());
            let import = || run.import_into(&doc.loro, one_by_one);
            match hub {
                Some(hub) => hub.remote(run.author, &doc.loro, import),
                None => import(),
            }
            .map_err(|e| IngestError::InvalidUpdate(e.to_string()))?;
            match counts.iter_mut().find(|(d, _)| *d == run.document) {
                Some((_, n)) => *n += run.updates.len() as u64,
                None => counts.push((run.document, run.updates.len() as u64)),
            }
        }
        for (document, n) in counts {
            if let Some(doc) = st.docs.get_mut(&document) {
                // Inside the batch's transaction: the snapshot's one write needs no savepoint.
                let tx = st.store.single_statement()?;
                snapshot_if_due(&tx, document, doc, n, self.config.snapshot_every)?;
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Ingests one authenticated operation under the node lock. Returns the outcome and, if
    /// content changed, (document, author) for the change event.
    #[allow(clippy::type_complexity)]
    fn ingest_locked(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        received: &Authenticated,
    ) -> Result<(IngestOutcome, Option<(DocumentId, AuthorId)>), IngestError> {
        let op = &received.op;
        let document = DocumentId::from(op.header.extensions.document);
        let author = AuthorId::from(op.header.verifying_key);
        // An operation above its log's head cannot be stored yet: only one at or below the
        // head can be a duplicate (or a fork), found by its position and compared by hash.
        let latest = log_head(st, batch, op)?;
        let duplicate = match latest {
            // A snapshot log keeps only its latest: an earlier one is superseded.
            Some((head, hash)) if op.header.extensions.kind == LogKind::Snapshot => {
                if op.header.seq_num == head && hash != op.hash {
                    // Two snapshots signed for one position: a fork of the snapshot log,
                    // frozen like any other (see `crate::replica::forks`).
                    self.record_fork(st, batch, op, head)?;
                    return Err(IngestError::ForkedLog { author, seq: head });
                }
                op.header.seq_num <= head
            }
            Some((head, hash)) if op.header.seq_num == head => hash == op.hash,
            Some((head, _)) if op.header.seq_num < head => oplog::contains(st.store.conn(), op)?,
            _ => false,
        };
        if duplicate {
            return Ok((IngestOutcome::Duplicate, None));
        }
        let known = batch.memo.as_ref().is_some_and(|m| m.is_live(document))
            || match documents::state(st.store.conn(), document)? {
                DocumentState::Deleted => return Err(IngestError::DeletedDocument(document)),
                DocumentState::Live => true,
                DocumentState::Unknown => false,
            };
        self.check_position_after(st, batch, op, latest)?;
        // A failed apply leaves the store unchanged; drop the cached group state too so it
        // reloads from the store (a control message may have changed it in memory).
        let (mut applied, kind, mut seq) = self
            .apply_checked(st, batch, document, known, received)
            .inspect_err(|_| st.keys.forget(document))?;
        if author == self.author() {
            // Signed with our key and accepted, yet not written here (not a duplicate):
            // another device uses this identity. (One the gate refuses, say our own write
            // swept after our removal, proves nothing and is not counted.)
            self.identity_cloned_at(st, document, op.header.seq_num)?;
        }
        let mut unparked = 0;
        // Close gaps: apply parked successors while they chain on (in a batch, only logs
        // with parked operations are looked at).
        let log = (author, document, kind);
        while let Some((header, body)) = match &batch.memo {
            Some(memo) if !memo.may_have_parked(&log) => None,
            _ => {
                let tx = st.store.single_statement()?;
                // A log at seq u32::MAX has no successor.
                let taken = match seq.checked_add(1) {
                    Some(next) => parked::take(&tx, &author, document, kind, next)?,
                    None => None,
                };
                tx.commit()?;
                taken
            }
        } {
            let Ok(next) = operation::authenticate(header, body, self.config.max_body_bytes) else {
                break;
            };
            if self.check_position(st, batch, &next.op).is_err() {
                break;
            }
            match self.apply_checked(st, batch, document, known, &next) {
                Ok((a, _, s)) => {
                    seq = s;
                    applied |= a;
                    unparked += 1;
                }
                Err(_) => {
                    st.keys.forget(document);
                    break;
                }
            }
        }
        if kind == LogKind::Control || (kind == LogKind::Snapshot && applied) {
            // Roles or keys may have changed: quarantined operations may pass now. After a
            // snapshot, parked operations may chain on the bases it set.
            let released = self.release_quarantine(st, batch, document, known);
            applied |= released > 0;
            unparked += released;
        }
        let result = if applied {
            IngestOutcome::Applied { document, unparked }
        } else {
            IngestOutcome::Stored { document }
        };
        Ok((result, applied.then_some((document, author))))
    }

    /// Applies quarantined (and parked) operations of `document` that pass now, log by log,
    /// until none does. Returns how many were applied.
    fn release_quarantine(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        document: DocumentId,
        known: bool,
    ) -> usize {
        let mut released = 0;
        loop {
            let mut progress = false;
            let Ok(logs) = parked::logs_of(st.store.conn(), document) else {
                break;
            };
            for (author, kind) in logs {
                loop {
                    let Ok(head) = head_of(st, batch, (author, document, kind)) else {
                        break;
                    };
                    let Some(next) = head.map_or(Some(0), |(s, _)| s.checked_add(1)) else {
                        break;
                    };
                    let taken = st.store.single_statement().and_then(|tx| {
                        let taken = parked::take(&tx, &author, document, kind, next)?;
                        tx.commit().map_err(StoreError::from)?;
                        Ok(taken)
                    });
                    let Ok(Some((header, body))) = taken else {
                        break;
                    };
                    let Ok(op) = operation::authenticate(header, body, self.config.max_body_bytes)
                    else {
                        break;
                    };
                    if self.check_position(st, batch, &op.op).is_err() {
                        break;
                    }
                    match self.apply_checked(st, batch, document, known, &op) {
                        Ok(_) => {
                            released += 1;
                            progress = true;
                        }
                        Err(_) => {
                            st.keys.forget(document);
                            break;
                        }
                    }
                }
            }
            if !progress {
                break;
            }
        }
        released
    }

    /// Sweeps the revoked updates of `document` in their own statement scope.
    fn sweep(&self, st: &mut ReplicaState, document: DocumentId) -> Result<usize, StoreError> {
        let revoked = doc_auth(st, document)?.revocations();
        let tx = st.store.transaction()?;
        let n = sweep_revoked(
            &tx,
            &mut st.docs,
            &st.observers,
            document,
            &revoked,
            &self.author(),
        )?;
        tx.commit().map_err(StoreError::from)?;
        Ok(n)
    }

    /// Checks seq and backlink against the stored log; parks the operation on a gap.
    fn check_position(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        op: &FsOperation,
    ) -> Result<(), IngestError> {
        let latest = log_head(st, batch, op)?;
        self.check_position_after(st, batch, op, latest)
    }

    /// [`Replica::check_position`] given the log's head, `latest` (seq, hash).
    fn check_position_after(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        op: &FsOperation,
        latest: Option<(u32, Hash)>,
    ) -> Result<(), IngestError> {
        let author = AuthorId::from(op.header.verifying_key);
        let seq = op.header.seq_num;
        Self::check_frozen(st, op, log_of(op))?;
        let Some(expected) = latest.map_or(Some(0), |(s, _)| s.checked_add(1)) else {
            return Err(IngestError::InvalidOperation(format!(
                "the log of {author} is full"
            )));
        };
        if op.header.extensions.kind == LogKind::Snapshot {
            // p2panda's prune semantics: each snapshot supersedes its author's earlier
            // ones, which need not be held; only a later one is taken.
            return if seq >= expected {
                Ok(())
            } else {
                Err(IngestError::InvalidOperation(format!(
                    "snapshot {seq} of {author} is older than the one held"
                )))
            };
        }
        if seq < expected {
            // Not a duplicate (checked by hash before), so a different op holds this slot:
            // the author signed two operations for it. Both headers are kept as evidence
            // and the log is frozen here (see `crate::replica::forks`).
            self.record_fork(st, batch, op, seq)?;
            return Err(IngestError::ForkedLog { author, seq });
        }
        if seq > expected {
            let tx = st.store.single_statement()?;
            parked::park(&tx, op, self.config.park_limits())?;
            tx.commit()?;
            if let Some(memo) = batch.memo.as_mut() {
                memo.parked(log_of(op));
            }
            return Err(IngestError::SeqGap {
                author,
                expected,
                got: seq,
            });
        }
        if let Some((prev_seq, prev_hash)) = latest {
            if op.header.backlink != Some(prev_hash) {
                // The author signed this operation after another one at `prev_seq` than the
                // one held: a fork at `prev_seq`, proven by the two headers.
                self.record_fork(st, batch, op, prev_seq)?;
                return Err(IngestError::BacklinkMismatch { author, seq });
            }
        }
        Ok(())
    }

    /// Authorizes, stores and applies an operation whose position was checked. `known`:
    /// the document's row exists in the store. Returns (content applied, kind, seq).
    fn apply_checked(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        document: DocumentId,
        known: bool,
        received: &Authenticated,
    ) -> Result<(bool, LogKind, u32), IngestError> {
        if !known {
            // The gate reads the document's flags: register it first (one statement).
            let tx = st.store.single_statement()?;
            documents::ensure(&tx, document)?;
            tx.commit()?;
        }
        let gate = self.authorize(st, &received.op)?;
        self.store_checked(st, batch, document, received, gate)
            .inspect_err(|_| {
                // An auth operation may have changed the cached roles: reload them.
                st.auth.remove(&document);
            })
    }

    /// Stores an operation that passed the gate, and applies its content.
    fn store_checked(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        document: DocumentId,
        received: &Authenticated,
        gate: Gate,
    ) -> Result<(bool, LogKind, u32), IngestError> {
        let known = true;
        let legacy = self.is_legacy(st, document)?;
        let op = &received.op;
        let kind = op.header.extensions.kind;
        let seq = op.header.seq_num;
        let author = AuthorId::from(op.header.verifying_key);
        if kind == LogKind::Snapshot {
            if !known {
                let tx = st.store.single_statement()?;
                documents::ensure(&tx, document)?;
                tx.commit()?;
            }
            return self.store_snapshot(st, batch, document, received);
        }
        let payload = match kind {
            LogKind::Delta => {
                let Some(b) = op.body.as_ref() else {
                    return Err(IngestError::MissingBody);
                };
                let plain = self.is_plain(st.store.conn(), document)?;
                let payload = st
                    .keys
                    .open_delta(st.store.conn(), document, b.as_bytes(), plain)?;
                // Attribution (only the author's own Loro changes) is checked on import.
                payload
            }
            LogKind::Control | LogKind::Snapshot => None,
        };
        let peer = self.identity.loro_peer_id();
        // In a batch with deferred imports, a delta operation of a document that exists
        // writes one row: the insert below (the import comes after the batch). One
        // statement is atomic on its own, so it needs no savepoint.
        let single = known && kind == LogKind::Delta && batch.deferred.is_some();
        let tx = if single {
            st.store.single_statement()?
        } else {
            st.store.transaction()?
        };
        if !known {
            documents::ensure(&tx, document)?;
        }
        let plain = self.is_plain(&tx, document)?;
        if kind == LogKind::Control && matches!(gate, Gate::Pass) {
            // Group messages, key bundles, invite records; auth operations were applied by
            // the gate.
            let body = op.body.as_ref().map(|b| b.as_bytes());
            match body.and_then(|b| b.split_first()) {
                // Legacy documents have no admins: nobody's invite record counts.
                Some((&CONTROL_INVITE, _)) if legacy => {
                    return Err(IngestError::InvalidControl(CryptoError::Malformed(
                        "invite record for a document without roles".into(),
                    )))
                }
                Some((&CONTROL_INVITE, record)) => record_invite(&tx, document, record)?,
                _ => st.keys.receive_control(&tx, document, &author, seq, body)?,
            }
        }
        if !st.docs.contains_key(&document) {
            // A store failure while loading stays a store failure (not the peer's fault).
            let (loro, ops) = rebuild(
                &tx,
                document,
                Some(peer),
                &mut st.keys,
                plain,
                Start::Snapshot,
            )?;
            crate::replica::load::insert_loaded(
                &mut st.docs,
                &st.observers,
                document,
                loro,
                ops,
                &self.config,
            );
        }
        oplog::insert(&tx, document, op, &received.header, payload.is_some())?;
        let Some(doc) = st.docs.get_mut(&document) else {
            return Err(IngestError::Store(StoreError::Corrupt(
                "document vanished".into(),
            )));
        };
        let applied = payload.is_some();
        if let (Some(payload), Some(deferred)) = (&payload, batch.deferred.as_mut()) {
            // Imported with the rest of the batch (see `ingest_decoded_batch`).
            deferred.push(document, author, payload.to_vec());
        } else if let Some(payload) = &payload {
            let import = || {
                doc.loro
                    .import(payload)
                    .map(|_| ())
                    .map_err(|e| InvalidUpdate(e.to_string()))
            };
            let imported = attribution::check(payload, &author).and_then(|()| {
                match st.observers.get(&document) {
                    Some(hub) => hub.remote(author, &doc.loro, import),
                    None => import(),
                }
            });
            if let Err(e) = imported {
                // The in-memory document may hold part of the refused update: drop it (it
                // reloads from the store, which the rolled-back transaction left unchanged).
                drop(tx);
                st.drop_loaded(document);
                return Err(e.into());
            }
            snapshot_if_due(&tx, document, doc, 1, self.config.snapshot_every)?;
        }
        if let Gate::Auth(wire) = &gate {
            if wire.action.revocation().is_some() {
                if batch.deferred.is_some() {
                    // Swept after the batch's imports, which may hold its updates.
                    if !batch.revoked.contains(&document) {
                        batch.revoked.push(document);
                    }
                } else {
                    let revoked = st
                        .auth
                        .get(&document)
                        .map(|a| a.revocations())
                        .unwrap_or_default();
                    sweep_revoked(
                        &tx,
                        &mut st.docs,
                        &st.observers,
                        document,
                        &revoked,
                        &self.author(),
                    )?;
                }
            }
        }
        if let Err(e) = tx.commit() {
            st.drop_loaded(document);
            st.keys.forget(document);
            return Err(e.into());
        }
        if let Some(memo) = batch.memo.as_mut() {
            if matches!(&gate, Gate::Auth(w) if w.action.revocation().is_some()) {
                // A sweep may have removed operations of other logs.
                memo.forget_heads();
            }
            memo.live(document);
            memo.extended(log_of(op), seq, op.hash);
            if kind == LogKind::Control {
                // It may have appended to this node's own logs (see `crate::replica::batch`).
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::replica::NodeConfig;

    fn plain(dir: &std::path::Path) -> Arc<Replica> {
        let mut config = NodeConfig::new(dir);
        config.encrypt = false;
        Replica::open(config).unwrap()
    }

    /// Appends `s` to the text "t" of `id`: one local operation.
    fn push(replica: &Replica, id: DocumentId, s: &str) {
        replica
            .edit(id, |d| {
                let t = d.get_text("t");
                t.insert(t.len_unicode(), s)
                    .map_err(crate::replica::write::engine)
            })
            .unwrap();
    }

    /// A store failure while loading the document a received operation belongs to is this
    /// node's failure: `IngestError::Store`, not a refused update (which the network layer
    /// counts against the peer), on the single and the batched path. Nothing is stored.
    #[test]
    fn a_store_failure_while_loading_is_not_the_peers_fault() {
        let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = plain(a_dir.path());
        let (id, genesis) = a.init_document().unwrap();
        assert_eq!(genesis.len(), 1, "plain: the genesis, no group");
        for s in ["one", "two", "three"] {
            push(&a, id, s);
        }
        let ops = a.operations(id).unwrap();
        assert_eq!(ops.len(), 4, "the genesis first, then three updates");
        {
            let b = plain(b_dir.path());
            let genesis = b.ingest(&ops[0]);
            assert!(
                matches!(genesis, Ok(IngestOutcome::Stored { .. })),
                "{genesis:?}"
            );
            assert!(matches!(
                b.ingest(&ops[1]),
                Ok(IngestOutcome::Applied { .. })
            ));
            b.flush().unwrap();
        }
        // Damage the snapshot cache's version vector: loading the document now fails in
        // the store layer.
        let db = b_dir.path().join(crate::store::DB_FILE);
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute("UPDATE snapshots SET vv = x'ffff'", [])
            .unwrap();
        let b = plain(b_dir.path());
        match b.ingest(&ops[2]) {
            Err(IngestError::Store(StoreError::Corrupt(_))) => {}
            other => panic!("expected a store error, got {other:?}"),
        }
        let results = b.ingest_batch(&ops[2..3]);
        assert!(
            matches!(
                results[..],
                [Err(IngestError::Store(StoreError::Corrupt(_)))]
            ),
            "batched: expected a store error, got {results:?}"
        );
        assert_eq!(
            b.op_count(id).unwrap(),
            1,
            "one update: nothing more was stored"
        );
    }
}
