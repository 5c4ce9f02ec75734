//! Errors of the authorization layer.

use thiserror::Error;

use crate::auth::Role;
use crate::base::ids::AuthorId;

/// Why an auth operation, or an operation checked against the roles, was refused.
#[derive(Debug, Error)]
pub enum AuthError {
    /// The auth operation's bytes do not decode.
    #[error("malformed auth operation: {0}")]
    Malformed(String),

    /// The auth operation's format version is not supported.
    #[error("unsupported auth operation version {0}")]
    UnsupportedVersion(u8),

    /// A "create" that is not this document's genesis (another key or nonce, or not the
    /// creator's first control operation), or a second create.
    #[error("not the genesis of this document")]
    NotGenesis,

    /// The operation depends on auth operations this replica does not hold yet.
    #[error("depends on {0} auth operation(s) not received yet")]
    MissingDependencies(usize),

    /// The author's role does not allow the operation.
    #[error("{author} may not do this: it needs the {needed} role")]
    NotAllowed {
        /// Who tried.
        author: AuthorId,
        /// The role it needs.
        needed: Role,
    },

    /// The author was removed (or demoted below writer) and this update came after the
    /// removal.
    #[error("{author} lost write access before seq {seq}")]
    Revoked {
        /// Who wrote it.
        author: AuthorId,
        /// Its position in the author's document log.
        seq: u32,
    },

    /// `p2panda-auth` refused the operation (e.g. adding a member twice).
    #[error("refused by the group: {0}")]
    Refused(String),
}
