//! Forked logs and the one verdict every replica reaches on them.
//!
//! An author forks a log when it signs two different operations for one position (a
//! stolen key, or one identity on two devices after a restored backup). Which branch a
//! replica saw first depends on who it met first, so "keep the first" would leave replicas
//! disagreeing for good. The rule here depends only on the proof: once two signed headers
//! prove a fork at seq `s` ([`crate::wire::fork`]), the log is **frozen at `s`** on every
//! replica that knows the proof: its operations from `s` on, of both branches, are
//! removed (the document rebuilds from what remains, like a revocation sweep) and refused
//! from then on ([`IngestError::FrozenLog`]). A lower fork seq proven later lowers the
//! freeze. Proofs travel to peers at the start of every catch-up, before heights are
//! compared, so two replicas that met agree on the frozen logs and then on the rest.
//!
//! A frozen control log keeps its effect on this replica's key ring (group secrets learnt
//! from removed operations are not forgotten: they only let it read more), but its removed
//! auth operations no longer count for roles (rebuilt from what remains). If this device's
//! own log forked, its writes to the document are refused
//! ([`DocumentError::IdentityCloned`]): another device uses its identity.

use crate::base::events::Event;
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::{LogId, LogKind};
use crate::document::DocumentError;
use crate::replica::authz::doc_auth;
use crate::replica::batch::Batch;
use crate::replica::snapshot;
use crate::replica::{IngestError, Replica, ReplicaState};
use crate::store::forks::{self, ForkEvidence};
use crate::store::{bases, documents, oplog, outbox, parked, StoreError};
use crate::wire::fork;
use crate::wire::operation::FsOperation;

/// Most fork proofs of one document a peer may send in one catch-up.
pub(crate) const MAX_PROOFS: usize = 4096;

/// The log `evidence` is about.
fn log_of(evidence: &ForkEvidence) -> LogId {
    (evidence.author, evidence.document, evidence.kind)
}

impl Replica {
    /// Keeps the evidence that `op`'s author forked its log at `seq` (the held operation
    /// there and `op`, which is either another operation at `seq` or one whose backlink
    /// names another one) and freezes the log there.
    pub(crate) fn record_fork(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        op: &FsOperation,
        seq: u32,
    ) -> Result<(), IngestError> {
        let author = AuthorId::from(op.header.verifying_key);
        let document = DocumentId::from(op.header.extensions.document);
        let kind = op.header.extensions.kind;
        let Some(kept) = bases::header_held_or_base(st.store.conn(), &author, document, kind, seq)?
        else {
            return Ok(());
        };
        self.fork_proven(st, batch, document, kind, seq, kept, &op.header.encode())?;
        Ok(())
    }

    /// Records that `kept` and `refused`, two signed headers of one log of `document` at
    /// `seq`, prove a fork there (checked from their bytes), and freezes the log.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fork_proven(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        document: DocumentId,
        kind: LogKind,
        seq: u32,
        kept: Vec<u8>,
        refused: &[u8],
    ) -> Result<(), StoreError> {
        let Ok(proof) = fork::verify(&kept, refused) else {
            return Ok(());
        };
        if proof.document != document || proof.kind != kind || proof.seq != seq {
            return Ok(());
        }
        let evidence = ForkEvidence {
            document,
            author: proof.author,
            kind,
            seq,
            kept,
            refused: refused.to_vec(),
        };
        self.freeze(st, Some(batch), evidence)?;
        Ok(())
    }

    /// Records `evidence` and freezes its log at its seq, unless the log is frozen there or
    /// lower already. Inside a batch with deferred imports, the log's operations are
    /// removed after the imports (see `ingest_each`); otherwise at once. Reports
    /// `Event::ForkDetected`. Returns whether anything changed.
    fn freeze(
        &self,
        st: &mut ReplicaState,
        batch: Option<&mut Batch>,
        evidence: ForkEvidence,
    ) -> Result<bool, StoreError> {
        let log = log_of(&evidence);
        let seq = evidence.seq;
        if st.forks.get(&log).is_some_and(|&at| at <= seq) {
            return Ok(false);
        }
        let tx = st.store.single_statement()?;
        let recorded = forks::record(&tx, &evidence)?;
        tx.commit()?;
        if !recorded {
            return Ok(false);
        }
        st.forks.insert(log, seq);
        if log.0 == self.author() {
            self.identity_cloned_at(st, log.1, seq)?;
        }
        match batch {
            Some(batch) if batch.deferred.is_some() => batch.frozen.push(log),
            Some(batch) => {
                self.truncate(st, log)?;
                // Truncation may remove other logs' operations too (bases resettled): the
                // batch's remembered heads are stale.
                if let Some(memo) = batch.memo.as_mut() {
                    memo.forget_heads();
                }
            }
            None => {
                self.truncate(st, log)?;
            }
        }
        let (author, document, _) = log;
        tracing::warn!("{author} forked its log of document {document} at seq {seq}: frozen");
        self.emit(Event::ForkDetected {
            document,
            author,
            seq,
        });
        Ok(true)
    }

    /// Removes what a frozen log holds from its fork seq on (operations, parked ones, our
    /// outbox entries if it is ours), so the document rebuilds without them. Returns how
    /// many operations were removed.
    pub(crate) fn truncate(&self, st: &mut ReplicaState, log: LogId) -> Result<usize, StoreError> {
        let Some(&at) = st.forks.get(&log) else {
            return Ok(0);
        };
        let (author, document, kind) = log;
        let keep = at.checked_sub(1);
        let tx = st.store.transaction()?;
        // A frozen snapshot log keeps the snapshot already accepted (its state may be the
        // only copy of compacted history): only later ones are refused.
        let removed = if kind == LogKind::Snapshot {
            0
        } else {
            oplog::delete_after(&tx, document, &author, kind, keep)?
        };
        parked::delete_from(&tx, &author, document, kind, at)?;
        // Snapshots covering the removed part of an update log are withdrawn and bases
        // above it resettled (see `replica/snapshot.rs`): the document rebuilds from what
        // stays.
        let resettled = kind == LogKind::Delta
            && snapshot::drop_past_cuts(
                &tx,
                document,
                &[(author, keep)],
                |_| false,
                &self.author(),
            )?;
        let mine = author == self.author();
        if mine {
            outbox::acknowledge_range(&tx, document, kind, keep, u32::MAX)?;
        }
        if removed > 0 || resettled {
            documents::clear_snapshot(&tx, document)?;
        }
        tx.commit()?;
        if mine {
            st.acknowledged.remove(&(document, kind));
        }
        if removed > 0 || resettled {
            st.drop_loaded(document);
            if kind == LogKind::Control {
                st.auth.remove(&document);
                st.keys.forget(document);
            }
            tracing::info!(%document, %author, removed, "removed the operations of a forked log");
        }
        Ok(removed)
    }

    /// Refuses an operation of a frozen log at or after its fork seq.
    pub(crate) fn check_frozen(
        st: &ReplicaState,
        op: &FsOperation,
        log: LogId,
    ) -> Result<(), IngestError> {
        match st.forks.get(&log) {
            Some(&forked_at) if op.header.seq_num >= forked_at => Err(IngestError::FrozenLog {
                author: log.0,
                seq: op.header.seq_num,
                forked_at,
            }),
            _ => Ok(()),
        }
    }

    /// Refuses this device's writes to `document` if another device uses its identity
    /// (see `crate::replica::cloning`) or its own `kind` log there forked.
    pub(crate) fn check_own_log(
        &self,
        st: &ReplicaState,
        document: DocumentId,
        kind: LogKind,
    ) -> Result<(), DocumentError> {
        if st.cloned.is_some() || st.forks.contains_key(&(self.author(), document, kind)) {
            return Err(DocumentError::IdentityCloned(document));
        }
        Ok(())
    }

    /// A fork proof from a peer (encoded by [`fork::encode`]) about `document`: verified
    /// from its bytes, then the log is frozen (see the module docs). Kept only for a log
    /// this replica holds or an author the document's roles name, so free identities
    /// cannot fill the table. Returns whether it changed anything; a proof that does not
    /// hold is an error (the peer is misbehaving).
    pub(crate) fn accept_fork_proof(
        &self,
        document: DocumentId,
        bytes: &[u8],
    ) -> Result<bool, IngestError> {
        let (a, b) = fork::decode(bytes)?;
        let proof = fork::verify(a, b)?;
        if proof.document != document {
            return Err(IngestError::InvalidOperation(format!(
                "fork proof for document {} in a session of {document}",
                proof.document
            )));
        }
        let mut guard = self.lock();
        let st = &mut *guard;
        let log = (proof.author, document, proof.kind);
        if st.forks.get(&log).is_some_and(|&at| at <= proof.seq) {
            return Ok(false);
        }
        let holds = oplog::latest(st.store.conn(), &proof.author, document, proof.kind)?.is_some();
        let named =
            !self.is_legacy(st, document)? && doc_auth(st, document)?.is_known(&proof.author);
        if !holds && !named {
            return Ok(false);
        }
        let evidence = ForkEvidence {
            document,
            author: proof.author,
            kind: proof.kind,
            seq: proof.seq,
            kept: a.to_vec(),
            refused: b.to_vec(),
        };
        Ok(self.freeze(st, None, evidence)?)
    }

    /// The fork proofs this replica holds for `document`, encoded for a peer.
    pub(crate) fn fork_proofs(&self, document: DocumentId) -> Result<Vec<Vec<u8>>, StoreError> {
        let st = self.lock();
        Ok(forks::of_document(st.store.conn(), document)?
            .iter()
            .map(|e| fork::encode(&e.kept, &e.refused))
            .collect())
    }

    /// The fork evidence held for a document (see [`crate::store::forks`]).
    pub(crate) fn forks(&self, id: DocumentId) -> Result<Vec<ForkEvidence>, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        Ok(forks::of_document(st.store.conn(), id)?)
    }
}
