//! Encryption state of one document group.

use std::collections::BTreeSet;
use std::fmt;

use p2panda_core::{Hash, VerifyingKey};
use p2panda_encryption::data_scheme::dcgka::DcgkaError;
use p2panda_encryption::data_scheme::{
    decrypt_data, encrypt_data, ControlMessage, EncryptionGroup, GroupError, GroupState,
};
use p2panda_encryption::key_bundle::LongTermKeyBundle;
use p2panda_encryption::key_registry::{KeyRegistry, KeyRegistryError, KeyRegistryState};
use p2panda_encryption::traits::{IdentityRegistry, KeyBundle as _, PreKeyRegistry};
use p2panda_encryption::Rng;
use serde::{Deserialize, Serialize};

use super::codec::{check_version, from_cbor, to_cbor};
use super::device_keys::DeviceKeys;
use super::envelope::Envelope;
use super::error::CryptoError;
use super::events::{GroupEvent, GroupEvents};
use super::group_id::GroupId;
use super::key_bundle::{KeyBundle, KeyBundleWire};
use super::membership::{Membership, MembershipState};
use super::message::{ControlEnvelope, GroupMessage};
use super::ordering::{CausalOrderer, OrdererState, MAX_PENDING};
use super::providers::{Keys, Registry};

const GROUP_STATE_VERSION: u8 = 1;

type Pki = Registry;
type Kmg = Keys;
type State = GroupState<VerifyingKey, Hash, Pki, Membership, Kmg, CausalOrderer>;
type Group = EncryptionGroup<VerifyingKey, Hash, Pki, Membership, Kmg, CausalOrderer>;
type GroupErr = GroupError<VerifyingKey, Hash, Pki, Membership, Kmg, CausalOrderer>;

/// Encryption state of one document group (p2panda-encryption "data scheme").
///
/// - Members are devices (Ed25519 [`VerifyingKey`]s). Every group operation (create, add,
///   remove, update) yields one [`GroupMessage`] to publish as an operation body; other devices
///   feed it to [`DocumentGroup::receive`].
/// - Application data is encrypted with the group's latest symmetric secret (XChaCha20-Poly1305,
///   random 24-byte nonce) by [`DocumentGroup::encrypt`]. The output is a self-contained
///   envelope naming group, secret and nonce; it does not depend on ordering, so any member
///   holding that secret can decrypt it at any time.
/// - **Post-compromise security on removal**: removing a member (or [`DocumentGroup::update`])
///   generates a new secret and sends it only to the remaining members; data encrypted
///   afterwards cannot be read by the removed device.
/// - **History sharing**: a member added later receives the *whole* secret bundle in its
///   welcome, so it can read everything written before it joined. This is the data scheme's
///   behaviour (use the message scheme if late joiners must not read history).
/// - No forward secrecy for data: old secrets are kept so old operations stay readable.
/// - Control messages are not encrypted: group membership is visible to whoever sees them.
///
/// State changes are transactional: if an operation fails, `self` is unchanged. Persist
/// [`DocumentGroup::to_bytes`] after every successful mutating call (it contains secrets).
pub struct DocumentGroup {
    group: GroupId,
    state: State,
    rng: Rng,
}

#[derive(Serialize)]
struct GroupWireRef<'a> {
    v: u8,
    group: GroupId,
    state: &'a State,
}

#[derive(Deserialize)]
struct GroupWire {
    v: u8,
    group: GroupId,
    state: State,
}

impl DocumentGroup {
    /// State of a device that waits to be welcomed into `group` (by a "create" listing it or
    /// an "add" of it). Feed it the group's control messages with [`DocumentGroup::receive`].
    pub fn new(me: &DeviceKeys, group: GroupId) -> Self {
        let state = Group::init(
            me.id(),
            me.manager().clone(),
            KeyRegistry::init(),
            MembershipState::default(),
            OrdererState::new(me.id(), group),
        );
        Self {
            group,
            state,
            rng: Rng::default(),
        }
    }

    /// Creates the group with us and the owners of `members` (their key bundles must be
    /// valid). Returns the group and the control message to publish.
    pub fn create(
        me: &DeviceKeys,
        group: GroupId,
        members: &[KeyBundle],
    ) -> Result<(Self, GroupMessage), CryptoError> {
        let mut this = Self::new(me, group);
        let mut ids = Vec::with_capacity(members.len() + 1);
        ids.push(me.id());
        for bundle in members {
            if bundle.owner() == me.id() {
                continue;
            }
            bundle.verify()?;
            if !ids.contains(&bundle.owner()) {
                ids.push(bundle.owner());
            }
        }
        let message = this.transact(me, |mut y, rng| {
            for bundle in members.iter().filter(|b| b.owner() != me.id()) {
                y.dcgka.pki = register_bundle(y.dcgka.pki, bundle)?;
            }
            y.orderer.outgoing_bundles = outgoing_bundles(me, &y.dcgka.pki, &ids);
            let (y, message) = Group::create(y, ids.clone(), rng).map_err(map_group_error)?;
            Ok((y, message))
        })?;
        Ok((this, message.to_public()))
    }

    /// Adds the owner of `bundle` to the group. Returns the control message to publish.
    ///
    /// The new member receives all group secrets (it can read the whole history).
    pub fn add(
        &mut self,
        me: &DeviceKeys,
        bundle: &KeyBundle,
    ) -> Result<GroupMessage, CryptoError> {
        self.require_member()?;
        let member = bundle.owner();
        if member == me.id() {
            return Err(CryptoError::Rejected("cannot add ourselves".into()));
        }
        if self.members().contains(&member) {
            return Err(CryptoError::Rejected(format!(
                "{member} is already a member"
            )));
        }
        bundle.verify()?;
        let message = self.transact(me, |mut y, rng| {
            y.dcgka.pki = register_bundle(y.dcgka.pki, bundle)?;
            let mut ids: Vec<VerifyingKey> = y.orderer.members.iter().copied().collect();
            ids.push(member);
            y.orderer.outgoing_bundles = outgoing_bundles(me, &y.dcgka.pki, &ids);
            Group::add(y, member, rng).map_err(map_group_error)
        })?;
        Ok(message.to_public())
    }

    /// Removes `member` and rotates the group secret (post-compromise security): the removed
    /// device cannot decrypt anything encrypted after this. Removing ourselves is allowed.
    pub fn remove(
        &mut self,
        me: &DeviceKeys,
        member: VerifyingKey,
    ) -> Result<GroupMessage, CryptoError> {
        self.require_member()?;
        if !self.members().contains(&member) {
            return Err(CryptoError::Rejected(format!("{member} is not a member")));
        }
        let message = self.transact(me, |mut y, rng| {
            y.orderer.outgoing_bundles = outgoing_bundles(me, &y.dcgka.pki, &[]);
            Group::remove(y, member, rng).map_err(map_group_error)
        })?;
        Ok(message.to_public())
    }

    /// Rotates the group secret for the current members (e.g. periodically, or after a
    /// concurrent removal, see the module docs).
    pub fn update(&mut self, me: &DeviceKeys) -> Result<GroupMessage, CryptoError> {
        self.require_member()?;
        let message = self.transact(me, |mut y, rng| {
            y.orderer.outgoing_bundles = outgoing_bundles(me, &y.dcgka.pki, &[]);
            Group::update(y, rng).map_err(map_group_error)
        })?;
        Ok(message.to_public())
    }

    /// Registers a (published) key bundle of another device, needed to send it its first
    /// key-agreement message. Returns `false` if it was already known. Bundles of members are
    /// also learned automatically from "create" and "add" messages.
    pub fn register_key_bundle(&mut self, bundle: &KeyBundle) -> Result<bool, CryptoError> {
        bundle.verify()?;
        if bundle.owner() == self.state.my_id {
            return Ok(false);
        }
        if pki_has_bundle(&self.state.dcgka.pki, bundle) {
            return Ok(false);
        }
        let pki = register_bundle(self.state.dcgka.pki.clone(), bundle)?;
        self.state.dcgka.pki = pki;
        Ok(true)
    }

    /// Processes a control message (an operation body) authored by `sender`, the
    /// authenticated author of the operation; our own messages may be fed back too.
    ///
    /// Ordering contract: per author, feed messages in log (sequence) order; across authors
    /// any order works. Messages whose causal dependencies are missing are buffered (and
    /// persisted with the state) and processed when the dependencies arrive. Replays are
    /// reported as [`GroupEvent::Duplicate`] and change nothing.
    pub fn receive(
        &mut self,
        me: &DeviceKeys,
        sender: VerifyingKey,
        bytes: &[u8],
    ) -> Result<GroupEvents, CryptoError> {
        self.check_device(me)?;
        let message = ControlEnvelope::decode(bytes)?;
        let wire = &message.wire;
        if wire.group != self.group {
            return Err(CryptoError::WrongGroup);
        }
        if wire.sender != sender {
            return Err(CryptoError::SenderMismatch {
                claimed: Box::new(wire.sender),
                author: Box::new(sender),
            });
        }
        if self.state.orderer.is_known(&message) {
            return Ok(GroupEvents {
                events: vec![GroupEvent::Duplicate {
                    sender,
                    seq: wire.seq,
                }],
                pending: self.pending_count(),
            });
        }
        if matches!(wire.control, ControlMessage::Create { .. }) && self.state.is_welcomed {
            return Err(CryptoError::Rejected(
                "\"create\" for an already established group".into(),
            ));
        }
        if self.state.orderer.pending.len() >= MAX_PENDING {
            return Err(CryptoError::TooManyPending(MAX_PENDING));
        }

        let released = self.transact(me, |y, _rng| {
            let (mut y, _outputs) = Group::receive(y, &message).map_err(map_group_error)?;
            let released = std::mem::take(&mut y.orderer.released);
            // Learn key bundles carried by authorized messages (best effort).
            for bundle in released
                .iter()
                .filter(|r| !r.unauthorized)
                .flat_map(|r| r.bundles.iter())
            {
                y.dcgka.pki = learn_bundle(y.dcgka.pki, bundle.clone(), y.my_id);
            }
            Ok((y, released))
        })?;

        let my_id = self.state.my_id;
        let mut events = Vec::with_capacity(released.len() + 1);
        for r in released {
            let by = r.sender;
            events.push(match r.control {
                _ if r.unauthorized => GroupEvent::Unauthorized {
                    sender: by,
                    seq: r.seq,
                },
                ControlMessage::Create { .. } => GroupEvent::Welcomed { by },
                ControlMessage::Add { added } if added == my_id => GroupEvent::Welcomed { by },
                ControlMessage::Add { added } => GroupEvent::MemberAdded { by, member: added },
                ControlMessage::Remove { removed } if removed == my_id => {
                    GroupEvent::RemovedUs { by }
                }
                ControlMessage::Remove { removed } => GroupEvent::MemberRemoved {
                    by,
                    member: removed,
                },
                ControlMessage::Update => GroupEvent::SecretRotated { by },
            });
        }
        if self
            .state
            .orderer
            .pending
            .iter()
            .any(|m| m.id == message.id)
        {
            events.push(GroupEvent::Buffered {
                sender,
                seq: message.wire.seq,
            });
        }
        Ok(GroupEvents {
            events,
            pending: self.pending_count(),
        })
    }

    /// Encrypts `plaintext` with the latest group secret. Returns the ciphertext envelope
    /// (group id, secret id, nonce, ciphertext; [`ENVELOPE_OVERHEAD`](super::ENVELOPE_OVERHEAD)
    /// bytes larger than the plaintext). No size limit beyond memory.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.require_member()?;
        let secret = self
            .state
            .secrets
            .latest()
            .ok_or(CryptoError::NotWelcomed)?;
        let nonce = self.rng.random_array()?;
        let ciphertext = encrypt_data(plaintext, secret, nonce)
            .map_err(|err| CryptoError::Encode(err.to_string()))?;
        Ok(Envelope {
            group: self.group,
            secret_id: secret.id(),
            nonce,
            ciphertext: &ciphertext,
        }
        .encode())
    }

    /// Decrypts a ciphertext envelope made by any member with [`DocumentGroup::encrypt`].
    ///
    /// Errors: [`CryptoError::Malformed`] (not an envelope), [`CryptoError::WrongGroup`],
    /// [`CryptoError::UnknownSecret`] (secret not received yet: keep the operation and retry
    /// after processing more control messages; or we may not read it),
    /// [`CryptoError::AuthenticationFailed`] (tampered).
    pub fn decrypt(&self, envelope: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let envelope = Envelope::decode(envelope)?;
        if envelope.group != self.group {
            return Err(CryptoError::WrongGroup);
        }
        let secret = self
            .state
            .secrets
            .get(&envelope.secret_id)
            .ok_or_else(|| CryptoError::UnknownSecret(hex(&envelope.secret_id)))?;
        decrypt_data(envelope.ciphertext, secret, envelope.nonce)
            .map_err(|_| CryptoError::AuthenticationFailed)
    }

    /// Current members from our point of view, sorted.
    pub fn members(&self) -> Vec<VerifyingKey> {
        let members: BTreeSet<VerifyingKey> = self.state.dcgka.dgm.members.clone();
        members.into_iter().collect()
    }

    /// True once we were welcomed and until we are removed.
    pub fn is_member(&self) -> bool {
        self.state.is_welcomed && self.state.dcgka.dgm.members.contains(&self.state.my_id)
    }

    /// True once we created or were welcomed into the group (stays true after removal).
    pub fn is_welcomed(&self) -> bool {
        self.state.is_welcomed
    }

    /// Id of this group.
    pub fn group_id(&self) -> GroupId {
        self.group
    }

    /// Device owning this state.
    pub fn my_id(&self) -> VerifyingKey {
        self.state.my_id
    }

    /// Number of group secrets (epochs) we hold.
    pub fn secret_count(&self) -> usize {
        self.state.secrets.len()
    }

    /// Control messages buffered while waiting for dependencies.
    pub fn pending_count(&self) -> usize {
        self.state.orderer.pending.len()
    }

    /// Serializes the whole state as CBOR (contains secrets: store it encrypted).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CryptoError> {
        to_cbor(&GroupWireRef {
            v: GROUP_STATE_VERSION,
            group: self.group,
            state: &self.state,
        })
    }

    /// Restores a state serialized with [`DocumentGroup::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let wire: GroupWire = from_cbor(bytes)?;
        check_version(wire.v, GROUP_STATE_VERSION)?;
        if wire.state.orderer.group != wire.group {
            return Err(CryptoError::Malformed("group id mismatch in state".into()));
        }
        Ok(Self {
            group: wire.group,
            state: wire.state,
            rng: Rng::default(),
        })
    }

    fn check_device(&self, me: &DeviceKeys) -> Result<(), CryptoError> {
        if me.id() != self.state.my_id {
            return Err(CryptoError::WrongDevice {
                given: Box::new(me.id()),
                expected: Box::new(self.state.my_id),
            });
        }
        Ok(())
    }

    fn require_member(&self) -> Result<(), CryptoError> {
        if !self.state.is_welcomed {
            return Err(CryptoError::NotWelcomed);
        }
        if !self.is_member() {
            return Err(CryptoError::NotAMember);
        }
        Ok(())
    }

    /// Runs `f` on a copy of the state (with fresh device keys) and commits it only on success.
    ///
    /// `GroupState` is moved into every p2panda-encryption call and dropped on error, and it
    /// is not `Clone` without `test_utils`, so the copy is made through CBOR.
    fn transact<T>(
        &mut self,
        me: &DeviceKeys,
        f: impl FnOnce(State, &Rng) -> Result<(State, T), CryptoError>,
    ) -> Result<T, CryptoError> {
        self.check_device(me)?;
        let mut copy: State = from_cbor(&to_cbor(&self.state)?)?;
        // Pick up rotated pre-keys (each group holds its own copy of the key manager state).
        copy.dcgka.my_keys = me.manager().clone();
        let (state, value) = f(copy, &self.rng)?;
        self.state = state;
        Ok(value)
    }
}

impl fmt::Debug for DocumentGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentGroup")
            .field("group", &self.group)
            .field("my_id", &self.state.my_id)
            .field("welcomed", &self.state.is_welcomed)
            .field("members", &self.members())
            .field("secrets", &self.state.secrets.len())
            .field("pending", &self.state.orderer.pending.len())
            .finish()
    }
}

/// Bundles to attach to an outgoing control message: ours plus those of `ids` we know.
fn outgoing_bundles(
    me: &DeviceKeys,
    pki: &KeyRegistryState<VerifyingKey>,
    ids: &[VerifyingKey],
) -> Vec<KeyBundleWire> {
    let mut out = Vec::new();
    if let Ok(own) = me.key_bundle() {
        out.push(own.to_wire());
    }
    for id in ids.iter().filter(|id| **id != me.id()) {
        if let Ok((_, Some(bundle))) =
            <Pki as PreKeyRegistry<VerifyingKey, LongTermKeyBundle>>::key_bundle(pki.clone(), id)
        {
            out.push(KeyBundle::new(*id, bundle).to_wire());
        }
    }
    out
}

fn pki_has_bundle(pki: &KeyRegistryState<VerifyingKey>, bundle: &KeyBundle) -> bool {
    matches!(
        <Pki as PreKeyRegistry<VerifyingKey, LongTermKeyBundle>>::key_bundle(pki.clone(), &bundle.owner()),
        Ok((_, Some(known))) if &known == bundle.inner()
    )
}

/// Adds a verified bundle to the registry, refusing a changed identity key (the registry
/// itself would panic on that).
fn register_bundle(
    pki: KeyRegistryState<VerifyingKey>,
    bundle: &KeyBundle,
) -> Result<KeyRegistryState<VerifyingKey>, CryptoError> {
    let owner = bundle.owner();
    let known =
        <Pki as IdentityRegistry<VerifyingKey, KeyRegistryState<VerifyingKey>>>::identity_key(
            &pki, &owner,
        )
        .unwrap_or(None);
    if let Some(known) = known {
        if &known != bundle.inner().identity_key() {
            return Err(CryptoError::IdentityKeyMismatch(Box::new(owner)));
        }
    }
    if pki_has_bundle(&pki, bundle) {
        return Ok(pki);
    }
    KeyRegistry::add_longterm_bundle(pki, owner, bundle.inner().clone()).map_err(|err| match err {
        KeyRegistryError::KeyBundle(_) => CryptoError::InvalidKeyBundle(err.to_string()),
        other => CryptoError::InvalidKeyBundle(other.to_string()),
    })
}

/// Registers a bundle carried in a control message if it is valid; ignores it otherwise.
fn learn_bundle(
    pki: KeyRegistryState<VerifyingKey>,
    wire: KeyBundleWire,
    my_id: VerifyingKey,
) -> KeyRegistryState<VerifyingKey> {
    let Ok(bundle) = KeyBundle::from_wire(wire) else {
        return pki;
    };
    if bundle.owner() == my_id || bundle.verify().is_err() {
        return pki;
    }
    match register_bundle(pki.clone(), &bundle) {
        Ok(pki) => pki,
        Err(_) => pki,
    }
}

fn map_group_error(err: GroupErr) -> CryptoError {
    match err {
        GroupError::Dcgka(DcgkaError::MissingPreKeys(id)) => {
            CryptoError::MissingKeyBundle(Box::new(id))
        }
        GroupError::Dcgka(DcgkaError::PreKeyRegistry(KeyRegistryError::KeyBundlesExpired)) => {
            CryptoError::KeyBundleExpired
        }
        GroupError::GroupNotYetEstablished => CryptoError::NotWelcomed,
        GroupError::GroupAlreadyEstablished => {
            CryptoError::Rejected("group already established".into())
        }
        GroupError::Rng(err) => CryptoError::Rng(err.to_string()),
        other => CryptoError::Group(other.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
