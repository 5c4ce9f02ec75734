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
//!   node adds it to the group ([`NodeInner::admit`]) — no manual key bundle exchange.
//! - **Not covered yet**: write permissions (any device that holds a group secret, including a
//!   removed member writing with a secret from before its removal, can author readable
//!   updates; roles via p2panda-auth would close that).

use std::collections::HashMap;

use rusqlite::Connection;

use crate::body::{self, BodyScheme};
use crate::crypto::{
    CryptoError, DeviceKeys, DocumentGroup, GroupEvent, GroupId, KeyBundle, DEFAULT_ROTATE_BEFORE,
};
use crate::document::Document;
use crate::error::{DocumentError, IngestError, Result, StoreError};
use crate::ids::{AuthorId, DocumentId};
use crate::node::{check_attribution, Node, NodeInner, NodeState};
use crate::operation::{build_operation, FsOperation, LogKind};
use crate::store::{documents, keys, oplog, outbox, Store};

/// Control body tag: a group control message ([`crate::crypto::GroupMessage`] bytes).
pub const CONTROL_GROUP_MESSAGE: u8 = 0;
/// Control body tag: a key bundle announcement ([`KeyBundle`] bytes of the author).
pub const CONTROL_KEY_BUNDLE: u8 = 1;

fn control_body(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    out
}

/// This device's key material and the (cached) group states of its documents.
pub(crate) struct CryptoState {
    keys: DeviceKeys,
    groups: HashMap<DocumentId, DocumentGroup>,
    /// The pre-key rotated since the bundle was last republished.
    republish: bool,
}

/// Loads a document's group into the cache (from the store) if it is not there yet.
fn cached<'a>(
    groups: &'a mut HashMap<DocumentId, DocumentGroup>,
    conn: &Connection,
    id: DocumentId,
) -> Result<Option<&'a mut DocumentGroup>, StoreError> {
    use std::collections::hash_map::Entry;
    match groups.entry(id) {
        Entry::Occupied(slot) => Ok(Some(slot.into_mut())),
        Entry::Vacant(slot) => {
            let Some(bytes) = keys::group_state(conn, id)? else {
                return Ok(None);
            };
            let group = DocumentGroup::from_bytes(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("group state of {id}: {e}")))?;
            Ok(Some(slot.insert(group)))
        }
    }
}

impl CryptoState {
    /// Loads this device's key material, creating it on first use and rotating the pre-key
    /// when it nears expiry. Stored key material that does not decode, or belongs to another
    /// identity than the node's, is a damaged database: [`StoreError::Corrupt`], like a
    /// group state that does not decode.
    pub(crate) fn load_or_create(store: &Store, me: &AuthorId) -> Result<Self> {
        let conn = store.conn();
        let (mut device, fresh) = match keys::device_keys(conn)? {
            Some(bytes) => (
                DeviceKeys::from_bytes(&bytes)
                    .map_err(|e| StoreError::Corrupt(format!("device key material: {e}")))?,
                false,
            ),
            None => (DeviceKeys::generate(me.verifying_key())?, true),
        };
        if device.id() != me.verifying_key() {
            return Err(StoreError::Corrupt(format!(
                "device key material belongs to {}, not to this node's identity {}",
                AuthorId::from(device.id()),
                me
            ))
            .into());
        }
        let rotated = device.rotate_if_needed(DEFAULT_ROTATE_BEFORE)?;
        if fresh || rotated {
            keys::save_device_keys(conn, &device.to_bytes()?)?;
        }
        Ok(CryptoState {
            keys: device,
            groups: HashMap::new(),
            republish: rotated && !fresh,
        })
    }

    /// Rotates the pre-key if it nears expiry (persisting it); true if it rotated.
    fn rotate_if_needed(&mut self, conn: &Connection) -> Result<bool> {
        if self.keys.rotate_if_needed(DEFAULT_ROTATE_BEFORE)? {
            keys::save_device_keys(conn, &self.keys.to_bytes()?)?;
            self.republish = true;
        }
        Ok(std::mem::take(&mut self.republish))
    }

    /// This device's key material.
    pub(crate) fn device_keys(&self) -> &DeviceKeys {
        &self.keys
    }

    /// Drops a cached group state (after a failed transaction: it reloads from the store).
    pub(crate) fn forget(&mut self, id: DocumentId) {
        self.groups.remove(&id);
    }

    /// Drops every cached group state (after a failed batch commit).
    pub(crate) fn forget_all(&mut self) {
        self.groups.clear();
    }

    fn group_or_new(
        &mut self,
        conn: &Connection,
        id: DocumentId,
    ) -> Result<&mut DocumentGroup, StoreError> {
        if cached(&mut self.groups, conn, id)?.is_none() {
            let fresh = DocumentGroup::new(&self.keys, GroupId::from(id.as_hash()));
            self.groups.insert(id, fresh);
        }
        cached(&mut self.groups, conn, id)?
            .ok_or_else(|| StoreError::Corrupt("group vanished".into()))
    }

    fn save_group(&self, conn: &Connection, id: DocumentId) -> Result<(), StoreError> {
        if let Some(group) = self.groups.get(&id) {
            let bytes = group
                .to_bytes()
                .map_err(|e| StoreError::Corrupt(format!("group state encoding: {e}")))?;
            keys::save_group_state(conn, id, &bytes)?;
        }
        Ok(())
    }

    /// Opens a document-update body: `Ok(Some(update))` if readable, `Ok(None)` if its
    /// secret is not known (yet), or a typed rejection.
    pub(crate) fn open_delta(
        &mut self,
        conn: &Connection,
        id: DocumentId,
        body: &[u8],
        accept_plain: bool,
    ) -> Result<Option<Vec<u8>>, IngestError> {
        match body::open(body)? {
            (BodyScheme::Plain, payload) if accept_plain => Ok(Some(payload.to_vec())),
            (BodyScheme::Plain, _) => Err(IngestError::PlainBodyRejected),
            (BodyScheme::Group, ciphertext) => {
                let group = self.group_or_new(conn, id)?;
                match group.decrypt(ciphertext) {
                    Ok(plaintext) => Ok(Some(plaintext)),
                    Err(CryptoError::UnknownSecret(_)) => Ok(None),
                    Err(CryptoError::WrongGroup) => Err(IngestError::WrongGroup),
                    Err(CryptoError::AuthenticationFailed) => Err(IngestError::DecryptionFailed),
                    Err(e) => Err(IngestError::MalformedCiphertext(e.to_string())),
                }
            }
        }
    }

    /// Processes a control operation inside the caller's transaction `tx`, persisting the
    /// group state (or key bundle) there. The group state is unchanged on error.
    pub(crate) fn receive_control(
        &mut self,
        tx: &Connection,
        id: DocumentId,
        author: &AuthorId,
        seq: u32,
        body: Option<&[u8]>,
    ) -> Result<(), IngestError> {
        let body = body.ok_or(IngestError::MissingBody)?;
        match body.split_first() {
            Some((&CONTROL_GROUP_MESSAGE, message)) => {
                self.group_or_new(tx, id)?;
                let Some(group) = self.groups.get_mut(&id) else {
                    return Err(StoreError::Corrupt("group vanished".into()).into());
                };
                let events = group
                    .receive(&self.keys, author.verifying_key(), message)
                    .map_err(|e| match e {
                        CryptoError::WrongGroup => IngestError::WrongGroup,
                        other => IngestError::InvalidControl(other),
                    })?;
                if let [GroupEvent::Duplicate { .. }] = events.events.as_slice() {
                    return Err(IngestError::ReplayedControl {
                        author: *author,
                        seq,
                    });
                }
                self.save_group(tx, id)?;
                Ok(())
            }
            Some((&CONTROL_KEY_BUNDLE, bundle)) => {
                KeyBundle::from_bytes_for(author.verifying_key(), bundle)
                    .map_err(IngestError::InvalidControl)?;
                keys::save_key_bundle(tx, author, bundle)?;
                Ok(())
            }
            Some((tag, _)) => Err(IngestError::InvalidControl(CryptoError::Malformed(
                format!("unknown control body tag {tag}"),
            ))),
            None => Err(IngestError::InvalidControl(CryptoError::Malformed(
                "empty control body".into(),
            ))),
        }
    }
}

/// An unapplied delta operation, by its log position (author, seq), and its readable update.
pub(crate) type ReadableUpdate = ((AuthorId, u32), Vec<u8>);

/// Unapplied document operations that can be read now, attribution checked.
/// Unreadable ones (secret still unknown, or refused) stay unapplied.
pub(crate) fn readable_unapplied(
    conn: &Connection,
    crypto: &mut CryptoState,
    id: DocumentId,
    accept_plain: bool,
) -> Result<Vec<ReadableUpdate>, StoreError> {
    let mut out = Vec::new();
    for op in oplog::unapplied_delta_ops(conn, id)? {
        let Some(body) = op.body.as_deref() else {
            continue;
        };
        match crypto.open_delta(conn, id, body, accept_plain) {
            Ok(Some(update)) => match check_attribution(&update, &op.author) {
                Ok(()) => out.push(((op.author, op.seq), update)),
                Err(e) => tracing::warn!(%id, author = %op.author, "stored op refused: {e}"),
            },
            Ok(None) => {}
            Err(IngestError::Store(e)) => return Err(e),
            Err(e) => tracing::warn!(%id, author = %op.author, "stored op unreadable: {e}"),
        }
    }
    Ok(out)
}

impl NodeInner {
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
        st: &mut NodeState,
        id: DocumentId,
        update: &[u8],
    ) -> Result<Vec<u8>, DocumentError> {
        let conn = st.store.conn();
        if self.is_plain(conn, id)? {
            return Ok(body::seal(BodyScheme::Plain, update));
        }
        let group = cached(&mut st.crypto.groups, conn, id)?
            .filter(|g| g.is_member())
            .ok_or(DocumentError::NotAMember(id))?;
        let ciphertext = group.encrypt(update)?;
        Ok(body::seal(BodyScheme::Group, &ciphertext))
    }

    /// Registers a new local document and, when encrypting, creates its group (just this
    /// device) and publishes the "create" control operation, all in one transaction.
    pub(crate) fn init_document(
        &self,
        st: &mut NodeState,
        id: DocumentId,
    ) -> Result<Option<FsOperation>> {
        if !self.config.encrypt {
            let tx = st.store.transaction()?;
            documents::ensure(&tx, id)?;
            documents::set_plain(&tx, id, true)?;
            tx.commit().map_err(StoreError::from)?;
            return Ok(None);
        }
        let (group, message) =
            DocumentGroup::create(&st.crypto.keys, GroupId::from(id.as_hash()), &[])?;
        st.crypto.groups.insert(id, group);
        let body = control_body(CONTROL_GROUP_MESSAGE, message.as_bytes());
        let op = self.persist_control(st, id, body).inspect_err(|_| {
            st.crypto.forget(id);
        })?;
        Ok(Some(op))
    }

    /// Signs the next control operation of our log and stores it with its outbox entry and
    /// the current group state, in one transaction.
    fn persist_control(
        &self,
        st: &mut NodeState,
        id: DocumentId,
        body: Vec<u8>,
    ) -> Result<FsOperation, StoreError> {
        let me = self.identity.author();
        let tx = st.store.transaction()?;
        documents::ensure(&tx, id)?;
        let prev = oplog::latest(&tx, &me, id, LogKind::Control)?;
        let op = build_operation(
            self.identity.signing_key(),
            id,
            LogKind::Control,
            prev,
            body,
        );
        oplog::insert(&tx, id, &op, &op.header.encode(), true)?;
        outbox::push(&tx, &op)?;
        st.crypto.save_group(&tx, id)?;
        tx.commit()?;
        Ok(op)
    }

    /// Applies a group change made by this device and publishes its control message.
    fn change_group(
        &self,
        id: DocumentId,
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
            let group = cached(&mut st.crypto.groups, st.store.conn(), id)?
                .filter(|g| g.is_member())
                .ok_or(DocumentError::NotAMember(id))?;
            let message = change(group, &st.crypto.keys)?;
            let body = control_body(CONTROL_GROUP_MESSAGE, &message);
            self.persist_control(st, id, body).inspect_err(|_| {
                st.crypto.forget(id);
            })?
        };
        self.publish_local(id, op);
        Ok(())
    }

    /// True if this device holds the current secret of `id`'s group.
    pub(crate) fn is_group_member(
        &self,
        st: &mut NodeState,
        id: DocumentId,
    ) -> Result<bool, StoreError> {
        Ok(cached(&mut st.crypto.groups, st.store.conn(), id)?.is_some_and(|g| g.is_member()))
    }

    /// Adds the owner of `bundle` to the group of `id` unless it already is a member.
    /// Returns true if it was added.
    pub(crate) fn admit(&self, id: DocumentId, bundle: &KeyBundle) -> Result<bool, DocumentError> {
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            let group = cached(&mut st.crypto.groups, st.store.conn(), id)?
                .filter(|g| g.is_member())
                .ok_or(DocumentError::NotAMember(id))?;
            if group.members().contains(&bundle.owner()) {
                return Ok(false);
            }
        }
        self.change_group(id, |g, keys| Ok(g.add(keys, bundle)?.into_bytes()))?;
        Ok(true)
    }

    /// Hands a local operation to the network layer.
    pub(crate) fn publish_local(&self, id: DocumentId, op: FsOperation) {
        let _ = self.local_ops.send((id, op));
    }

    /// Retries the unapplied operations of a document after its keys changed. Returns true
    /// if any content was applied.
    pub(crate) fn retry_unapplied(
        &self,
        st: &mut NodeState,
        id: DocumentId,
    ) -> Result<bool, IngestError> {
        let accept_plain = self.is_plain(st.store.conn(), id)?;
        let ready = readable_unapplied(st.store.conn(), &mut st.crypto, id, accept_plain)?;
        if ready.is_empty() {
            return Ok(false);
        }
        let peer = self.identity.loro_peer_id();
        let doc = st.loaded(id, peer, accept_plain).map_err(|e| match e {
            DocumentError::Store(s) => IngestError::Store(s),
            other => IngestError::InvalidUpdate(other.to_string()),
        })?;
        // Loading may already have applied them (it retries too).
        let updates: Vec<Vec<u8>> = ready.iter().map(|(_, u)| u.clone()).collect();
        if let Err(e) = doc.loro.import_batch(&updates) {
            st.docs.remove(&id);
            return Err(IngestError::InvalidUpdate(e.to_string()));
        }
        let tx = st.store.transaction()?;
        for ((author, seq), _) in &ready {
            oplog::mark_applied(&tx, id, author, *seq)?;
        }
        if let Err(e) = tx.commit() {
            st.docs.remove(&id);
            return Err(StoreError::from(e).into());
        }
        Ok(true)
    }
}

impl Node {
    /// Rotates this device's pre-key when it nears expiry (30 days before its 90-day
    /// lifetime ends) and then republishes the new key bundle in every document where this
    /// device had announced one. Runs when the node opens and when the network starts; a
    /// long-running app may call it, e.g. daily. Returns how many documents got the new
    /// bundle. Invites always carry the current bundle.
    pub fn refresh_key_bundle(&self) -> Result<usize> {
        let docs = {
            let mut guard = self.inner.lock();
            let st = &mut *guard;
            if !st.crypto.rotate_if_needed(st.store.conn())? {
                return Ok(0);
            }
            keys::announced_documents(st.store.conn(), &self.author())?
        };
        let mut republished = 0;
        for id in docs {
            match self.document(id).and_then(|d| Ok(d.announce_key_bundle()?)) {
                Ok(()) => republished += 1,
                Err(e) => tracing::warn!(%id, "republishing the key bundle failed: {e}"),
            }
        }
        Ok(republished)
    }

    /// This device's key bundle (public pre-keys, signed): give it to a member of a
    /// document so it can add this device with [`Document::add_member`] (e.g. inside an
    /// invite). Contains no secret.
    pub fn key_bundle(&self) -> Result<Vec<u8>> {
        let st = self.inner.lock();
        Ok(st.crypto.keys.key_bundle()?.to_bytes()?)
    }
}

impl Document {
    /// Adds the device whose key bundle ([`Node::key_bundle`]) is `bundle` to this document's
    /// group, publishing a control operation. The new member can read the **whole history**
    /// of the document: the data scheme hands over every group secret on welcome, because a
    /// CRDT replica needs all past updates.
    pub fn add_member(&self, bundle: &[u8]) -> Result<AuthorId, DocumentError> {
        let bundle = KeyBundle::from_bytes(bundle)?;
        let member = AuthorId::from(bundle.owner());
        self.node
            .change_group(self.id, |g, keys| Ok(g.add(keys, &bundle)?.into_bytes()))?;
        Ok(member)
    }

    /// Adds a device that announced its key bundle in this document's control log
    /// ([`Document::announce_key_bundle`]).
    pub fn add_announced_member(&self, member: AuthorId) -> Result<(), DocumentError> {
        let bytes = {
            let st = self.node.lock();
            keys::key_bundle(st.store.conn(), &member)?
        };
        let bytes = bytes.ok_or_else(|| {
            DocumentError::InvalidArgument(format!("no key bundle announced by {member}"))
        })?;
        self.add_member(&bytes).map(|_| ())
    }

    /// Publishes this device's key bundle in the document's control log, so that a member
    /// can add it with [`Document::add_announced_member`] once the operation syncs.
    pub fn announce_key_bundle(&self) -> Result<(), DocumentError> {
        let node = &self.node;
        let op = {
            let mut guard = node.lock();
            let st = &mut *guard;
            node.ensure_live(st, self.id)?;
            let bundle = st.crypto.keys.key_bundle()?.to_bytes()?;
            node.persist_control(st, self.id, control_body(CONTROL_KEY_BUNDLE, &bundle))?
        };
        node.publish_local(self.id, op);
        Ok(())
    }

    /// Removes `member` from the group and rotates the group secret: it reads nothing
    /// written after this (post-compromise security). Publishes a control operation.
    pub fn remove_member(&self, member: AuthorId) -> Result<(), DocumentError> {
        self.node.change_group(self.id, |g, keys| {
            Ok(g.remove(keys, member.verifying_key())?.into_bytes())
        })
    }

    /// Rotates the group secret for the current members (e.g. periodically, or after a
    /// removal concurrent with another membership change).
    pub fn rotate_key(&self) -> Result<(), DocumentError> {
        self.node
            .change_group(self.id, |g, keys| Ok(g.update(keys)?.into_bytes()))
    }

    /// Current members of the document's group, as seen by this device (empty for plain
    /// documents and before this device is welcomed).
    pub fn members(&self) -> Result<Vec<AuthorId>, DocumentError> {
        let mut guard = self.node.lock();
        let st = &mut *guard;
        self.node.ensure_live(st, self.id)?;
        let members = cached(&mut st.crypto.groups, st.store.conn(), self.id)?
            .filter(|g| g.is_welcomed())
            .map(|g| g.members().into_iter().map(AuthorId::from).collect())
            .unwrap_or_default();
        Ok(members)
    }

    /// True if this device currently holds the document's group secret (can read new
    /// updates and write), or the document is plain.
    pub fn can_read(&self) -> Result<bool, DocumentError> {
        let mut guard = self.node.lock();
        let st = &mut *guard;
        self.node.ensure_live(st, self.id)?;
        if self.node.is_plain(st.store.conn(), self.id)? {
            return Ok(true);
        }
        Ok(cached(&mut st.crypto.groups, st.store.conn(), self.id)?.is_some_and(|g| g.is_member()))
    }
}
