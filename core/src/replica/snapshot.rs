//! Snapshot operations: a writer's signed, encrypted copy of a document's state, which
//! stands in for the operations it covers (see `wire/snapshot.rs` for the body).
//!
//! - **Publishing** (`Document::publish_snapshot`, or after
//!   `NodeConfig::publish_snapshot_every` operations): the writer's current Loro state
//!   (a full snapshot, which merges with any other replica's state) and, per author, the
//!   last operation of its document log that state includes. Nothing is published while
//!   an operation of the document waits for its key (the state would lack what the covers
//!   name).
//! - **Accepting** a received one (`Replica::store_snapshot`, from ingest): its author must
//!   be a writer now (`DocAuth::check_snapshot`); each cover is a signed header of the
//!   document's update log (`wire/snapshot.rs`) of an author who may write or wrote before
//!   a removal, not of this device's log above its head, not of a frozen position; and it
//!   must agree with what this node holds (else [`IngestError::InconsistentSnapshot`],
//!   nothing kept):
//!   1. a covered position this node holds must hold the named operation (another one
//!      there is a fork of that log, proven by the two signed headers and frozen);
//!   2. a covered log of a removed member must not reach past what the removal kept;
//!   3. completeness: for each covered log, the last operation held up to the cover must
//!      be in the state (its Loro changes end at or below the state's counter of its
//!      author's peer; an author's changes depend on its earlier ones, so that stands for
//!      every held operation the snapshot covers);
//!   4. when this node holds every covered operation, the snapshot's changes must all be
//!      in its document and its state must equal this node's state at its version.
//!
//!   Then the state is imported and each covered log this node is behind on gets a base
//!   (`store/bases.rs`, with the covered header): the operations up to it are not needed,
//!   the next one chains on it. Earlier snapshots of the same author are dropped; a
//!   second snapshot signed for the same seq is a fork of the author's snapshot log.
//!
//!   What a joiner cannot check (it holds none of the covered operations) it takes on the
//!   author's word: a writer could put anything in a snapshot, as it could in an edit;
//!   it cannot name operations nobody signed.
//! - **Cuts** (a removal's sweep, a frozen log; [`drop_past_cuts`]): snapshots of a
//!   removed writer, or covering a log past where it was cut, are dropped (a rebuild would
//!   bring the cut updates back, and joiners would refuse them); every base no remaining
//!   snapshot stands for is lowered to one that does, or removed, with the operations above
//!   it, and fetched again ([`settle_bases`]). This device's own log keeps its base.
//! - **Compaction** (`Replica::compact`, `NodeConfig::retention`): the operations the
//!   latest accepted snapshot covers (older than the retention allows) are deleted in one
//!   transaction that raises the logs' bases; the snapshot operation stays, so the state is
//!   still rebuilt from the store and still served to any peer at any version (the peer
//!   gets the snapshot and the operations after it). Control logs are never pruned.

use loro::ExportMode;

use crate::auth::Role;
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::document::snapshot::read_snapshot;
use crate::document::DocumentError;
use crate::replica::authz::doc_auth;
use crate::replica::batch::Batch;
use crate::replica::config::Retention;
use crate::replica::keyring::KeyRing;
use crate::replica::write::engine;
use crate::replica::{IngestError, Replica, ReplicaState};
use crate::store::tx::Tx;
use crate::store::{bases, now_millis, oplog, StoreError};
use crate::wire::operation::{Authenticated, FsOperation};
use crate::wire::snapshot::{self, Cover, SnapshotBody};

/// What a compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    /// Operations deleted.
    pub pruned: u64,
}

impl Replica {
    /// Publishes a snapshot of `id` now (this device must be a writer). Returns the seq of
    /// the snapshot operation, or `None` when there is nothing to cover or an operation
    /// still waits for its key.
    pub(crate) fn publish_snapshot(&self, id: DocumentId) -> Result<Option<u32>, DocumentError> {
        let op = {
            let mut guard = self.lock();
            let st = &mut *guard;
            self.require_role(st, id, crate::auth::Role::Writer)?;
            self.check_own_log(st, id, LogKind::Snapshot)?;
            // The snapshot covers every edit made so far: the open window is signed first.
            let window = self.sign_window(st, id)?;
            (window, self.publish_locked(st, id, true)?)
        };
        let (window, op) = op;
        if let Some(window) = window {
            self.publish_local(id, window);
        }
        let seq = op.as_ref().map(|op| op.header.seq_num);
        if let Some(op) = op {
            self.publish_local(id, op);
            if self.config.retention != Retention::KeepAll {
                self.compact(id, self.config.retention)?;
            }
        }
        Ok(seq)
    }

    /// After a local edit: publishes a snapshot if the policy says one is due. A failure
    /// is logged, never the edit's error (the edit is durable already).
    pub(crate) fn publish_if_due(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
    ) -> Option<FsOperation> {
        let every = self.config.publish_snapshot_every;
        if every == 0 || self.is_legacy(st, id).unwrap_or(true) {
            return None;
        }
        let due = st
            .docs
            .get(&id)
            .is_some_and(|d| d.since_published >= u64::from(every));
        if !due {
            return None;
        }
        match self.publish_locked(st, id, false) {
            Ok(op) => op,
            Err(e) => {
                tracing::debug!(%id, "publishing a snapshot failed: {e}");
                if let Some(doc) = st.docs.get_mut(&id) {
                    doc.since_published = 0;
                }
                None
            }
        }
    }

    /// Signs and stores a snapshot operation of `id` (see the module docs). `asked`: on
    /// request, a state above the body limit is an error (by policy it is skipped).
    fn publish_locked(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
        asked: bool,
    ) -> Result<Option<FsOperation>, DocumentError> {
        if !oplog::unapplied_delta_ops(st.store.conn(), id)?.is_empty() {
            return Ok(None);
        }
        let vv = oplog::version_vector(st.store.conn(), id)?;
        if vv.is_empty() {
            return Ok(None);
        }
        let mut covers = Vec::with_capacity(vv.len());
        for (author, seq) in vv.iter() {
            // A base kept from before schema 13 has no header: that log is not covered
            // (receivers fetch its operations, which the state holds anyway).
            if let Some(header) =
                bases::header_held_or_base(st.store.conn(), author, id, LogKind::Delta, *seq)?
            {
                covers.push(Cover::from_header(&header).map_err(corrupt)?);
            }
        }
        let state = self
            .loaded(st, id)?
            .loro
            .export(ExportMode::Snapshot)
            .map_err(engine)?;
        if covers.len() > snapshot::MAX_COVERS {
            // More logs than a snapshot may cover: peers would refuse it.
            if let Some(doc) = st.docs.get_mut(&id) {
                doc.since_published = 0;
            }
            return Ok(None);
        }
        let sealed = self.seal_update(st, id, &state)?;
        let body = snapshot::encode(&covers, &sealed);
        if body.len() as u64 > self.config.max_body_bytes {
            if let Some(doc) = st.docs.get_mut(&id) {
                doc.since_published = 0;
            }
            return if asked {
                Err(DocumentError::InvalidArgument(format!(
                    "the document's snapshot takes {} bytes, above the maximum of {}",
                    body.len(),
                    self.config.max_body_bytes
                )))
            } else {
                Ok(None)
            };
        }
        let op = self.append_own(st, id, LogKind::Snapshot, body)?;
        let tx = st.store.transaction()?;
        if op.header.seq_num > 0 {
            oplog::delete_until(
                &tx,
                id,
                &self.author(),
                LogKind::Snapshot,
                op.header.seq_num - 1,
            )?;
        }
        tx.commit()?;
        if let Some(doc) = st.docs.get_mut(&id) {
            doc.since_published = 0;
        }
        Ok(Some(op))
    }

    /// Stores and applies a received snapshot operation that passed the gate (see the
    /// module docs). Returns (state applied, kind, seq) like the other kinds.
    pub(crate) fn store_snapshot(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        document: DocumentId,
        received: &Authenticated,
    ) -> Result<(bool, LogKind, u32), IngestError> {
        let op = &received.op;
        let author = AuthorId::from(op.header.verifying_key);
        let seq = op.header.seq_num;
        let inconsistent = |reason: String| IngestError::InconsistentSnapshot { author, reason };
        let Some(bytes) = op.body.as_ref() else {
            return Err(IngestError::MissingBody);
        };
        let body = snapshot::decode(bytes.as_bytes(), document)?;
        self.check_covers(st, batch, document, &body)
            .map_err(|e| match e {
                CoverError::Store(e) => IngestError::Store(e),
                CoverError::Disagrees(reason) => inconsistent(reason),
            })?;
        let plain = self.is_plain(st.store.conn(), document)?;
        let state = st
            .keys
            .open_delta(st.store.conn(), document, &body.state, plain)?;
        let Some(state) = state else {
            // Not readable here (a relay, or the key is not here yet): carried as it is,
            // without bases (this node's own state does not change).
            let tx = st.store.transaction()?;
            oplog::insert(&tx, document, op, &received.header, false)?;
            tx.commit()?;
            return Ok((false, LogKind::Snapshot, seq));
        };
        let scratch = read_snapshot(&state, self.config.max_body_bytes, true)
            .map_err(|e| IngestError::InvalidUpdate(e.to_string()))?;
        crate::document::tree::copy_document(&scratch, &loro::LoroDoc::new())
            .map_err(|e| IngestError::InvalidUpdate(e.to_string()))?;
        self.check_complete(st, document, &body, &scratch.oplog_vv(), plain)
            .map_err(|e| match e {
                CoverError::Store(e) => IngestError::Store(e),
                CoverError::Disagrees(reason) => inconsistent(reason),
            })?;
        let holds_all = self.holds_all(st, document, &body)?;
        let hub = st.observers.get(&document).cloned();
        let doc = self.loaded(st, document)?;
        if holds_all {
            let ours = doc.loro.oplog_vv();
            if !ours.includes_vv(&scratch.oplog_vv()) {
                return Err(inconsistent(
                    "its state holds changes the operations it covers do not".into(),
                ));
            }
            let at = doc
                .loro
                .fork_at(&scratch.oplog_frontiers())
                .map_err(|e| inconsistent(format!("its version is unknown here: {e}")))?;
            if at.get_deep_value() != scratch.get_deep_value() {
                return Err(inconsistent(
                    "its state differs from the operations it covers".into(),
                ));
            }
        }
        let import = || doc.loro.import(&state).map(|_| ());
        match hub {
            Some(hub) => hub.remote(author, &doc.loro, import),
            None => import(),
        }
        .map_err(|e| {
            IngestError::InvalidUpdate(format!("snapshot state could not be imported: {e}"))
        })?;
        doc.since_published = 0;
        let tx = st.store.transaction()?;
        let stored = (|| -> Result<(), StoreError> {
            oplog::insert(&tx, document, op, &received.header, true)?;
            if seq > 0 {
                oplog::delete_until(&tx, document, &author, LogKind::Snapshot, seq - 1)?;
            }
            for c in &body.covers {
                bases::raise(
                    &tx,
                    &c.author,
                    document,
                    LogKind::Delta,
                    c.seq,
                    c.hash,
                    &c.header,
                )?;
            }
            Ok(())
        })();
        if let Err(e) = stored {
            drop(tx);
            st.drop_loaded(document);
            return Err(e.into());
        }
        if let Err(e) = tx.commit() {
            st.drop_loaded(document);
            return Err(StoreError::from(e).into());
        }
        if let Some(memo) = batch.memo.as_mut() {
            // Heads of the covered logs moved up to their bases.
            memo.forget_heads();
        }
        if self.config.retention != Retention::KeepAll {
            batch.compact.push(document);
        }
        Ok((true, LogKind::Snapshot, seq))
    }

    /// Rules 1 and 2 of the module docs, and what the covers may name at all: logs of
    /// authors who may write (or wrote before their removal), this device's own log no
    /// further than it wrote, no frozen position. A cover naming another operation than
    /// the one held at its position is a fork of the covered log, proven by the two
    /// signed headers: recorded and frozen like any other.
    fn check_covers(
        &self,
        st: &mut ReplicaState,
        batch: &mut Batch,
        document: DocumentId,
        body: &SnapshotBody,
    ) -> Result<(), CoverError> {
        let legacy = self.is_legacy(st, document)?;
        let revoked = if legacy {
            Vec::new()
        } else {
            doc_auth(st, document)?.revocations()
        };
        for c in &body.covers {
            if !legacy {
                let auth = doc_auth(st, document)?;
                let writes = auth.role_of(&c.author).is_some_and(Role::can_write)
                    || revoked.iter().any(|(who, _)| *who == c.author);
                if !writes {
                    return Err(CoverError::Disagrees(format!(
                        "it covers the log of {}, who may not write here",
                        c.author
                    )));
                }
            }
            if st
                .forks
                .get(&(c.author, document, LogKind::Delta))
                .is_some_and(|&at| c.seq >= at)
            {
                return Err(CoverError::Disagrees(format!(
                    "it covers the log of {} past where it forked",
                    c.author
                )));
            }
            let held = oplog::hash_at(st.store.conn(), &c.author, document, LogKind::Delta, c.seq)?;
            match held {
                Some(h) if h != c.hash => {
                    let kept = bases::header_held_or_base(
                        st.store.conn(),
                        &c.author,
                        document,
                        LogKind::Delta,
                        c.seq,
                    )?;
                    if let Some(kept) = kept {
                        self.fork_proven(
                            st,
                            batch,
                            document,
                            LogKind::Delta,
                            c.seq,
                            kept,
                            &c.header,
                        )?;
                    }
                    return Err(CoverError::Disagrees(format!(
                        "it names another operation than the one held at seq {} of {}",
                        c.seq, c.author
                    )));
                }
                None if c.author == self.author()
                    && oplog::latest(st.store.conn(), &c.author, document, LogKind::Delta)?
                        .is_none_or(|(head, _)| c.seq > head) =>
                {
                    return Err(CoverError::Disagrees(format!(
                        "it covers this device's log up to seq {}, past what it wrote",
                        c.seq
                    )));
                }
                _ => {}
            }
        }
        for (removed, kept) in revoked {
            if let Some(c) = body.cover_of(&removed) {
                if kept.is_none_or(|k| c.seq > k) {
                    return Err(CoverError::Disagrees(format!(
                        "it covers updates of {removed} past that member's removal"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Completeness: for every covered log, the last operation this node holds up to the
    /// cover must be in the snapshot's version `vv` (its Loro changes end at or below the
    /// state's counter of the author's peer). Loro changes depend on their author's earlier
    /// ones, so the last held operation stands for the whole held prefix: compaction may
    /// then prune any operation the snapshot covers.
    fn check_complete(
        &self,
        st: &mut ReplicaState,
        document: DocumentId,
        body: &SnapshotBody,
        vv: &loro::VersionVector,
        plain: bool,
    ) -> Result<(), CoverError> {
        for c in &body.covers {
            let Some((head, _)) =
                oplog::latest(st.store.conn(), &c.author, document, LogKind::Delta)?
            else {
                continue;
            };
            let at = head.min(c.seq);
            let Some(held) = oplog::log_entries(
                st.store.conn(),
                &c.author,
                document,
                LogKind::Delta,
                at.checked_sub(1),
                Some(at),
            )?
            .into_iter()
            .find(|op| op.seq == at) else {
                continue; // a base: covered by a snapshot accepted before
            };
            let Some(sealed) = held.body else { continue };
            let Ok(Some(update)) = st
                .keys
                .open_delta(st.store.conn(), document, &sealed, plain)
            else {
                continue; // not readable here: nothing applied from it either
            };
            let Ok(meta) = loro::LoroDoc::decode_import_blob_meta(&update, false) else {
                continue;
            };
            let peer = c.author.loro_peer_id();
            let end = meta.partial_end_vv.get(&peer).copied().unwrap_or(0);
            if vv.get(&peer).copied().unwrap_or(0) < end {
                return Err(CoverError::Disagrees(format!(
                    "its state lacks changes of {} at seq {at}, which it covers",
                    c.author
                )));
            }
        }
        Ok(())
    }

    /// True if this node holds (or has a base at or above) every covered operation.
    fn holds_all(
        &self,
        st: &ReplicaState,
        document: DocumentId,
        body: &SnapshotBody,
    ) -> Result<bool, StoreError> {
        let vv = oplog::version_vector(st.store.conn(), document)?;
        Ok(body
            .covers
            .iter()
            .all(|c| vv.get(&c.author).is_some_and(|held| held >= c.seq)))
    }

    /// Prunes the operations of `id` that its latest accepted snapshot covers, as far as
    /// `retention` allows, in one transaction (see the module docs).
    pub(crate) fn compact(
        &self,
        id: DocumentId,
        retention: Retention,
    ) -> Result<Compaction, DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        self.ensure_live(st, id)?;
        compact_locked(st, id, retention).map_err(DocumentError::from)
    }
}

impl Replica {
    /// Whether a peer would accept a snapshot of `author` in `document` now (its author may
    /// publish snapshots): only then does it stand in for the operations it covers when
    /// catching a peer up.
    pub(crate) fn snapshot_servable(&self, document: DocumentId, author: &AuthorId) -> bool {
        let mut guard = self.lock();
        let st = &mut *guard;
        if self.is_legacy(st, document).unwrap_or(false) {
            return true;
        }
        doc_auth(st, document).is_ok_and(|auth| {
            matches!(
                auth.check_snapshot(author),
                crate::auth::state::Verdict::Allowed
            )
        })
    }
}

/// Why covers were refused.
enum CoverError {
    Store(StoreError),
    Disagrees(String),
}

impl From<StoreError> for CoverError {
    fn from(e: StoreError) -> Self {
        CoverError::Store(e)
    }
}

/// The latest accepted snapshot of `id`: the held one covering the most operations.
fn latest_snapshot(
    conn: &rusqlite::Connection,
    id: DocumentId,
) -> Result<Option<SnapshotBody>, StoreError> {
    let mut best: Option<SnapshotBody> = None;
    for op in oplog::snapshots(conn, id)? {
        let Some(body) = op
            .body
            .as_deref()
            .and_then(|b| snapshot::decode_stored(b).ok())
        else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|b| body.covered_ops() > b.covered_ops())
        {
            best = Some(body);
        }
    }
    Ok(best)
}

/// [`Replica::compact`] under the lock.
pub(crate) fn compact_locked(
    st: &mut ReplicaState,
    id: DocumentId,
    retention: Retention,
) -> Result<Compaction, StoreError> {
    let cutoff = match retention {
        Retention::KeepAll => return Ok(Compaction::default()),
        Retention::KeepSinceSnapshot => i64::MAX,
        Retention::KeepDays(days) => now_millis() - i64::from(days) * 86_400_000,
    };
    let Some(latest) = latest_snapshot(st.store.conn(), id)? else {
        return Ok(Compaction::default());
    };
    let tx = st.store.transaction()?;
    let pruned = prune(&tx, id, &latest, cutoff)?;
    tx.commit()?;
    Ok(Compaction { pruned })
}

/// Deletes the operations `latest` covers that arrived before `cutoff` (a prefix of each
/// log), raising each log's base to the last one deleted.
fn prune(
    tx: &Tx<'_>,
    id: DocumentId,
    latest: &SnapshotBody,
    cutoff: i64,
) -> Result<u64, StoreError> {
    let mut pruned = 0;
    for c in &latest.covers {
        let Some(upto) = oplog::old_prefix(tx, id, &c.author, c.seq, cutoff)? else {
            continue;
        };
        let Some(header) = oplog::header_at(tx, &c.author, id, LogKind::Delta, upto)? else {
            continue;
        };
        let cover = Cover::from_header(&header).map_err(corrupt)?;
        bases::raise(tx, &c.author, id, LogKind::Delta, upto, cover.hash, &header)?;
        pruned += oplog::delete_until(tx, id, &c.author, LogKind::Delta, upto)? as u64;
    }
    Ok(pruned)
}

/// The states of the snapshots held for `id` that this node could read, for a rebuild:
/// what the pruned (or never fetched) operations held.
pub(crate) fn held_states(
    conn: &rusqlite::Connection,
    id: DocumentId,
    keys: &mut KeyRing,
    accept_plain: bool,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut out = Vec::new();
    for op in oplog::snapshots(conn, id)? {
        let Some(body) = op
            .body
            .as_deref()
            .and_then(|b| snapshot::decode_stored(b).ok())
        else {
            continue;
        };
        if let Ok(Some(state)) = keys.open_delta(conn, id, &body.state, accept_plain) {
            out.push(state);
        }
    }
    Ok(out)
}

impl Replica {
    /// Gives the database pages freed by compaction back to the file system.
    pub(crate) fn reclaim_space(&self) -> Result<(), StoreError> {
        self.lock().store.reclaim_space()
    }
}

fn corrupt(e: crate::wire::WireError) -> StoreError {
    StoreError::Corrupt(format!("a stored header: {e}"))
}

/// After a cut (a removal's sweep, a frozen update log): withdraws the held snapshots
/// written by an author `dropped` refuses, or covering a log of `cuts` (author, highest seq
/// kept) past its cut, then resettles the bases (see [`settle_bases`]). Returns whether
/// anything changed (the document must then be rebuilt).
pub(crate) fn drop_past_cuts(
    tx: &Tx<'_>,
    id: DocumentId,
    cuts: &[(AuthorId, Option<u32>)],
    dropped: impl Fn(&AuthorId) -> bool,
    me: &AuthorId,
) -> Result<bool, StoreError> {
    let mut changed = false;
    for op in oplog::snapshot_ops(tx, id)? {
        let past_cut = op
            .body
            .as_deref()
            .and_then(|b| snapshot::decode_stored(b).ok())
            .is_some_and(|body| {
                cuts.iter().any(|(who, keep)| {
                    body.cover_of(who)
                        .is_some_and(|c| keep.is_none_or(|k| c.seq > k))
                })
            });
        if past_cut || dropped(&op.author) {
            // Withdrawn, not deleted: the author's snapshot log keeps its position (this
            // device's next snapshot must not reuse the seq, nor a peer's twin look new).
            oplog::withdraw_snapshot(tx, id, &op.author, op.seq)?;
            changed = true;
        }
    }
    if !changed {
        return Ok(false);
    }
    settle_bases(tx, id, me)?;
    Ok(true)
}

/// Lowers every base of another author's document log that no held snapshot stands for
/// any more (a base means "the state has these operations": a snapshot covering the log
/// at or above it must hold them) to the highest cover below it, or removes it, and deletes
/// that log's operations above the new base: the log is fetched again from there (a log
/// with a hole would claim what it lacks). This device's own log keeps its base: its next
/// operation must chain on its head. Returns whether anything changed.
pub(crate) fn settle_bases(tx: &Tx<'_>, id: DocumentId, me: &AuthorId) -> Result<bool, StoreError> {
    let held: Vec<SnapshotBody> = oplog::snapshots(tx, id)?
        .into_iter()
        .filter_map(|op| op.body.and_then(|b| snapshot::decode_stored(&b).ok()))
        .collect();
    let mut changed = false;
    for (author, base, _) in bases::of_document(tx, id, LogKind::Delta)? {
        if author == *me {
            continue;
        }
        let covers = held.iter().filter_map(|s| s.cover_of(&author));
        if covers.clone().any(|c| c.seq >= base) {
            continue;
        }
        if oplog::count_until(tx, id, &author, LogKind::Delta, base)? == u64::from(base) + 1 {
            // Every operation up to the base is held: the base stands for nothing missing.
            bases::remove(tx, &author, id, LogKind::Delta)?;
            changed = true;
            continue;
        }
        let lower = covers.max_by_key(|c| c.seq);
        match lower {
            Some(c) => bases::set(tx, &author, id, LogKind::Delta, c.seq, c.hash, &c.header)?,
            None => bases::remove(tx, &author, id, LogKind::Delta)?,
        }
        oplog::delete_after(tx, id, &author, LogKind::Delta, lower.map(|c| c.seq))?;
        changed = true;
    }
    Ok(changed)
}
