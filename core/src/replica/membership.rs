//! Document membership and end-to-end encryption of operation bodies.
//!
//! Every document is an encryption group of devices ([`crate::crypto::DocumentGroup`], the
//! p2panda-encryption data scheme), with the document id as group id.
//!
//! - **Write path**: a local edit's Loro update is encrypted with the group's latest secret
//!   and sealed as a [`BodyScheme::Group`] body: the ciphertext travels in the operation
//!   **body**, never in header extensions (no 496-byte cap, unlike p2panda-spaces 0.7.1).
//! - **Control log**: each author's [`LogKind::Control`] log of a document carries its group
//!   control messages (create, add, remove, update) and key bundle announcements, as signed
//!   operations that sync like any other. Body: one tag byte ([`CONTROL_GROUP_MESSAGE`] or
//!   [`CONTROL_KEY_BUNDLE`]) followed by the message bytes.
//! - **Read path**: control operations are fed to the group in log order per author (the
//!   op log guarantees it); document operations are decrypted. An operation whose secret is
//!   not known yet is stored with `applied = 0` and retried after every processed control
//!   operation of its document, and whenever the document is loaded. Non-members store
//!   operations but read nothing.
//! - **History sharing**: a member added later receives the group's whole secret bundle, so
//!   it reads the document's entire history (the data scheme's behaviour; a CRDT replica needs
//!   the full history to be useful). Removing a member rotates the secret: the removed device
//!   reads nothing written after its removal (post-compromise security). There is no forward
//!   secrecy for document data: old secrets are kept so the log stays replayable.
//! - **Plain documents**: documents that existed before encryption (schema version 2 or
//!   older) and documents created with [`crate::NodeConfig::encrypt`] off are *plain*: their
//!   updates are written unencrypted, and plain bodies are accepted for them. For every other
//!   document a plain body from the network is refused with
//!   [`IngestError::PlainBodyRejected`]. A node with `encrypt` off accepts plain bodies for
//!   every document (a test and benchmark mode).
//! - **Joining**: an invite carries the inviter's key bundle and a token; the joiner's node
//!   sends a join request over a direct ratchet session ([`crate::direct`]) and the inviter's
//!   node adds it to the group ([`Replica::admit`]) — no manual key bundle exchange.
//! - **Not covered yet**: write permissions (any device that holds a group secret, including a
//!   removed member writing with a secret from before its removal, can author readable
//!   updates; roles via p2panda-auth would close that).

use rusqlite::Connection;

use crate::auth::genesis;
use crate::auth::op::{Action, AuthWire, AUTH_VERSION};
use crate::auth::state::DocAuth;
use crate::auth::Role;
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::crypto::{CryptoError, DeviceKeys, DocumentGroup, GroupId, KeyBundle};
use crate::document::DocumentError;
use crate::replica::authz::doc_auth;
use crate::replica::keyring::{control_body, readable_unapplied};
use crate::replica::{IngestError, Replica, ReplicaError, ReplicaState};
use crate::store::{documents, keys, oplog, outbox, parked, StoreError};
use crate::wire::body::{
    self, BodyScheme, CONTROL_AUTH, CONTROL_GROUP_MESSAGE, CONTROL_KEY_BUNDLE,
};
use crate::wire::operation::{build_operation, FsOperation};

impl Replica {
    /// Whether plain (unencrypted) bodies are written and accepted for this document.
    pub(crate) fn is_plain(&self, conn: &Connection, id: DocumentId) -> Result<bool, StoreError> {
        if !self.config.encrypt {
            return Ok(true);
        }
        // The flag is fixed when the document's row is created (plain documents predate
        // encryption; a missing row reads as encrypted, the default of a new row), so it is
        // read once: the query ran on every write and every received operation.
        let mut cache = self.plain_docs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(plain) = cache.get(&id) {
            return Ok(*plain);
        }
        let plain = documents::is_plain(conn, id)?;
        cache.insert(id, plain);
        Ok(plain)
    }

    /// Seals a local Loro update as an operation body: group-encrypted unless the document is
    /// plain.
    pub(crate) fn seal_update(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
        update: &[u8],
    ) -> Result<Vec<u8>, DocumentError> {
        let conn = st.store.conn();
        if self.is_plain(conn, id)? {
            return Ok(body::seal(BodyScheme::Plain, update));
        }
        let group = st.keys.member_group(conn, id)?;
        let ciphertext = group.encrypt(update)?;
        Ok(body::seal(BodyScheme::Group, &ciphertext))
    }

    /// Creates a new local document: its id derives from this device's key and a fresh
    /// nonce, its genesis (the auth "create", this device the first admin) is the first
    /// control operation and, when encrypting, its group (just this device) the second.
    /// Returns the id and the operations to publish.
    pub(crate) fn init_document(&self) -> Result<(DocumentId, Vec<FsOperation>), DocumentError> {
        let nonce: [u8; 32] = rand::random();
        let me = self.author();
        let id = genesis::document_id(&me, &nonce);
        let mut guard = self.lock();
        let st = &mut *guard;
        {
            let tx = st.store.transaction()?;
            documents::ensure(&tx, id)?;
            if !self.config.encrypt {
                documents::set_plain(&tx, id, true)?;
            }
            tx.commit().map_err(StoreError::from)?;
        }
        let wire = AuthWire {
            v: AUTH_VERSION,
            deps: Vec::new(),
            action: Action::Create { nonce },
        };
        let mut ops = vec![self.append_auth(st, id, &wire)?];
        if self.config.encrypt {
            let (group, message) =
                DocumentGroup::create(st.keys.device_keys(), GroupId::from(id.as_hash()), &[])?;
            st.keys.insert_group(id, group);
            let body = control_body(CONTROL_GROUP_MESSAGE, message.as_bytes());
            let op = self
                .append_own(st, id, LogKind::Control, body)
                .inspect_err(|_| {
                    st.keys.forget(id);
                })?;
            ops.push(op);
        }
        Ok((id, ops))
    }

    /// Signs an auth operation of this device, applies it to the document's roles and
    /// stores it, in one transaction; nothing is written if the roles refuse it (a refused
    /// operation in our own log would block every later one at the other replicas).
    pub(crate) fn append_auth(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
        wire: &AuthWire,
    ) -> Result<FsOperation, DocumentError> {
        let me = self.author();
        doc_auth(st, id)?;
        let tx = st.store.transaction()?;
        documents::ensure(&tx, id)?;
        let prev = oplog::latest(&tx, &me, id, LogKind::Control)?;
        let body = control_body(CONTROL_AUTH, &wire.encode());
        let op = build_operation(
            self.identity.signing_key(),
            id,
            LogKind::Control,
            prev,
            body,
        );
        let auth = st
            .auth
            .get_mut(&id)
            .ok_or_else(|| StoreError::Corrupt("roles vanished".into()))?;
        auth.apply(op.hash, &me, op.header.seq_num, wire)?;
        let stored = oplog::insert(&tx, id, &op, &op.header.encode(), true)
            .and_then(|_| outbox::push(&tx, &op))
            .and_then(|()| tx.commit().map_err(StoreError::from));
        if let Err(e) = stored {
            st.auth.remove(&id);
            return Err(e.into());
        }
        Ok(op)
    }

    /// Writes an auth operation built by `action` from the document's current roles, as
    /// this device (which must be an admin), and publishes it.
    fn change_roles(
        &self,
        id: DocumentId,
        action: impl FnOnce(&mut ReplicaState, &DocAuth) -> Result<Option<Action>, DocumentError>,
    ) -> Result<(), DocumentError> {
        let op = {
            let mut guard = self.lock();
            let st = &mut *guard;
            self.ensure_live(st, id)?;
            if self.is_legacy(st, id)? {
                return Err(DocumentError::InvalidArgument(
                    "document predates roles (legacy): it has no roles to change".into(),
                ));
            }
            self.require_role(st, id, Role::Admin)?;
            doc_auth(st, id)?;
            let auth = st
                .auth
                .remove(&id)
                .ok_or_else(|| StoreError::Corrupt("roles vanished".into()))?;
            let built = action(st, &auth);
            let deps = auth.heads();
            st.auth.insert(id, auth);
            let Some(action) = built? else {
                return Ok(());
            };
            let wire = AuthWire {
                v: AUTH_VERSION,
                deps,
                action,
            };
            self.append_auth(st, id, &wire)?
        };
        self.publish_local(id, op);
        Ok(())
    }

    /// Applies a group change made by this device and publishes its control message.
    fn change_group(
        &self,
        id: DocumentId,
        needed: Role,
        change: impl FnOnce(&mut DocumentGroup, &DeviceKeys) -> Result<Vec<u8>, CryptoError>,
    ) -> Result<(), DocumentError> {
        let op = {
            let mut guard = self.lock();
            let st = &mut *guard;
            self.ensure_live(st, id)?;
            if self.is_plain(st.store.conn(), id)? {
                return Err(DocumentError::InvalidArgument(
                    "document is not encrypted (plain document)".into(),
                ));
            }
            self.require_role(st, id, needed)?;
            let (group, keys) = st.keys.member_group_with_keys(st.store.conn(), id)?;
            let message = change(group, keys)?;
            let body = control_body(CONTROL_GROUP_MESSAGE, &message);
            self.append_own(st, id, LogKind::Control, body)
                .inspect_err(|_| {
                    st.keys.forget(id);
                })?
        };
        self.publish_local(id, op);
        Ok(())
    }

    /// Seals an ephemeral payload (presence, cursors) for `id`'s members: group-encrypted
    /// like an update unless the document is plain. Needs a reading role.
    pub(crate) fn seal_ephemeral(
        &self,
        id: DocumentId,
        payload: &[u8],
    ) -> Result<Vec<u8>, DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        self.ensure_live(st, id)?;
        self.require_role(st, id, Role::Reader)?;
        self.seal_update(st, id, payload)
    }

    /// Opens an ephemeral payload received for `id`: `None` if this device cannot read it
    /// (not a member, a relay, an unknown secret) or it is a plain payload for an encrypted
    /// document.
    pub(crate) fn open_ephemeral(&self, id: DocumentId, sealed: &[u8]) -> Option<Vec<u8>> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let plain = self.is_plain(st.store.conn(), id).ok()?;
        st.keys
            .open_delta(st.store.conn(), id, sealed, plain)
            .ok()
            .flatten()
    }

    /// True if this device holds the current secret of `id`'s group.
    pub(crate) fn is_group_member(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
    ) -> Result<bool, StoreError> {
        Ok(st
            .keys
            .group(st.store.conn(), id)?
            .is_some_and(|g| g.is_member()))
    }

    /// Adds the owner of `bundle` to the group of `id` unless it already is a member.
    /// Returns true if it was added.
    pub(crate) fn admit(&self, id: DocumentId, bundle: &KeyBundle) -> Result<bool, DocumentError> {
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let joined = if self.is_plain(st.store.conn(), id)? {
                doc_auth(st, id)?
                    .role_of(&AuthorId::from(bundle.owner()))
                    .is_some()
            } else {
                let group = st.keys.member_group(st.store.conn(), id)?;
                group.members().contains(&bundle.owner())
            };
            if joined {
                return Ok(false);
            }
        }
        self.add_member_as(id, &bundle.to_bytes()?, Role::Writer)?;
        Ok(true)
    }

    /// Retries the unapplied operations of a document after its keys changed. Returns true
    /// if any content was applied.
    pub(crate) fn retry_unapplied(
        &self,
        st: &mut ReplicaState,
        id: DocumentId,
    ) -> Result<bool, IngestError> {
        let accept_plain = self.is_plain(st.store.conn(), id)?;
        let ready = readable_unapplied(st.store.conn(), &mut st.keys, id, accept_plain)?;
        if ready.is_empty() {
            return Ok(false);
        }
        let doc = self.loaded(st, id)?;
        // Loading may already have applied them (it retries too).
        let updates: Vec<Vec<u8>> = ready.iter().map(|(_, u)| u.clone()).collect();
        if let Err(e) = doc.loro.import_batch(&updates) {
            st.drop_loaded(id);
            return Err(IngestError::InvalidUpdate(e.to_string()));
        }
        let tx = st.store.transaction()?;
        for ((author, seq), _) in &ready {
            oplog::mark_applied(&tx, id, author, *seq)?;
        }
        if let Err(e) = tx.commit() {
            st.drop_loaded(id);
            return Err(StoreError::from(e).into());
        }
        Ok(true)
    }
    /// Rotates this device's pre-key when it nears expiry and republishes the new key
    /// bundle in every document where this device had announced one (see
    /// `Node::refresh_key_bundle`). Returns how many documents got the new bundle.
    pub(crate) fn refresh_key_bundle(&self) -> Result<usize, ReplicaError> {
        let docs = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let tx = st.store.transaction()?;
            if !st.keys.rotate_if_needed(&tx)? {
                return Ok(0);
            }
            tx.commit().map_err(StoreError::from)?;
            keys::announced_documents(st.store.conn(), &self.author())?
        };
        let mut republished = 0;
        for id in docs {
            match self.announce_key_bundle(id) {
                Ok(()) => republished += 1,
                Err(e) => tracing::warn!(%id, "republishing the key bundle failed: {e}"),
            }
        }
        Ok(republished)
    }

    /// This device's key bundle, encoded (see `Node::key_bundle`).
    pub(crate) fn key_bundle(&self) -> Result<Vec<u8>, CryptoError> {
        self.lock().keys.key_bundle()
    }

    /// Adds the owner of `bundle` to `id` with `role` (see `Document::add_member_as`): the
    /// auth operation giving it the role, then (for a reading role of an encrypted
    /// document) the group "add" that hands it the secrets. Either step is skipped if
    /// already done, so a call that failed half-way can be repeated.
    pub(crate) fn add_member_as(
        &self,
        id: DocumentId,
        bundle: &[u8],
        role: Role,
    ) -> Result<AuthorId, DocumentError> {
        let bundle = KeyBundle::from_bytes(bundle)?;
        let member = AuthorId::from(bundle.owner());
        self.grant(id, member, role)?;
        let encrypted = {
            let mut guard = self.lock();
            let st = &mut *guard;
            !self.is_plain(st.store.conn(), id)?
                && !st
                    .keys
                    .member_group(st.store.conn(), id)?
                    .members()
                    .contains(&bundle.owner())
        };
        if role.can_read() && encrypted {
            self.change_group(id, Role::Admin, |g, keys| {
                Ok(g.add(keys, &bundle)?.into_bytes())
            })?;
        }
        Ok(member)
    }

    /// Gives `member` `role` in the roles of `id` (an add, promotion or demotion; nothing if
    /// it holds it already). No-op for legacy documents.
    fn grant(&self, id: DocumentId, member: AuthorId, role: Role) -> Result<(), DocumentError> {
        if self.is_legacy(&mut self.lock(), id)? {
            return Ok(());
        }
        self.change_roles(id, |st, auth| {
            let member_bytes = *member.as_bytes();
            Ok(match auth.role_of(&member) {
                None => Some(Action::Add {
                    member: member_bytes,
                    role,
                }),
                Some(current) if current == role => None,
                Some(current) if current < role => Some(Action::Promote {
                    member: member_bytes,
                    role,
                }),
                Some(_) => Some(Action::Demote {
                    member: member_bytes,
                    role,
                    keep_until: kept_part(st, id, &member)?,
                }),
            })
        })
    }

    /// Adds `member` as a relay of `id`: it syncs the document's ciphertext and holds no
    /// secret (see `Document::add_relay`).
    pub(crate) fn add_relay(&self, id: DocumentId, member: AuthorId) -> Result<(), DocumentError> {
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            if doc_auth(st, id)?.role_of(&member).is_some() {
                return Err(DocumentError::InvalidArgument(format!(
                    "{member} already has a role: remove it first"
                )));
            }
        }
        self.grant(id, member, Role::Relay)
    }

    /// Changes the role of `member` of `id` (see `Document::set_role`).
    pub(crate) fn set_role(
        &self,
        id: DocumentId,
        member: AuthorId,
        role: Role,
    ) -> Result<(), DocumentError> {
        let current = {
            let mut guard = self.lock();
            let st = &mut *guard;
            doc_auth(st, id)?.role_of(&member)
        };
        match current {
            None => Err(DocumentError::InvalidArgument(format!(
                "{member} is not a member: add it first"
            ))),
            Some(c) if c.can_read() != role.can_read() => Err(DocumentError::InvalidArgument(
                "between relay and a reading role the secrets change hands: remove the member and add it again".into(),
            )),
            Some(_) => self.grant(id, member, role),
        }
    }

    /// The roles of `id` (empty for legacy documents).
    pub(crate) fn roles(&self, id: DocumentId) -> Result<Vec<(AuthorId, Role)>, DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        self.ensure_live(st, id)?;
        if self.is_legacy(st, id)? {
            return Ok(Vec::new());
        }
        Ok(doc_auth(st, id)?.roles())
    }

    /// Adds the owner of `bundle` to the group of `id` as a writer (see `Document::add_member`).
    pub(crate) fn add_member(
        &self,
        id: DocumentId,
        bundle: &[u8],
    ) -> Result<AuthorId, DocumentError> {
        self.add_member_as(id, bundle, Role::Writer)
    }

    /// Adds a device that announced its key bundle in the control log of `id`.
    pub(crate) fn add_announced_member(
        &self,
        id: DocumentId,
        member: AuthorId,
    ) -> Result<(), DocumentError> {
        let bytes = {
            let st = self.lock();
            match keys::key_bundle(st.store.conn(), &member)? {
                Some(bytes) => Some(bytes),
                // An outsider's announcement waits in quarantine until it has a role: the
                // newest one holds its current pre-key.
                None => parked::control_of(st.store.conn(), &member, id)?
                    .into_iter()
                    .filter_map(|(_, body)| body)
                    .find_map(|body| match body.split_first() {
                        Some((&CONTROL_KEY_BUNDLE, bundle)) => Some(bundle.to_vec()),
                        _ => None,
                    }),
            }
        };
        let bytes = bytes.ok_or_else(|| {
            DocumentError::InvalidArgument(format!("no key bundle announced by {member}"))
        })?;
        self.add_member(id, &bytes).map(|_| ())
    }

    /// Publishes this device's key bundle in the control log of `id`.
    pub(crate) fn announce_key_bundle(&self, id: DocumentId) -> Result<(), DocumentError> {
        let op = {
            let mut guard = self.lock();
            let st = &mut *guard;
            self.ensure_live(st, id)?;
            let bundle = st.keys.key_bundle()?;
            self.append_own(
                st,
                id,
                LogKind::Control,
                control_body(CONTROL_KEY_BUNDLE, &bundle),
            )?
        };
        self.publish_local(id, op);
        Ok(())
    }

    /// Removes `member` from the group of `id`, rotating the group secret.
    pub(crate) fn remove_member(
        &self,
        id: DocumentId,
        member: AuthorId,
    ) -> Result<(), DocumentError> {
        let (in_roles, in_group) = {
            let mut guard = self.lock();
            let st = &mut *guard;
            self.ensure_live(st, id)?;
            let in_roles = !self.is_legacy(st, id)? && doc_auth(st, id)?.role_of(&member).is_some();
            let in_group = !self.is_plain(st.store.conn(), id)?
                && st
                    .keys
                    .group(st.store.conn(), id)?
                    .is_some_and(|g| g.members().contains(&member.verifying_key()));
            (in_roles, in_group)
        };
        if !in_roles && !in_group {
            return Err(DocumentError::InvalidArgument(format!(
                "{member} is not a member"
            )));
        }
        if in_roles {
            self.change_roles(id, |st, _| {
                Ok(Some(Action::Remove {
                    member: *member.as_bytes(),
                    keep_until: kept_part(st, id, &member)?,
                }))
            })?;
        }
        if in_group {
            self.change_group(id, Role::Admin, |g, keys| {
                Ok(g.remove(keys, member.verifying_key())?.into_bytes())
            })?;
        }
        Ok(())
    }

    /// Rotates the group secret of `id` for the current members.
    pub(crate) fn rotate_key(&self, id: DocumentId) -> Result<(), DocumentError> {
        self.change_group(id, Role::Reader, |g, keys| Ok(g.update(keys)?.into_bytes()))
    }

    /// Current members of the group of `id`, as seen by this device.
    pub(crate) fn members(&self, id: DocumentId) -> Result<Vec<AuthorId>, DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        self.ensure_live(st, id)?;
        let members = st
            .keys
            .group(st.store.conn(), id)?
            .filter(|g| g.is_welcomed())
            .map(|g| g.members().into_iter().map(AuthorId::from).collect())
            .unwrap_or_default();
        Ok(members)
    }

    /// True if this device holds the current secret of `id`, or the document is plain.
    pub(crate) fn can_read(&self, id: DocumentId) -> Result<bool, DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        self.ensure_live(st, id)?;
        if self.is_plain(st.store.conn(), id)? {
            return Ok(true);
        }
        Ok(self.is_group_member(st, id)?)
    }
}

/// The part of `member`'s document log of `id` a removal keeps: what this node holds.
fn kept_part(
    st: &mut ReplicaState,
    id: DocumentId,
    member: &AuthorId,
) -> Result<Option<u32>, DocumentError> {
    Ok(oplog::latest(st.store.conn(), member, id, LogKind::Delta)?.map(|(seq, _)| seq))
}
