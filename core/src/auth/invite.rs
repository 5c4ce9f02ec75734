//! Invite records in the control log: an admin's node publishes each invite it issues (the
//! hash of its token, when it expires, how many devices it admits) and each revocation, so
//! that every admin's node honours them. Body tag [`crate::wire::body::CONTROL_INVITE`],
//! then CBOR of [`InviteRecord`].

use serde::{Deserialize, Serialize};

use crate::auth::AuthError;

/// Format version of [`InviteRecord`].
pub(crate) const INVITE_RECORD_VERSION: u8 = 1;

/// What an invite record says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum InviteAction {
    /// An invite was issued.
    Issue {
        /// BLAKE3 of the token (the token itself never leaves the invite string).
        token_hash: [u8; 32],
        /// Milliseconds since the Unix epoch after which it admits nobody.
        expires_at_ms: i64,
        /// How many devices it admits (counted by each admitting node).
        max_uses: u32,
    },
    /// An admin admitted a device with the invite: one of its uses is spent at every admin.
    Spend {
        /// The invite.
        token_hash: [u8; 32],
    },
    /// One invite (by token hash) or, with `None`, every invite issued so far, is revoked.
    Revoke {
        /// The invite; `None`: all of the document's invites.
        token_hash: Option<[u8; 32]>,
    },
}

/// The wire form of an invite record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InviteRecord {
    /// [`INVITE_RECORD_VERSION`].
    pub(crate) v: u8,
    /// What it records.
    pub(crate) action: InviteAction,
}

impl InviteRecord {
    /// Encodes the record (without the control tag).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = ciborium::into_writer(self, &mut out);
        out
    }

    /// Decodes a record.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, AuthError> {
        let mut reader = bytes;
        let record: InviteRecord = ciborium::from_reader(&mut reader).map_err(
            |e: ciborium::de::Error<std::io::Error>| AuthError::Malformed(e.to_string()),
        )?;
        if !reader.is_empty() {
            return Err(AuthError::Malformed("trailing bytes".into()));
        }
        if record.v != INVITE_RECORD_VERSION {
            return Err(AuthError::UnsupportedVersion(record.v));
        }
        Ok(record)
    }
}

/// The hash an invite token is recorded under.
pub(crate) fn token_hash(token: &[u8]) -> [u8; 32] {
    *blake3::hash(token).as_bytes()
}
