//! Causal orderer (ORD) for control messages of the data-encryption scheme.

use std::collections::{BTreeMap, BTreeSet};

use p2panda_core::{Hash, VerifyingKey};
use p2panda_encryption::crypto::xchacha20::XAeadNonce;
use p2panda_encryption::data_scheme::{ControlMessage, DirectMessageContent, GroupSecretId};
use p2panda_encryption::traits::Ordering;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::group_id::GroupId;
use super::key_bundle::KeyBundleWire;
use super::membership::Membership;
use super::message::{ControlEnvelope, ControlWire, Direct};

/// Maximum number of control messages buffered while waiting for dependencies.
pub const MAX_PENDING: usize = 4096;

/// Maximum number of buffered control messages of one sender: one member cannot fill the
/// buffer and block the others' messages.
pub const MAX_PENDING_PER_SENDER: usize = 256;

/// Causal orderer for control messages.
///
/// Every control message carries `(sender, seq)`, a per-group, per-sender counter starting
/// at one, and `deps`, a version vector: for each member the highest `seq` the sender had
/// processed when it wrote the message. A message is *ready* when we processed `seq - 1` of
/// its sender and at least `deps[m]` of every member `m`. Callers may feed messages in any
/// order across authors (per author they normally arrive in log order); messages that are not
/// ready are buffered (persisted with the group state) and released as soon as their
/// dependencies are processed.
///
/// Joining: when we are welcomed (a "create" listing us, or an "add" of us), everything in the
/// welcome's causal past is considered processed: the welcome carries the whole secret bundle
/// and the member set, so those messages are skipped; messages concurrent to or after the
/// welcome are processed normally.
///
/// Authorization: a ready control message whose sender is not a member (in our view at that
/// point of the causal order) is dropped, so removed members cannot inject new secrets.
///
/// Application data does not pass through the orderer (see `DocumentGroup::encrypt`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CausalOrderer;

/// What happened to a control message released by the orderer (read by `DocumentGroup`).
#[derive(Clone, Debug)]
pub(crate) struct Released {
    pub(crate) sender: VerifyingKey,
    pub(crate) seq: u64,
    pub(crate) control: ControlMessage<VerifyingKey>,
    pub(crate) bundles: Vec<KeyBundleWire>,
    /// Dropped because the sender was not a member.
    pub(crate) unauthorized: bool,
}

/// Persistent state of [`CausalOrderer`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrdererState {
    pub(crate) my_id: VerifyingKey,
    pub(crate) group: GroupId,
    /// Highest processed (or skipped) control `seq` per sender; also our causal frontier.
    pub(crate) processed: BTreeMap<VerifyingKey, u64>,
    /// Member view used for authorization, updated in processing order.
    pub(crate) members: BTreeSet<VerifyingKey>,
    /// Control messages waiting for dependencies (or for our welcome), in arrival order.
    pub(crate) pending: Vec<ControlEnvelope>,
    /// Welcome message to release first, once.
    pub(crate) welcome: Option<ControlEnvelope>,
    pub(crate) welcomed: bool,
    /// Key bundles to attach to the next outgoing control message (transient).
    #[serde(skip)]
    pub(crate) outgoing_bundles: Vec<KeyBundleWire>,
    /// Control messages released since the last drain (transient).
    #[serde(skip)]
    pub(crate) released: Vec<Released>,
}

impl OrdererState {
    /// Fresh state for `my_id` in `group`.
    pub(crate) fn new(my_id: VerifyingKey, group: GroupId) -> Self {
        Self {
            my_id,
            group,
            processed: BTreeMap::new(),
            members: BTreeSet::new(),
            pending: Vec::new(),
            welcome: None,
            welcomed: false,
            outgoing_bundles: Vec::new(),
            released: Vec::new(),
        }
    }

    /// Highest processed control seq of `sender` (0 if none).
    pub(crate) fn processed_seq(&self, sender: &VerifyingKey) -> u64 {
        self.processed.get(sender).copied().unwrap_or(0)
    }

    /// True if `message` was already processed or skipped, or is already buffered.
    pub(crate) fn is_known(&self, message: &ControlEnvelope) -> bool {
        message.wire.seq <= self.processed_seq(&message.wire.sender)
            || self.pending.iter().any(|m| m.id == message.id)
            || self.welcome.as_ref().is_some_and(|m| m.id == message.id)
    }

    fn is_ready(&self, message: &ControlEnvelope) -> bool {
        message.wire.seq == self.processed_seq(&message.wire.sender) + 1
            && message
                .wire
                .deps
                .iter()
                .all(|(member, seq)| self.processed_seq(member) >= *seq)
    }

    fn apply_membership(&mut self, control: &ControlMessage<VerifyingKey>) {
        match control {
            ControlMessage::Create { initial_members } => {
                self.members = initial_members.iter().copied().collect();
            }
            ControlMessage::Add { added } => {
                self.members.insert(*added);
            }
            ControlMessage::Remove { removed } => {
                self.members.remove(removed);
            }
            ControlMessage::Update => {}
        }
    }

    fn advance(&mut self, sender: VerifyingKey, seq: u64) {
        let entry = self.processed.entry(sender).or_insert(0);
        if *entry < seq {
            *entry = seq;
        }
    }
}

/// Errors of the orderer.
#[derive(Debug, Error)]
pub enum OrdererError {
    /// Application data is encrypted by `DocumentGroup::encrypt`, not via the orderer.
    #[error("application messages are not routed through the orderer")]
    ApplicationNotSupported,

    /// Too many buffered messages.
    #[error("too many pending control messages")]
    TooManyPending,

    /// Encoding an outgoing message failed.
    #[error("encoding control message failed: {0}")]
    Encode(String),
}

impl Ordering<VerifyingKey, Hash, Membership> for CausalOrderer {
    type State = OrdererState;

    type Error = OrdererError;

    type Message = ControlEnvelope;

    fn next_control_message(
        mut y: Self::State,
        control_message: &ControlMessage<VerifyingKey>,
        direct_messages: &[Direct],
    ) -> Result<(Self::State, Self::Message), Self::Error> {
        let seq = y.processed_seq(&y.my_id) + 1;
        let wire = ControlWire {
            v: ControlEnvelope::VERSION,
            group: y.group,
            sender: y.my_id,
            seq,
            deps: y.processed.clone(),
            control: control_message.clone(),
            direct: direct_messages.to_vec(),
            bundles: std::mem::take(&mut y.outgoing_bundles),
        };
        let message =
            ControlEnvelope::encode(wire).map_err(|err| OrdererError::Encode(err.to_string()))?;
        // Our own message is processed locally right away.
        let my_id = y.my_id;
        y.advance(my_id, seq);
        y.apply_membership(control_message);
        Ok((y, message))
    }

    fn next_application_message(
        _y: Self::State,
        _group_secret_id: GroupSecretId,
        _nonce: XAeadNonce,
        _ciphertext: Vec<u8>,
    ) -> Result<(Self::State, Self::Message), Self::Error> {
        Err(OrdererError::ApplicationNotSupported)
    }

    fn queue(mut y: Self::State, message: &Self::Message) -> Result<Self::State, Self::Error> {
        if y.is_known(message) {
            return Ok(y);
        }
        let sender = message.wire.sender;
        if y.pending.len() >= MAX_PENDING
            || y.pending.iter().filter(|m| m.wire.sender == sender).count()
                >= MAX_PENDING_PER_SENDER
        {
            return Err(OrdererError::TooManyPending);
        }
        y.pending.push(message.clone());
        Ok(y)
    }

    fn set_welcome(
        mut y: Self::State,
        message: &Self::Message,
    ) -> Result<Self::State, Self::Error> {
        y.welcomed = true;
        if message.wire.sender == y.my_id {
            // Our own "create": already processed locally.
            return Ok(y);
        }

        // Everything in the welcome's causal past counts as processed.
        for (member, seq) in &message.wire.deps {
            y.advance(*member, *seq);
        }
        y.advance(message.wire.sender, message.wire.seq);
        y.pending.retain(|m| m.id != message.id);

        // Member view at the welcome.
        match &message.wire.control {
            ControlMessage::Create { initial_members } => {
                y.members = initial_members.iter().copied().collect();
            }
            ControlMessage::Add { added } => {
                let history = message.wire.direct.iter().find_map(|dm| {
                    match (&dm.content, dm.recipient == y.my_id) {
                        (DirectMessageContent::Welcome { history, .. }, true) => {
                            Some(history.members.clone())
                        }
                        _ => None,
                    }
                });
                y.members = history.unwrap_or_default();
                y.members.insert(*added);
            }
            ControlMessage::Remove { .. } | ControlMessage::Update => {}
        }

        y.welcome = Some(message.clone());
        Ok(y)
    }

    fn next_ready_message(
        mut y: Self::State,
    ) -> Result<(Self::State, Option<Self::Message>), Self::Error> {
        if !y.welcomed {
            return Ok((y, None));
        }

        if let Some(welcome) = y.welcome.take() {
            y.released.push(Released {
                sender: welcome.wire.sender,
                seq: welcome.wire.seq,
                control: welcome.wire.control.clone(),
                bundles: welcome.wire.bundles.clone(),
                unauthorized: false,
            });
            return Ok((y, Some(welcome)));
        }

        loop {
            // Drop what is already covered, then look for the first ready message.
            y.pending
                .retain(|m| m.wire.seq > y.processed.get(&m.wire.sender).copied().unwrap_or(0));
            let Some(index) = y.pending.iter().position(|m| y.is_ready(m)) else {
                return Ok((y, None));
            };
            let message = y.pending.remove(index);
            y.advance(message.wire.sender, message.wire.seq);

            if !y.members.contains(&message.wire.sender) {
                y.released.push(Released {
                    sender: message.wire.sender,
                    seq: message.wire.seq,
                    control: message.wire.control.clone(),
                    bundles: Vec::new(),
                    unauthorized: true,
                });
                continue;
            }

            y.apply_membership(&message.wire.control);
            y.released.push(Released {
                sender: message.wire.sender,
                seq: message.wire.seq,
                control: message.wire.control.clone(),
                bundles: message.wire.bundles.clone(),
                unauthorized: false,
            });
            return Ok((y, Some(message)));
        }
    }
}
