//! Authorization in the engine: the roles of each document (cached, rebuilt from the auth
//! operations in the op log), the gate every received operation passes before it is
//! stored, the quarantine of operations whose authorization cannot be decided yet, and the
//! revocation sweep after a removal.
//!
//! The rules themselves are in [`crate::auth`]; this module applies them to operations.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::auth::invite::{InviteAction, InviteRecord};
use crate::auth::op::AuthWire;
use crate::auth::state::{DocAuth, GroupChange, Verdict};
use crate::auth::{AuthError, Role};
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::crypto::{control_kind, ControlKind};
use crate::document::cache::LoadedDoc;
use crate::document::DocumentError;
use crate::replica::{IngestError, Replica, ReplicaState};
use crate::store::direct as direct_table;
use crate::store::tx::Tx;
use crate::store::{documents, oplog, parked, StoreError};
use crate::wire::body::{CONTROL_AUTH, CONTROL_GROUP_MESSAGE, CONTROL_INVITE, CONTROL_KEY_BUNDLE};
use crate::wire::operation::FsOperation;

/// What the gate decided for a received operation that may be stored.
pub(crate) enum Gate {
    /// Store it (no role check applies, or its author may do it).
    Pass,
    /// An auth operation: apply it to the roles when it is stored.
    Auth(AuthWire),
    /// A control operation of a member that its roles do not allow (now): stored, so that
    /// member's later control operations still chain on it, but not processed. Roles are
    /// decided by the auth operations alone (every replica the same); refusing a member's
    /// operation would instead block the rest of its control log on the replicas that
    /// happened to hear of a concurrent role change first.
    Inert,
}

/// The roles of `id`, loaded from the op log the first time.
pub(crate) fn doc_auth(st: &mut ReplicaState, id: DocumentId) -> Result<&mut DocAuth, StoreError> {
    match st.auth.entry(id) {
        Entry::Occupied(slot) => Ok(slot.into_mut()),
        Entry::Vacant(slot) => {
            let mut auth = DocAuth::new(id);
            for (hash, author, seq, body) in
                oplog::control_bodies(st.store.conn(), id, CONTROL_AUTH)?
            {
                let applied =
                    AuthWire::decode(&body).and_then(|w| auth.apply(hash, &author, seq, &w));
                if let Err(e) = applied {
                    // A member's operation the roles refused, kept inert (see `Gate::Inert`).
                    tracing::debug!(%id, %author, seq, "stored auth operation not applied: {e}");
                }
            }
            Ok(slot.insert(auth))
        }
    }
}

/// Removes what the revocations `revoked` of `id` refuse: the document-log operations each
/// removed (or demoted) member wrote after the part its remover kept, and the snapshots
/// that would bring them back (see `replica/snapshot.rs`). The snapshot cache and the
/// loaded document are dropped (rebuilt from the log). Returns how many operations were
/// removed.
pub(crate) fn sweep_revoked(
    tx: &Tx<'_>,
    docs: &mut HashMap<DocumentId, LoadedDoc>,
    observers: &HashMap<DocumentId, std::sync::Arc<crate::replica::observe::DocHub>>,
    id: DocumentId,
    revoked: &[(AuthorId, Option<u32>)],
    me: &AuthorId,
) -> Result<usize, StoreError> {
    let mut removed = 0;
    for (member, keep_until) in revoked {
        removed += oplog::delete_after(tx, id, member, LogKind::Delta, *keep_until)?;
    }
    // Snapshots covering what a removal cut would bring the cut updates back on the next
    // rebuild. (A removed writer's other snapshots stay: they hold only what the removal
    // kept; they are no longer offered to peers, who would refuse them.)
    let resettled = crate::replica::snapshot::drop_past_cuts(tx, id, revoked, |_| false, me)?;
    if removed > 0 || resettled {
        documents::clear_snapshot(tx, id)?;
        crate::replica::load::drop_loaded(docs, observers, id);
        tracing::info!(%id, removed, "removed updates written after their author's removal");
    }
    Ok(removed)
}

/// Applies an admin's invite record (`bytes`, after the tag) of `document` to this node's
/// invites: every admin's node admits with the invite and honours its revocation.
pub(crate) fn record_invite(
    tx: &Tx<'_>,
    document: DocumentId,
    bytes: &[u8],
) -> Result<(), IngestError> {
    let record = InviteRecord::decode(bytes).map_err(IngestError::Unauthorized)?;
    match record.action {
        InviteAction::Issue {
            token_hash,
            expires_at_ms,
            max_uses,
        } => direct_table::save_invite(tx, &token_hash, document, expires_at_ms, max_uses)?,
        InviteAction::Spend { token_hash } => {
            direct_table::spend_invite(tx, &token_hash, document)?
        }
        InviteAction::Revoke {
            token_hash: Some(hash),
        } => direct_table::revoke_invite(tx, &hash, document)?,
        InviteAction::Revoke { token_hash: None } => {
            direct_table::revoke_invites(tx, document)?;
        }
    }
    Ok(())
}

impl Replica {
    /// True if `id` predates roles (no role checks; see schema migration 7).
    pub(crate) fn is_legacy(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
    ) -> Result<bool, StoreError> {
        if let Some(legacy) = st.legacy.get(&id) {
            return Ok(*legacy);
        }
        let legacy = documents::is_legacy(st.store.conn(), id)?;
        st.legacy.insert(id, legacy);
        Ok(legacy)
    }

    /// The gate of a received operation whose log position was checked: may its author do
    /// this? Operations that must wait are parked (quarantined) here.
    pub(crate) fn authorize(
        &self,
        st: &mut ReplicaState,
        op: &FsOperation,
    ) -> Result<Gate, IngestError> {
        let document = DocumentId::from(op.header.extensions.document);
        if self.is_legacy(st, document)? {
            return Ok(Gate::Pass);
        }
        let author = AuthorId::from(op.header.verifying_key);
        let seq = op.header.seq_num;
        let body = op.body.as_ref().map(|b| b.as_bytes());
        let (verdict, gate) = match op.header.extensions.kind {
            LogKind::Delta => (
                doc_auth(st, document)?.check_update(&author, seq),
                Gate::Pass,
            ),
            LogKind::Snapshot => (doc_auth(st, document)?.check_snapshot(&author), Gate::Pass),
            LogKind::Control => match body.and_then(|b| b.split_first()) {
                Some((&CONTROL_AUTH, bytes)) => {
                    // Applied to the cached roles here, before the caller's transaction:
                    // if storing it fails, the caller drops the cache (it reloads).
                    let wire = AuthWire::decode(bytes).map_err(IngestError::Unauthorized)?;
                    let verdict = match doc_auth(st, document)?.apply(op.hash, &author, seq, &wire)
                    {
                        Ok(()) => Verdict::Allowed,
                        Err(AuthError::MissingDependencies(_)) => Verdict::Wait,
                        Err(e) => Verdict::Refused(e),
                    };
                    (verdict, Gate::Auth(wire))
                }
                Some((&CONTROL_GROUP_MESSAGE, bytes)) => {
                    let (_, kind) = control_kind(bytes).map_err(IngestError::InvalidControl)?;
                    let change = match kind {
                        ControlKind::Create => GroupChange::Create,
                        ControlKind::Add(added) => GroupChange::Add(AuthorId::from(added)),
                        ControlKind::Remove(_) => GroupChange::Remove,
                        ControlKind::Update => GroupChange::Update,
                    };
                    (
                        doc_auth(st, document)?.check_group_change(&author, change),
                        Gate::Pass,
                    )
                }
                Some((&CONTROL_INVITE, _)) => (
                    doc_auth(st, document)?.check_invite_record(&author),
                    Gate::Pass,
                ),
                Some((&CONTROL_KEY_BUNDLE, _)) => (
                    doc_auth(st, document)?.check_announcement(&author),
                    Gate::Pass,
                ),
                // Malformed control bodies are refused by the key ring.
                _ => (Verdict::Allowed, Gate::Pass),
            },
        };
        let kind = op.header.extensions.kind;
        match verdict {
            Verdict::Allowed => Ok(gate),
            Verdict::Refused(e)
                if kind == LogKind::Control && doc_auth(st, document)?.is_known(&author) =>
            {
                tracing::debug!(%document, %author, seq, "control operation kept inert: {e}");
                Ok(Gate::Inert)
            }
            Verdict::Refused(e) => Err(IngestError::Unauthorized(e)),
            Verdict::Wait => {
                self.quarantine(st, op)?;
                Err(IngestError::AwaitingAuthorization { author })
            }
        }
    }

    /// Keeps `op` aside until the roles change (bounded per author, expiring).
    pub(crate) fn quarantine(
        &self,
        st: &mut ReplicaState,
        op: &FsOperation,
    ) -> Result<(), StoreError> {
        let tx = st.store.single_statement()?;
        parked::park(&tx, op, self.config.park_limits())?;
        tx.commit().map_err(StoreError::from)
    }

    /// True if `document` predates roles (see [`Replica::is_legacy`]).
    pub(crate) fn legacy(&self, document: DocumentId) -> Result<bool, StoreError> {
        let mut guard = self.lock();
        self.is_legacy(&mut guard, document)
    }

    /// May `peer` sync `document` with this node (catch-up, gossip)? Any role may (members
    /// and relays). Legacy documents have no roles; a document whose genesis has not
    /// arrived yet (a joiner catching up) has nothing to protect yet, so anyone may.
    pub(crate) fn may_sync(&self, document: DocumentId, peer: &AuthorId) -> bool {
        let mut guard = self.lock();
        let st = &mut *guard;
        match self.is_legacy(st, document) {
            Ok(true) => return true,
            Ok(false) => {}
            Err(_) => return false,
        }
        doc_auth(st, document).is_ok_and(|auth| !auth.has_genesis() || auth.may_sync(peer))
    }

    /// Refuses a local call unless this device's role in `id` is at least `needed` (no check
    /// for legacy documents).
    pub(crate) fn require_role(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
        needed: Role,
    ) -> Result<(), DocumentError> {
        if self.is_legacy(st, id)? {
            return Ok(());
        }
        let me = self.author();
        let role = doc_auth(st, id)?.role_of(&me);
        if role.is_some_and(|r| r >= needed) {
            Ok(())
        } else {
            Err(DocumentError::NotAllowed(AuthError::NotAllowed {
                author: me,
                needed,
            }))
        }
    }
}
