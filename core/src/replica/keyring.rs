//! The key ring: this device's key material and the (cached) group states of its documents,
//! and how operation bodies are opened with them.
//!
//! Control body format: one tag byte ([`CONTROL_GROUP_MESSAGE`] or [`CONTROL_KEY_BUNDLE`])
//! followed by the message bytes.

use std::collections::HashMap;

use rusqlite::Connection;

use crate::base::ids::{AuthorId, DocumentId};
use crate::crypto::{
    CryptoError, DeviceKeys, DocumentGroup, GroupEvent, GroupId, KeyBundle, DEFAULT_ROTATE_BEFORE,
};
use crate::document::{attribution, DocumentError};
use crate::replica::{IngestError, ReplicaError};
use crate::store::tx::Tx;
use crate::store::{keys, oplog, Store, StoreError};
use crate::wire::body::{self, BodyScheme, CONTROL_GROUP_MESSAGE, CONTROL_KEY_BUNDLE};

pub(crate) fn control_body(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    out.push(tag);
    out.extend_from_slice(bytes);
    out
}

/// This device's key material and the (cached) group states of its documents.
pub(crate) struct KeyRing {
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

impl KeyRing {
    /// Loads this device's key material, creating it on first use and rotating the pre-key
    /// when it nears expiry. Stored key material that does not decode, or belongs to another
    /// identity than the node's, is a damaged database: [`StoreError::Corrupt`], like a
    /// group state that does not decode.
    pub(crate) fn load_or_create(store: &Store, me: &AuthorId) -> Result<Self, ReplicaError> {
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
            let tx = Tx::begin(conn).map_err(StoreError::from)?;
            keys::save_device_keys(&tx, &device.to_bytes()?)?;
            tx.commit().map_err(StoreError::from)?;
        }
        Ok(KeyRing {
            keys: device,
            groups: HashMap::new(),
            republish: rotated && !fresh,
        })
    }

    /// Rotates the pre-key if it nears expiry (persisting it); true if it rotated.
    pub(crate) fn rotate_if_needed(&mut self, conn: &Tx<'_>) -> Result<bool, ReplicaError> {
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

    /// This device's key bundle, encoded: public pre-keys, signed.
    pub(crate) fn key_bundle(&self) -> Result<Vec<u8>, CryptoError> {
        self.keys.key_bundle()?.to_bytes()
    }

    /// The group of `id`, loaded from the store if needed; `None` if there is none.
    pub(crate) fn group(
        &mut self,
        conn: &Connection,
        id: DocumentId,
    ) -> Result<Option<&mut DocumentGroup>, StoreError> {
        cached(&mut self.groups, conn, id)
    }

    /// The group of `id` if this device is a member (holds its current secret): the one
    /// lookup behind every write and membership change.
    pub(crate) fn member_group(
        &mut self,
        conn: &Connection,
        id: DocumentId,
    ) -> Result<&mut DocumentGroup, DocumentError> {
        self.member_group_with_keys(conn, id)
            .map(|(group, _)| group)
    }

    /// [`KeyRing::member_group`] together with this device's keys, to change the group.
    pub(crate) fn member_group_with_keys(
        &mut self,
        conn: &Connection,
        id: DocumentId,
    ) -> Result<(&mut DocumentGroup, &DeviceKeys), DocumentError> {
        let group = cached(&mut self.groups, conn, id)?
            .filter(|g| g.is_member())
            .ok_or(DocumentError::NotAMember(id))?;
        Ok((group, &self.keys))
    }

    /// Caches a group this device just created.
    pub(crate) fn insert_group(&mut self, id: DocumentId, group: DocumentGroup) {
        self.groups.insert(id, group);
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

    pub(crate) fn save_group(&self, conn: &Tx<'_>, id: DocumentId) -> Result<(), StoreError> {
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
        tx: &Tx<'_>,
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
    crypto: &mut KeyRing,
    id: DocumentId,
    accept_plain: bool,
) -> Result<Vec<ReadableUpdate>, StoreError> {
    let mut out = Vec::new();
    for op in oplog::unapplied_delta_ops(conn, id)? {
        let Some(body) = op.body.as_deref() else {
            continue;
        };
        match crypto.open_delta(conn, id, body, accept_plain) {
            Ok(Some(update)) => match attribution::check(&update, &op.author) {
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
