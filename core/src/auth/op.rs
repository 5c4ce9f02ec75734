//! Auth operations: the control bodies that change roles, their wire format, and their form
//! for `p2panda-auth`.
//!
//! Wire (after the control tag byte): CBOR of [`AuthWire`]. Members are individual devices;
//! nested groups are not part of the format, so a peer cannot introduce one.

use p2panda_auth::group::{GroupAction, GroupMember};
use p2panda_auth::traits::Operation;
use p2panda_core::traits::Author;
use p2panda_core::Hash;
use serde::{Deserialize, Serialize};

use crate::auth::{AuthError, Role};
use crate::base::ids::{AuthorId, DocumentId};

/// Format version of [`AuthWire`].
pub(crate) const AUTH_VERSION: u8 = 1;

/// Largest number of dependencies an auth operation may name (the heads of the auth graph
/// when it was written; a handful in practice).
pub(crate) const MAX_DEPENDENCIES: usize = 64;

/// An identity in `p2panda-auth`'s terms: a device key, or the document (the group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) struct Principal(pub(crate) [u8; 32]);

impl Author for Principal {}

impl From<&AuthorId> for Principal {
    fn from(a: &AuthorId) -> Self {
        Principal(*a.as_bytes())
    }
}

impl From<DocumentId> for Principal {
    fn from(d: DocumentId) -> Self {
        Principal(*d.as_bytes())
    }
}

/// What an auth operation does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Action {
    /// The genesis: the author becomes the first admin. `nonce` derives the document id.
    Create {
        /// With the creator's key, derives the document id.
        nonce: [u8; 32],
    },
    /// Adds `member` with `role`.
    Add {
        /// The device added.
        member: [u8; 32],
        /// Its role.
        role: Role,
    },
    /// Removes `member`; its document-log operations after `keep_until` are refused.
    Remove {
        /// The device removed.
        member: [u8; 32],
        /// Highest seq of its document log the remover held (`None`: it had written none).
        keep_until: Option<u32>,
    },
    /// Raises `member` to `role`.
    Promote {
        /// The device promoted.
        member: [u8; 32],
        /// Its new role.
        role: Role,
    },
    /// Lowers `member` to `role`; below writer, its later updates are refused like a
    /// removal's.
    Demote {
        /// The device demoted.
        member: [u8; 32],
        /// Its new role.
        role: Role,
        /// As for [`Action::Remove`].
        keep_until: Option<u32>,
    },
}

impl Action {
    /// The member an action is about (none for the genesis).
    pub(crate) fn member(&self) -> Option<AuthorId> {
        match self {
            Action::Create { .. } => None,
            Action::Add { member, .. }
            | Action::Remove { member, .. }
            | Action::Promote { member, .. }
            | Action::Demote { member, .. } => AuthorId::from_slice(member).ok(),
        }
    }

    /// For a removal or demotion below writer: the kept part of the member's document log.
    pub(crate) fn revocation(&self) -> Option<Option<u32>> {
        match self {
            Action::Remove { keep_until, .. } => Some(*keep_until),
            Action::Demote {
                role, keep_until, ..
            } if !role.can_write() => Some(*keep_until),
            _ => None,
        }
    }
}

/// The wire form of an auth operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuthWire {
    /// [`AUTH_VERSION`].
    pub(crate) v: u8,
    /// The heads of the auth graph its author held (empty for the genesis).
    pub(crate) deps: Vec<[u8; 32]>,
    /// What it does.
    pub(crate) action: Action,
}

impl AuthWire {
    /// Encodes the operation (without the control tag).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Serializing owned, bounded data into a Vec cannot fail.
        let _ = ciborium::into_writer(self, &mut out);
        out
    }

    /// Decodes and checks the shape of an auth operation.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, AuthError> {
        let mut reader = bytes;
        let wire: AuthWire = ciborium::from_reader(&mut reader).map_err(
            |e: ciborium::de::Error<std::io::Error>| AuthError::Malformed(e.to_string()),
        )?;
        if !reader.is_empty() {
            return Err(AuthError::Malformed(format!(
                "{} trailing bytes",
                reader.len()
            )));
        }
        if wire.v != AUTH_VERSION {
            return Err(AuthError::UnsupportedVersion(wire.v));
        }
        if wire.deps.len() > MAX_DEPENDENCIES {
            return Err(AuthError::Malformed(format!(
                "{} dependencies (at most {MAX_DEPENDENCIES})",
                wire.deps.len()
            )));
        }
        let genesis = matches!(wire.action, Action::Create { .. });
        if genesis != wire.deps.is_empty() {
            return Err(AuthError::Malformed(
                "only the genesis has no dependencies".into(),
            ));
        }
        if let Some(member) = match &wire.action {
            Action::Create { .. } => None,
            Action::Add { member, .. }
            | Action::Remove { member, .. }
            | Action::Promote { member, .. }
            | Action::Demote { member, .. } => Some(member),
        } {
            AuthorId::from_slice(member)
                .map_err(|_| AuthError::Malformed("member is not a device key".into()))?;
        }
        Ok(wire)
    }
}

/// An auth operation as `p2panda-auth` sees it: the authenticated author and the hash of
/// the signed operation that carried it.
#[derive(Clone, Debug)]
pub(crate) struct AuthOperation {
    pub(crate) id: Hash,
    pub(crate) author: Principal,
    pub(crate) group: Principal,
    pub(crate) deps: Vec<Hash>,
    pub(crate) action: GroupAction<Principal, ()>,
}

impl AuthOperation {
    /// The operation `wire`, carried by the operation `id` of `author` in `document`.
    pub(crate) fn new(id: Hash, author: &AuthorId, document: DocumentId, wire: &AuthWire) -> Self {
        let individual = |m: &[u8; 32]| GroupMember::Individual(Principal(*m));
        let action = match &wire.action {
            Action::Create { .. } => GroupAction::Create {
                initial_members: vec![(
                    GroupMember::Individual(Principal::from(author)),
                    Role::Admin.access(),
                )],
            },
            Action::Add { member, role } => GroupAction::Add {
                member: individual(member),
                access: role.access(),
            },
            Action::Remove { member, .. } => GroupAction::Remove {
                member: individual(member),
            },
            Action::Promote { member, role } => GroupAction::Promote {
                member: individual(member),
                access: role.access(),
            },
            Action::Demote { member, role, .. } => GroupAction::Demote {
                member: individual(member),
                access: role.access(),
            },
        };
        AuthOperation {
            id,
            author: Principal::from(author),
            group: Principal::from(document),
            deps: wire.deps.iter().map(|d| Hash::from_bytes(*d)).collect(),
            action,
        }
    }
}

impl Operation<Principal, Hash, ()> for AuthOperation {
    fn id(&self) -> Hash {
        self.id
    }

    fn author(&self) -> Principal {
        self.author
    }

    fn dependencies(&self) -> Vec<Hash> {
        self.deps.clone()
    }

    fn group_id(&self) -> Principal {
        self.group
    }

    fn action(&self) -> GroupAction<Principal, ()> {
        self.action.clone()
    }
}
