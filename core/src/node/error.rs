//! The facade's error: one enum over every layer's error, each converted by a typed `From`.

use thiserror::Error;

use crate::base::ids::IdError;
use crate::crypto::CryptoError;
use crate::direct::DirectError;
use crate::document::DocumentError;
use crate::net::NetError;
use crate::replica::{IdentityError, IngestError, ReplicaError};
use crate::store::StoreError;
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
