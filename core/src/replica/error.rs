//! Errors of the replica layer: refused received operations and the device identity.

use thiserror::Error;

use crate::auth::AuthError;
use crate::base::ids::{AuthorId, DocumentId};
use crate::crypto::CryptoError;
use crate::document::{DocumentError, InvalidUpdate};
use crate::store::StoreError;
use crate::wire::WireError;

/// Why a remote operation was refused by [`crate::Node::ingest`].
///
/// Every variant leaves the store unchanged, except [`IngestError::SeqGap`] and
/// [`IngestError::AwaitingAuthorization`], which park the operation aside (outside the op
/// log) until the missing predecessors, or the roles that allow it, arrive.
#[derive(Debug, Error)]
pub enum IngestError {
    /// The encoded operation is larger than the configured maximum.
    #[error("operation of {size} bytes exceeds the maximum of {max} bytes")]
    OversizeOperation {
        /// Size of the received bytes.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The header declares a payload larger than the configured maximum.
    #[error("declared payload of {size} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Declared payload size.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The bytes are not a well-formed operation envelope (garbage or truncated CBOR).
    #[error("malformed operation envelope: {0}")]
    Malformed(String),
    /// The header could not be decoded (bad CBOR, bad field, unknown extensions).
    #[error("malformed operation header: {0}")]
    MalformedHeader(String),
    /// The Ed25519 signature over the header does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The body does not match the BLAKE3 payload hash or size in the signed header.
    #[error("body does not match the signed payload hash")]
    PayloadHashMismatch,
    /// The header is internally inconsistent (e.g. a backlink on seq 0).
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    /// An operation of a document log arrived without its body.
    #[error("operation has no body")]
    MissingBody,
    /// Earlier operations of this log are missing; the operation was parked and will be
    /// applied automatically once the gap closes.
    #[error("sequence gap in log of {author}: expected seq {expected}, got {got} (parked)")]
    SeqGap {
        /// Author of the log.
        author: AuthorId,
        /// Next sequence number this node can accept.
        expected: u32,
        /// Sequence number received.
        got: u32,
    },
    /// A different operation already exists at this position of the author's log.
    #[error("forked log of {author}: a different operation exists at seq {seq}")]
    ForkedLog {
        /// Author of the log.
        author: AuthorId,
        /// Position of the conflict.
        seq: u32,
    },
    /// The author's log is frozen: it forked at `forked_at` (proven by two of its signed
    /// headers, see `Node::forks`), and its operations from there on are refused by every
    /// replica that knows the proof.
    #[error("log of {author} forked at seq {forked_at}: seq {seq} refused")]
    FrozenLog {
        /// Author of the log.
        author: AuthorId,
        /// Position of the operation.
        seq: u32,
        /// Where the log forked.
        forked_at: u32,
    },
    /// The backlink does not point at the operation stored at `seq - 1`.
    #[error("backlink of seq {seq} by {author} does not match the stored predecessor")]
    BacklinkMismatch {
        /// Author of the log.
        author: AuthorId,
        /// Sequence number of the offending operation.
        seq: u32,
    },
    /// The body is not a valid (or decryptable) document update.
    #[error("invalid document update: {0}")]
    InvalidUpdate(String),
    /// The operation belongs to a document this node deleted.
    #[error("document {0} was deleted on this node")]
    DeletedDocument(DocumentId),
    /// An unencrypted document update arrived for an encrypted document (or on a node that
    /// requires encryption, see `NodeConfig::encrypt`).
    #[error("unencrypted operation body rejected: the document is end-to-end encrypted")]
    PlainBodyRejected,
    /// The ciphertext or control message belongs to another document's group.
    #[error("operation is encrypted for another group")]
    WrongGroup,
    /// The ciphertext does not authenticate under the group secret it names (tampered).
    #[error("ciphertext failed authentication (modified or forged)")]
    DecryptionFailed,
    /// The body is not a well-formed ciphertext envelope.
    #[error("malformed ciphertext: {0}")]
    MalformedCiphertext(String),
    /// A control message that was already processed arrived again inside a new operation.
    #[error("replayed control message in seq {seq} of {author}")]
    ReplayedControl {
        /// Author of the operation carrying the replay.
        author: AuthorId,
        /// Its sequence number.
        seq: u32,
    },
    /// A control message or key bundle was malformed or refused by the group.
    #[error("rejected control message: {0}")]
    InvalidControl(#[source] CryptoError),
    /// The document's roles do not allow the operation: its author is not (or no longer) a
    /// member with the role it needs, or an auth operation is invalid. Refused on every
    /// replica that holds the same roles; nothing is stored.
    #[error("not authorized: {0}")]
    Unauthorized(#[source] AuthError),
    /// The roles this node holds cannot decide yet whether the author may do this (the
    /// operation that gives it a role may not have arrived). The operation was kept in
    /// quarantine (bounded per author, expiring) and is checked again when roles change; it
    /// is not stored, served or counted until then.
    #[error("operation of {author} waits for its authorization (quarantined)")]
    AwaitingAuthorization {
        /// Its author.
        author: AuthorId,
    },
    /// A snapshot disagrees with what this node holds: it names another operation than the
    /// one held at a position it covers, covers updates of a member past that member's
    /// removal, or its state differs from the state of the operations it covers (checked
    /// when this node holds them all). Nothing of it is applied or stored; the author's
    /// later snapshots are still considered.
    #[error("inconsistent snapshot from {author}: {reason}")]
    InconsistentSnapshot {
        /// Its author.
        author: AuthorId,
        /// What disagrees.
        reason: String,
    },
    /// Storing the operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WireError> for IngestError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::OversizeOperation { size, max } => {
                IngestError::OversizeOperation { size, max }
            }
            WireError::PayloadTooLarge { size, max } => IngestError::PayloadTooLarge { size, max },
            WireError::Malformed(m) => IngestError::Malformed(m),
            WireError::MalformedHeader(m) => IngestError::MalformedHeader(m),
            WireError::InvalidSignature => IngestError::InvalidSignature,
            WireError::PayloadHashMismatch => IngestError::PayloadHashMismatch,
            WireError::InvalidOperation(m) => IngestError::InvalidOperation(m),
            WireError::UnknownBody(m) => IngestError::InvalidUpdate(m),
        }
    }
}

impl From<InvalidUpdate> for IngestError {
    fn from(e: InvalidUpdate) -> Self {
        IngestError::InvalidUpdate(e.0)
    }
}

/// Loading or updating the in-memory document while ingesting: a store failure stays a
/// store failure (this node's problem, not the peer's); anything else means the received
/// update could not be applied.
impl From<DocumentError> for IngestError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Store(s) => IngestError::Store(s),
            other => IngestError::InvalidUpdate(other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        IngestError::Store(StoreError::from(e))
    }
}

/// Errors about the device identity.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The app's key store failed.
    #[error("device key store failed: {0}")]
    KeyStore(String),
    /// The stored key has the wrong length.
    #[error("stored device key is malformed")]
    Malformed,
    /// Reading or writing the key in the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Errors of replica operations that concern neither one document nor one received
/// operation: opening the replica and managing the key ring.
#[derive(Debug, Error)]
pub enum ReplicaError {
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// See [`IdentityError`].
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// See [`CryptoError`].
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}
