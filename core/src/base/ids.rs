//! Identifiers: documents and authors, shown to apps as lowercase hex.

use std::fmt;
use std::str::FromStr;

use p2panda_core::{Hash, Topic, VerifyingKey};

use thiserror::Error;

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

fn invalid(kind: &'static str, value: &str, expected: usize) -> IdError {
    IdError::Invalid {
        kind,
        value: value.chars().take(80).collect(),
        expected,
    }
}

/// Identifier of a document: 32 random bytes, also its p2panda topic.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentId([u8; 32]);

impl DocumentId {
    /// A fresh random document id.
    pub fn random() -> Self {
        DocumentId(Topic::random().to_bytes())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The id with these raw bytes.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        DocumentId(bytes)
    }

    /// Builds an id from raw bytes read from storage or the network.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid("document", &hex::encode(bytes), 64))?;
        Ok(DocumentId(arr))
    }

    /// The p2panda topic of this document (topic id = document id).
    pub fn topic(&self) -> Topic {
        Topic::from(self.0)
    }

    /// The id as a p2panda hash, used inside operation extensions.
    pub fn as_hash(&self) -> Hash {
        Hash::from(self.0)
    }
}

impl From<Hash> for DocumentId {
    fn from(h: Hash) -> Self {
        DocumentId(*h.as_bytes())
    }
}

impl fmt::Display for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for DocumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentId({})", &hex::encode(&self.0[..6]))
    }
}

impl FromStr for DocumentId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut arr = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut arr).map_err(|_| invalid("document", s, 64))?;
        Ok(DocumentId(arr))
    }
}

/// Identifier of an author (a device): its Ed25519 verifying key, kept as its 32 bytes.
///
/// Construction always checks that the bytes are a valid Ed25519 point.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuthorId([u8; 32]);

impl AuthorId {
    /// The p2panda verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        // Checked at construction; `from_bytes` cannot fail on the same bytes again.
        VerifyingKey::from_bytes(&self.0).unwrap_or_else(|_| unreachable_key())
    }

    /// The raw 32 key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds an author id from raw bytes read from storage or the network.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
        VerifyingKey::try_from(bytes)
            .map(|k| AuthorId(*k.as_bytes()))
            .map_err(|_| invalid("author", &hex::encode(bytes), 64))
    }

    /// The Loro peer id derived from this key: its first eight bytes, little endian.
    pub fn loro_peer_id(&self) -> u64 {
        let b = &self.0;
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }
}

#[cold]
fn unreachable_key() -> VerifyingKey {
    // Only reachable if a validated key stopped validating, which ed25519 does not do.
    p2panda_core::SigningKey::from_bytes(&[0u8; 32]).verifying_key()
}

impl From<VerifyingKey> for AuthorId {
    fn from(k: VerifyingKey) -> Self {
        AuthorId(*k.as_bytes())
    }
}

impl fmt::Display for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorId({})", &hex::encode(&self.0[..6]))
    }
}

impl FromStr for AuthorId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut arr = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut arr).map_err(|_| invalid("author", s, 64))?;
        Self::from_slice(&arr).map_err(|_| invalid("author", s, 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_id_round_trips_and_rejects_garbage() {
        let id = DocumentId::random();
        assert_eq!(id.to_string().parse::<DocumentId>().unwrap(), id);
        assert!("abc".parse::<DocumentId>().is_err());
        assert!("zz".repeat(32).parse::<DocumentId>().is_err());
        assert!("".parse::<DocumentId>().is_err());
    }
}
