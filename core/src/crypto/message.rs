//! Wire format of control messages (group operations) published as operation bodies.

use std::collections::BTreeMap;

use p2panda_core::{Hash, VerifyingKey};
use p2panda_encryption::data_scheme::{ControlMessage, DirectMessage};
use p2panda_encryption::traits::{GroupMessage as GroupMessageTrait, GroupMessageContent};
use serde::{Deserialize, Serialize};

use super::codec::{check_version, from_cbor, to_cbor};
use super::error::CryptoError;
use super::group_id::GroupId;
use super::key_bundle::KeyBundleWire;
use super::membership::Membership;

const CONTROL_VERSION: u8 = 1;

/// Direct (per-recipient, 2SM-encrypted) message of the data scheme with our types.
pub(crate) type Direct = DirectMessage<VerifyingKey, Hash, Membership>;

/// A group control message ready to publish: opaque, self-describing CBOR bytes.
///
/// Publish [`GroupMessage::as_bytes`] as the body of a signed operation authored by this
/// device; other devices pass the body to [`DocumentGroup::receive`](super::DocumentGroup::receive).
/// One message carries the public control message (create / add / remove / update: membership
/// is **not** confidential), the 2SM-encrypted direct messages for every recipient, key bundles
/// other members need, the group id, the author's per-group sequence number and its causal
/// dependencies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMessage {
    id: Hash,
    bytes: Vec<u8>,
}

impl GroupMessage {
    /// Content hash of the bytes (the message id used for ordering).
    pub fn id(&self) -> Hash {
        self.id
    }

    /// The bytes to publish.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the message, returning the bytes to publish.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// CBOR layout of a control message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ControlWire {
    pub(crate) v: u8,
    pub(crate) group: GroupId,
    pub(crate) sender: VerifyingKey,
    /// Per-(group, sender) sequence number of control messages, starting at 1.
    pub(crate) seq: u64,
    /// Causal dependencies: for each member, the highest control `seq` the sender had processed.
    pub(crate) deps: BTreeMap<VerifyingKey, u64>,
    pub(crate) control: ControlMessage<VerifyingKey>,
    pub(crate) direct: Vec<Direct>,
    pub(crate) bundles: Vec<KeyBundleWire>,
}

/// Decoded control message as handled by the orderer (`Ordering::Message`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ControlEnvelope {
    pub(crate) id: Hash,
    #[serde(with = "serde_bytes")]
    pub(crate) bytes: Vec<u8>,
    pub(crate) wire: ControlWire,
}

impl ControlEnvelope {
    /// Encodes a new outgoing control message.
    pub(crate) fn encode(wire: ControlWire) -> Result<Self, CryptoError> {
        let bytes = to_cbor(&wire)?;
        Ok(Self {
            id: Hash::digest(&bytes),
            bytes,
            wire,
        })
    }

    /// Decodes received bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, CryptoError> {
        let wire: ControlWire = from_cbor(bytes)?;
        check_version(wire.v, CONTROL_VERSION)?;
        if wire.seq == 0 {
            return Err(CryptoError::Malformed("sequence number 0".into()));
        }
        Ok(Self {
            id: Hash::digest(bytes),
            bytes: bytes.to_vec(),
            wire,
        })
    }

    pub(crate) fn to_public(&self) -> GroupMessage {
        GroupMessage {
            id: self.id,
            bytes: self.bytes.clone(),
        }
    }

    /// Version byte for new control messages.
    pub(crate) const VERSION: u8 = CONTROL_VERSION;
}

/// What a group control message does, read before it reaches the group (to authorize it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKind {
    /// Creates the group.
    Create,
    /// Adds a device.
    Add(VerifyingKey),
    /// Removes a device.
    Remove(VerifyingKey),
    /// Rotates the secret.
    Update,
}

/// The sender and kind of the group control message `bytes`.
pub fn control_kind(bytes: &[u8]) -> Result<(VerifyingKey, ControlKind), CryptoError> {
    let message = ControlEnvelope::decode(bytes)?;
    let kind = match &message.wire.control {
        ControlMessage::Create { .. } => ControlKind::Create,
        ControlMessage::Add { added } => ControlKind::Add(*added),
        ControlMessage::Remove { removed } => ControlKind::Remove(*removed),
        ControlMessage::Update => ControlKind::Update,
    };
    Ok((message.wire.sender, kind))
}

impl GroupMessageTrait<VerifyingKey, Hash, Membership> for ControlEnvelope {
    fn id(&self) -> Hash {
        self.id
    }

    fn sender(&self) -> VerifyingKey {
        self.wire.sender
    }

    fn content(&self) -> GroupMessageContent<VerifyingKey> {
        GroupMessageContent::Control(self.wire.control.clone())
    }

    fn direct_messages(&self) -> Vec<Direct> {
        self.wire.direct.clone()
    }
}
