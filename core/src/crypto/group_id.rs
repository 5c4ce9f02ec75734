//! Identifier of an encryption group (one per document).

use std::fmt;

use p2panda_core::Hash;
use p2panda_encryption::Rng;
use serde::{Deserialize, Serialize};

use super::error::CryptoError;

/// 32-byte identifier of a [`DocumentGroup`](super::DocumentGroup).
///
/// Every control message and every ciphertext envelope carries it, so data meant for another
/// group is detected ([`CryptoError::WrongGroup`]). Usually derived from the document id
/// (`GroupId::from(hash)`), or random ([`GroupId::random`]).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupId(#[serde(with = "serde_bytes")] [u8; 32]);

impl GroupId {
    /// Length of a group id in bytes.
    pub const LEN: usize = 32;

    /// Wraps 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Generates a random group id from the OS random number generator.
    pub fn random() -> Result<Self, CryptoError> {
        Ok(Self(Rng::default().random_array()?))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<Hash> for GroupId {
    fn from(hash: Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({self})")
    }
}
