//! The facade's error: one enum over every layer's error, each converted by a typed `From`.

use thiserror::Error;

use crate::base::ids::IdError;
use crate::crypto::CryptoError;
use crate::direct::DirectError;
use crate::document::DocumentError;
use crate::net::link::LinkError;
use crate::net::NetError;
use crate::replica::{IdentityError, IngestError, ReplicaError};
use crate::store::StoreError;
use crate::wire::bundle::BundleError;
use crate::wire::InviteError;

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
    /// See [`IdentityError`] (a store failure while reading the identity is
    /// [`Error::Store`]).
    #[error(transparent)]
    Identity(IdentityError),
    /// See [`NetError`].
    #[error(transparent)]
    Net(#[from] NetError),
    /// See [`InviteError`].
    #[error("invalid invite: {0}")]
    Invite(#[from] InviteError),
    /// See [`CryptoError`].
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// See [`DirectError`].
    #[error(transparent)]
    Direct(#[from] DirectError),
    /// See [`BundleError`].
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// See [`LinkError`].
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// What an app (or a command line) can do about an [`Error`]: the one classification the
/// bindings' error variants and the CLI's exit codes are derived from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The document (or other object) does not exist here, or was deleted.
    NotFound,
    /// A caller's argument is not acceptable (malformed id, bounds, size); retrying does not
    /// help. Also operations handed in that do not validate.
    InvalidArgument,
    /// An invite could not be parsed, does not fit, or was revoked, expired or used up.
    InvalidInvite,
    /// The network is not running, already running, or failed; usually transient.
    Network,
    /// The local database failed (disk full, corrupt, unwritable).
    Storage,
    /// The store key does not open the database; nothing was changed.
    WrongKey,
    /// Another node has this data directory open.
    Busy,
    /// Key material missing or malformed, the key store failed, or decryption failed.
    Crypto,
    /// This device's role does not allow it (or its identity was cloned).
    NotAllowed,
    /// A bug.
    Internal,
}

impl Error {
    /// The kind of this error (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind as K;
        match self {
            Error::Store(StoreError::WrongKey) => K::WrongKey,
            Error::Store(StoreError::Busy(_)) => K::Busy,
            Error::Store(_) => K::Storage,
            Error::Document(d) => match d {
                DocumentError::NotFound(_) | DocumentError::AttachmentUnavailable { .. } => {
                    K::NotFound
                }
                DocumentError::OutOfBounds { .. }
                | DocumentError::InvalidArgument(_)
                | DocumentError::ContainerDeleted => K::InvalidArgument,
                DocumentError::Store(_) => K::Storage,
                DocumentError::Engine(_) => K::Internal,
                DocumentError::NotAllowed(_) | DocumentError::IdentityCloned(_) => K::NotAllowed,
                DocumentError::NotAMember(_) | DocumentError::Encryption(_) => K::Crypto,
            },
            Error::Ingest(IngestError::Store(_)) => K::Storage,
            Error::Ingest(_) | Error::Id(_) => K::InvalidArgument,
            Error::Identity(IdentityError::Store(_)) => K::Storage,
            Error::Identity(_) => K::Crypto,
            Error::Net(NetError::Config(_) | NetError::PayloadTooLarge { .. }) => {
                K::InvalidArgument
            }
            Error::Net(_) => K::Network,
            Error::Invite(_) => K::InvalidInvite,
            Error::Crypto(_) => K::Crypto,
            Error::Direct(d) => match d {
                DirectError::Store(_) => K::Storage,
                DirectError::NotAllowed(_) | DirectError::CannotAdmit(_) => K::NotAllowed,
                DirectError::UnknownInvite(_)
                | DirectError::InviteRevoked(_)
                | DirectError::InviteExpired(_)
                | DirectError::InviteUsedUp(_) => K::InvalidInvite,
                DirectError::NoKeyBundle(_)
                | DirectError::NotForUs(_)
                | DirectError::TooLarge { .. }
                | DirectError::Malformed(_) => K::InvalidArgument,
                _ => K::Crypto,
            },
            Error::Bundle(BundleError::Store(_)) => K::Storage,
            Error::Bundle(_) => K::InvalidArgument,
            Error::Link(LinkError::Store(_)) => K::Storage,
            Error::Link(LinkError::Mtu(_)) => K::InvalidArgument,
            Error::Link(_) => K::Network,
        }
    }
}

impl From<IdentityError> for Error {
    fn from(e: IdentityError) -> Self {
        match e {
            IdentityError::Store(s) => Error::Store(s),
            other => Error::Identity(other),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(StoreError::from(e))
    }
}

/// Result alias for the node API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for DocumentError {
    fn from(e: Error) -> Self {
        match e {
            Error::Document(d) => d,
            Error::Store(s) => DocumentError::Store(s),
            other => DocumentError::Engine(other.to_string()),
        }
    }
}

impl From<ReplicaError> for Error {
    fn from(e: ReplicaError) -> Self {
        match e {
            ReplicaError::Store(s) => Error::Store(s),
            ReplicaError::Identity(i) => Error::from(i),
            ReplicaError::Crypto(c) => Error::Crypto(c),
        }
    }
}
