//! Errors of the document layer.

use thiserror::Error;

use crate::auth::AuthError;
use crate::base::ids::DocumentId;
use crate::crypto::CryptoError;
use crate::store::StoreError;

/// Errors from document operations requested by the app.
#[derive(Debug, Error)]
pub enum DocumentError {
    /// No document with this id exists on this node.
    #[error("document {0} not found")]
    NotFound(DocumentId),
    /// A position or index lies outside the container.
    #[error("index {index} out of bounds (length {len})")]
    OutOfBounds {
        /// Requested index.
        index: usize,
        /// Current length.
        len: usize,
    },
    /// A string, key or value given by the app is not acceptable.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("the container was deleted (its parent record or entry was removed)")]
    ContainerDeleted,
    /// The CRDT engine refused the edit.
    #[error("document engine error: {0}")]
    Engine(String),
    /// Persisting the edit failed; the edit was rolled back.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This device is not (or no longer) a member of the document's group, so it can
    /// neither write to it nor change its membership.
    #[error("not a member of document {0}")]
    NotAMember(DocumentId),
    /// This device's role in the document does not allow the call (e.g. a reader editing,
    /// a writer removing a member); nothing changed.
    #[error("not allowed: {0}")]
    NotAllowed(#[from] AuthError),
    /// Another device writes with this device's identity (a restored backup, a copied data
    /// directory): an operation signed with this device's key that it did not write
    /// arrived, or its own log forked. Writes with this identity are refused from then on,
    /// here and (from the fork on) by every replica. The way out: a new identity (a node in
    /// a fresh data directory, or a key store without the old keys) added to the documents
    /// again by an admin or through an invite.
    #[error("this device's identity is used by another device: writes to document {0} refused")]
    IdentityCloned(DocumentId),
    /// The attachment is not (or not yet wholly) on this device, or its stored bytes do
    /// not check out; nothing was returned.
    #[error("attachment {id} unavailable: {reason}")]
    AttachmentUnavailable {
        /// The attachment's id (hex).
        id: String,
        /// Why.
        reason: String,
    },
    /// A membership or encryption step failed (bad key bundle, unknown member, ...).
    #[error("encryption: {0}")]
    Encryption(#[from] CryptoError),
}

impl From<rusqlite::Error> for DocumentError {
    fn from(e: rusqlite::Error) -> Self {
        DocumentError::Store(StoreError::from(e))
    }
}

/// A Loro update that must not be applied: undecodable, or carrying changes of a peer
/// other than the operation's author (see [`crate::document::attribution`]).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidUpdate(pub String);
