//! Why a direct message could not be sealed or was refused.

use thiserror::Error;

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::join::JoinRefusal;
use crate::crypto::CryptoError;
use crate::store::StoreError;

/// Errors of direct device-to-device messages. Every refusal leaves the ratchet session
/// unchanged: a refused message never poisons it.
#[derive(Debug, Error)]
pub enum DirectError {
    /// The envelope is larger than the configured maximum.
    #[error("direct message of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Size of the received bytes.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The bytes are not a well-formed direct message envelope.
    #[error("malformed direct message: {0}")]
    Malformed(String),
    /// The sender's Ed25519 signature over the envelope does not verify.
    #[error("direct message signature does not verify")]
    InvalidSignature,
    /// The message is addressed to another device.
    #[error("direct message is addressed to {0}, not to this device")]
    NotForUs(AuthorId),
    /// A message already received (its counter is not newer than the last one opened).
    #[error("replayed direct message {counter} from {from} (last received: {last})")]
    Replayed {
        /// Sender.
        from: AuthorId,
        /// Counter of the refused message.
        counter: u64,
        /// Counter of the last message opened from this sender.
        last: u64,
    },
    /// Messages before this one are missing; they must arrive first (the ratchet needs order).
    #[error("direct message {counter} from {from} arrived before {expected}")]
    OutOfOrder {
        /// Sender.
        from: AuthorId,
        /// Counter of the refused message.
        counter: u64,
        /// The counter expected next.
        expected: u64,
    },
    /// No session with the peer exists and no key bundle of it is known.
    #[error("no key bundle known for {0}: it must come in an invite or be announced")]
    NoKeyBundle(AuthorId),
    /// Decryption failed: tampered ciphertext, a key this device does not hold, or a
    /// ciphertext that belongs to another session.
    #[error("direct message cannot be decrypted: {0}")]
    Decryption(String),
    /// The decrypted content names another sender, recipient or counter than its envelope
    /// (a re-wrapped or re-numbered message).
    #[error("direct message content does not match its envelope")]
    Misbound,
    /// A join request with an invite token this node did not issue (or revoked).
    #[error("join request for {0} presents an unknown or revoked invite")]
    UnknownInvite(DocumentId),
    /// This device's role does not allow the call (e.g. revoking invites without being an
    /// admin).
    #[error("not allowed: {0}")]
    NotAllowed(#[source] crate::auth::AuthError),
    /// A join request presents an invite an admin revoked.
    #[error("join request for {0} presents a revoked invite")]
    InviteRevoked(DocumentId),
    /// A join request presents an invite past its expiry.
    #[error("join request for {0} presents an expired invite")]
    InviteExpired(DocumentId),
    /// A join request presents an invite that admitted as many devices as it allows.
    #[error("join request for {0} presents an invite that is used up")]
    InviteUsedUp(DocumentId),
    /// A join request whose key bundle belongs to another device than its sender.
    #[error("join request key bundle does not belong to its sender")]
    ForeignKeyBundle,
    /// A join request was valid but this device could not admit its sender (it lost its
    /// admin role or its group membership since it issued the invite).
    #[error("this device can no longer admit devices to {0}")]
    CannotAdmit(DocumentId),
    /// Key material could not be used.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DirectError {
    /// True if the message was authentic and in order and was consumed (its session
    /// advanced) although its content was refused: the sender must not send it again.
    pub fn consumed(&self) -> bool {
        matches!(
            self,
            DirectError::UnknownInvite(_)
                | DirectError::InviteRevoked(_)
                | DirectError::InviteExpired(_)
                | DirectError::InviteUsedUp(_)
                | DirectError::ForeignKeyBundle
                | DirectError::CannotAdmit(_)
                | DirectError::Crypto(_)
        )
    }

    /// The reason to give the sender of a join request this error refused, if it is one.
    pub fn join_refusal(&self) -> Option<JoinRefusal> {
        Some(match self {
            DirectError::UnknownInvite(_) => JoinRefusal::UnknownInvite,
            DirectError::InviteRevoked(_) => JoinRefusal::Revoked,
            DirectError::InviteExpired(_) => JoinRefusal::Expired,
            DirectError::InviteUsedUp(_) => JoinRefusal::UsedUp,
            DirectError::ForeignKeyBundle => JoinRefusal::ForeignKeyBundle,
            DirectError::CannotAdmit(_) => JoinRefusal::CannotAdmit,
            _ => return None,
        })
    }
}

impl From<rusqlite::Error> for DirectError {
    fn from(e: rusqlite::Error) -> Self {
        DirectError::Store(StoreError::from(e))
    }
}
