//! The one app-facing error enum and its mapping from the core's per-layer errors.
//!
//! Every core error is converted here, in [`From<fieldsync::Error>`](#impl-From<Error>-for-FieldSyncError),
//! and nowhere else: the per-layer `From` impls only wrap their error into
//! [`fieldsync::Error`] first. Variants are chosen by what an app can *do* about them, not by
//! where they come from.

use fieldsync::{
    BundleError, DirectError, DocumentError, Error, ErrorKind, IdError, IdentityError, IngestError,
    InviteError, LinkError, NetError, StoreError,
};

/// An error returned to the app (Kotlin: `FieldSyncException.<Variant>`, Swift:
/// `FieldSyncError.<variant>`). Branch on the variant or on `FieldSyncError.code` (stable
/// across versions); the message (Kotlin `message` / `toString()`, Swift `description` /
/// `localizedDescription`) reads "not found: document 3f2a…" and is for logs and people, not
/// for parsing.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi::export(Display)]
pub enum FieldSyncError {
    /// The document (or other object) does not exist on this node, or was deleted.
    #[error("not found: {reason}")]
    NotFound {
        /// What was not found.
        reason: String,
    },
    /// An argument given by the app is not acceptable: malformed id, empty or oversized string,
    /// index out of bounds, non-finite number. Fix the call; retrying does not help.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong with the argument.
        reason: String,
    },
    /// An invite string could not be parsed or does not fit this node.
    #[error("invalid invite: {reason}")]
    InvalidInvite {
        /// What is wrong with the invite.
        reason: String,
    },
    /// The network could not be started or a peer could not be reached. Usually transient.
    #[error("network error: {reason}")]
    Network {
        /// What failed.
        reason: String,
    },
    /// The local database failed (disk full, corrupt file, unwritable directory).
    #[error("storage error: {reason}")]
    Storage {
        /// What failed.
        reason: String,
    },
    /// The store key from the app's key store does not open this node's database (another
    /// device's key, or a key store that lost or replaced it). Nothing was changed: with the
    /// right key the node opens. A new node needs a new data directory.
    #[error("wrong store key: {reason}")]
    WrongKey {
        /// What failed.
        reason: String,
    },
    /// Another node (in this process or another one) has this data directory open. Close it
    /// first; one node per data directory.
    #[error("busy: {reason}")]
    Busy {
        /// Which directory.
        reason: String,
    },
    /// Key material is missing or malformed, the app's key store failed, or decryption failed.
    #[error("crypto error: {reason}")]
    Crypto {
        /// What failed.
        reason: String,
    },
    /// This device's role in the document does not allow the call: a reader editing, a
    /// writer changing members, a removed member writing. Nothing changed; an admin can
    /// change the role.
    #[error("not allowed: {reason}")]
    NotAllowed {
        /// What was refused and which role it needs.
        reason: String,
    },
    /// The node was shut down; open a new one.
    #[error("closed: {reason}")]
    Closed {
        /// What was closed.
        reason: String,
    },
    /// A bug in FieldSync (including a caught panic). Please report it with the reason.
    #[error("internal error: {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
}

#[uniffi::export]
impl FieldSyncError {
    /// A stable code for the variant, for analytics and for branching across versions:
    /// `not_found`, `invalid_argument`, `invalid_invite`, `network`, `storage`, `wrong_key`,
    /// `busy`, `crypto`, `not_allowed`, `closed`, `internal`. Codes are never renamed or reused;
    /// new variants get new codes.
    pub fn code(&self) -> String {
        match self {
            FieldSyncError::NotFound { .. } => "not_found",
            FieldSyncError::InvalidArgument { .. } => "invalid_argument",
            FieldSyncError::InvalidInvite { .. } => "invalid_invite",
            FieldSyncError::Network { .. } => "network",
            FieldSyncError::Storage { .. } => "storage",
            FieldSyncError::WrongKey { .. } => "wrong_key",
            FieldSyncError::Busy { .. } => "busy",
            FieldSyncError::Crypto { .. } => "crypto",
            FieldSyncError::NotAllowed { .. } => "not_allowed",
            FieldSyncError::Closed { .. } => "closed",
            FieldSyncError::Internal { .. } => "internal",
        }
        .to_string()
    }
}

impl FieldSyncError {
    /// Shorthand for `FieldSyncError.InvalidArgument`.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        FieldSyncError::InvalidArgument {
            reason: reason.into(),
        }
    }

    /// Shorthand for `FieldSyncError.Internal`.
    pub(crate) fn internal(reason: impl Into<String>) -> Self {
        FieldSyncError::Internal {
            reason: reason.into(),
        }
    }

    /// The error returned by every call on a node after `crate.Node.shutdown`.
    pub(crate) fn closed() -> Self {
        FieldSyncError::Closed {
            reason: "the node was shut down".into(),
        }
    }
}

/// The single mapping from core errors to app-facing errors: by the core's
/// [`fieldsync::ErrorKind`], the classification the CLI's exit codes use too.
impl From<Error> for FieldSyncError {
    fn from(e: Error) -> Self {
        let reason = e.to_string();
        match e.kind() {
            ErrorKind::NotFound => FieldSyncError::NotFound { reason },
            ErrorKind::InvalidArgument => FieldSyncError::InvalidArgument { reason },
            ErrorKind::InvalidInvite => FieldSyncError::InvalidInvite { reason },
            ErrorKind::Network => FieldSyncError::Network { reason },
            ErrorKind::Storage => FieldSyncError::Storage { reason },
            ErrorKind::WrongKey => FieldSyncError::WrongKey { reason },
            ErrorKind::Busy => FieldSyncError::Busy { reason },
            ErrorKind::Crypto => FieldSyncError::Crypto { reason },
            ErrorKind::NotAllowed => FieldSyncError::NotAllowed { reason },
            ErrorKind::Internal => FieldSyncError::Internal { reason },
        }
    }
}

macro_rules! via_core_error {
    ($($t:ty),*) => {$(
        impl From<$t> for FieldSyncError {
            fn from(e: $t) -> Self {
                FieldSyncError::from(Error::from(e))
            }
        }
    )*};
}

via_core_error!(
    StoreError,
    DocumentError,
    IngestError,
    IdError,
    IdentityError,
    NetError,
    InviteError,
    DirectError,
    BundleError,
    LinkError
);

/// A foreign implementation of a callback trait threw something that is not a
/// `FieldSyncError` (Kotlin: any other exception; Swift: any other `Error`).
impl From<uniffi::UnexpectedUniFFICallbackError> for FieldSyncError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        FieldSyncError::internal(format!("app callback failed: {}", e.reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_actionable_kinds() {
        let id: fieldsync::DocumentId = "00".repeat(32).parse().unwrap();
        assert!(matches!(
            FieldSyncError::from(DocumentError::NotFound(id)),
            FieldSyncError::NotFound { .. }
        ));
        assert!(matches!(
            FieldSyncError::from(DocumentError::OutOfBounds { index: 3, len: 1 }),
            FieldSyncError::InvalidArgument { .. }
        ));
        assert!(matches!(
            FieldSyncError::from("xyz".parse::<fieldsync::DocumentId>().unwrap_err()),
            FieldSyncError::InvalidArgument { .. }
        ));
        assert!(matches!(
            FieldSyncError::from(IdentityError::Malformed),
            FieldSyncError::Crypto { .. }
        ));
        assert!(matches!(
            FieldSyncError::from(StoreError::Corrupt("x".into())),
            FieldSyncError::Storage { .. }
        ));
    }
}
