//! Roles of a document's members and how they map to `p2panda-auth` access levels.

use p2panda_auth::{Access, AccessLevel};
use serde::{Deserialize, Serialize};

/// What a device may do in a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Syncs (stores and forwards) the document's ciphertext; cannot read or write it.
    Relay,
    /// Reads the document; its updates are refused.
    Reader,
    /// Reads and writes the document.
    Writer,
    /// Writes, and adds, removes and changes the roles of members.
    Admin,
}

impl Role {
    /// The `p2panda-auth` access of this role.
    pub(crate) fn access(self) -> Access<()> {
        match self {
            Role::Relay => Access::pull(),
            Role::Reader => Access::read(),
            Role::Writer => Access::write(),
            Role::Admin => Access::manage(),
        }
    }

    /// The role of a `p2panda-auth` access level.
    pub(crate) fn of(level: &AccessLevel) -> Role {
        match level {
            AccessLevel::Pull => Role::Relay,
            AccessLevel::Read => Role::Reader,
            AccessLevel::Write => Role::Writer,
            AccessLevel::Manage => Role::Admin,
        }
    }

    /// True if this role includes reading (holds the group secret).
    pub fn can_read(self) -> bool {
        self >= Role::Reader
    }

    /// True if this role includes writing document updates.
    pub fn can_write(self) -> bool {
        self >= Role::Writer
    }

    /// True if this role may change membership and roles.
    pub fn can_manage(self) -> bool {
        self == Role::Admin
    }

    /// The lowercase name (`admin`, `writer`, `reader`, `relay`).
    pub fn name(self) -> &'static str {
        match self {
            Role::Relay => "relay",
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "relay" => Ok(Role::Relay),
            "reader" => Ok(Role::Reader),
            "writer" => Ok(Role::Writer),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?} (expected admin, writer, reader or relay)"
            )),
        }
    }
}
