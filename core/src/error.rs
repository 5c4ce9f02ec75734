//! Error types, one enum per layer, all built with `thiserror`.
//!
//! The FFI crate maps these once, at its edge, into a small app-facing enum.

use thiserror::Error;

use crate::crypto::CryptoError;
use crate::ids::{AuthorId, DocumentId};

/// Errors from the SQLite store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file is not a FieldSync database or is damaged.
    #[error("database is corrupt or not a FieldSync database: {0}")]
    Corrupt(String),
    /// The database was written by a newer FieldSync with a schema this build does not know.
    #[error("database schema version {found} is newer than supported version {supported}")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },
    /// Creating the data directory failed.
    #[error("cannot create data directory: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a remote operation was refused by [`crate::Node::ingest`].
///
/// Every variant leaves the store unchanged, except [`IngestError::SeqGap`] which parks the
/// operation aside (outside the op log) until the missing predecessors arrive.
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
    /// Storing the operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

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
    /// A membership or encryption step failed (bad key bundle, unknown member, ...).
    #[error("encryption: {0}")]
    Encryption(#[from] CryptoError),
}

/// Errors about identifiers given by the app or read from the network.
#[derive(Debug, Error)]
pub enum IdError {
    /// The string is not valid hex of the expected length.
    #[error("invalid {kind} id {value:?}: expected {expected} hex characters")]
    Invalid {
        /// What kind of id was parsed.
        kind: &'static str,
        /// The rejected input (truncated).
        value: String,
        /// Expected hex length.
        expected: usize,
    },
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

/// Errors of the network layer.
#[derive(Debug, Error)]
pub enum NetError {
    /// The network is not running (call `start_network` first).
    #[error("network is not running")]
    NotRunning,
    /// The network is already running.
    #[error("network is already running")]
    AlreadyRunning,
    /// Starting a network component failed (bind error, actor failure, ...).
    #[error("network start failed: {0}")]
    Start(String),
    /// A configuration value is unusable (e.g. a malformed relay URL).
    #[error("invalid network configuration: {0}")]
    Config(String),
    /// Talking to the network layer failed.
    #[error("network error: {0}")]
    Io(String),
    /// An ephemeral payload exceeds the gossip size limit.
    #[error("ephemeral payload of {size} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Payload size.
        size: usize,
        /// Maximum.
        max: usize,
    },
}

/// Top-level error of the [`crate::Node`] API.
#[derive(Debug, Error)]
pub enum Error {
    /// See [`StoreError`].
    #[error(transparent)]
    Store(#[from] StoreError),
    /// See [`IngestError`].
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// See [`DocumentError`].
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// See [`IdError`].
    #[error(transparent)]
    Id(#[from] IdError),
    /// See [`IdentityError`].
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// See [`NetError`].
    #[error(transparent)]
    Net(#[from] NetError),
    /// See [`crate::net::InviteError`].
    #[error("invalid invite: {0}")]
    Invite(#[from] crate::net::InviteError),
    /// See [`CryptoError`].
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// See [`crate::direct::DirectError`].
    #[error(transparent)]
    Direct(#[from] crate::direct::DirectError),
    /// The node was closed.
    #[error("node is closed")]
    Closed,
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(StoreError::Sqlite(e))
    }
}

impl From<rusqlite::Error> for DocumentError {
    fn from(e: rusqlite::Error) -> Self {
        DocumentError::Store(StoreError::Sqlite(e))
    }
}

impl From<rusqlite::Error> for IngestError {
    fn from(e: rusqlite::Error) -> Self {
        IngestError::Store(StoreError::Sqlite(e))
    }
}

/// Result alias for the node API.
pub type Result<T, E = Error> = std::result::Result<T, E>;
