//! Version vectors: for each author, the highest sequence number of its document log held.

use std::collections::BTreeMap;

use crate::base::ids::AuthorId;

/// How two replicas of a document relate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionOrdering {
    /// Both hold exactly the same operations.
    Equal,
    /// This replica holds everything the other has, and more.
    Ahead,
    /// The other replica holds everything this one has, and more.
    Behind,
    /// Each holds operations the other lacks.
    Concurrent,
}

/// Author -> highest contiguous sequence number held (document log).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<AuthorId, u32>);

impl VersionVector {
    /// An empty vector (no operations).
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `author`'s log reaches `seq`.
    pub fn set(&mut self, author: AuthorId, seq: u32) {
        self.0.insert(author, seq);
    }

    /// Highest sequence number held for `author`.
    pub fn get(&self, author: &AuthorId) -> Option<u32> {
        self.0.get(author).copied()
    }

    /// Iterates over (author, highest seq).
    pub fn iter(&self) -> impl Iterator<Item = (&AuthorId, &u32)> {
        self.0.iter()
    }

    /// Number of authors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if no operation is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Total number of operations the vector stands for.
    pub fn total_ops(&self) -> u64 {
        self.0.values().map(|s| u64::from(*s) + 1).sum()
    }

    /// Compares this replica's vector with another's.
    pub fn compare(&self, other: &VersionVector) -> VersionOrdering {
        let mut ahead = false;
        let mut behind = false;
        for (author, mine) in &self.0 {
            match other.0.get(author) {
                None => ahead = true,
                Some(theirs) if mine > theirs => ahead = true,
                Some(theirs) if mine < theirs => behind = true,
                _ => {}
            }
        }
        if other.0.keys().any(|a| !self.0.contains_key(a)) {
            behind = true;
        }
        match (ahead, behind) {
            (false, false) => VersionOrdering::Equal,
            (true, false) => VersionOrdering::Ahead,
            (false, true) => VersionOrdering::Behind,
            (true, true) => VersionOrdering::Concurrent,
        }
    }

    /// Compact encoding: 36 bytes per author (key, big-endian seq).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() * 36);
        for (a, s) in &self.0 {
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out
    }

    /// Inverse of [`VersionVector::to_bytes`]; `None` if the bytes are malformed.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if !bytes.len().is_multiple_of(36) {
            return None;
        }
        let mut vv = VersionVector::new();
        for chunk in bytes.chunks_exact(36) {
            let author = AuthorId::from_slice(&chunk[..32]).ok()?;
            let seq = u32::from_be_bytes([chunk[32], chunk[33], chunk[34], chunk[35]]);
            vv.set(author, seq);
        }
        Some(vv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p2panda_core::SigningKey;

    #[test]
    fn compare_covers_all_cases() {
        let a = AuthorId::from(SigningKey::generate().verifying_key());
        let b = AuthorId::from(SigningKey::generate().verifying_key());
        let mut x = VersionVector::new();
        let mut y = VersionVector::new();
        assert_eq!(x.compare(&y), VersionOrdering::Equal);
        x.set(a, 1);
        assert_eq!(x.compare(&y), VersionOrdering::Ahead);
        assert_eq!(y.compare(&x), VersionOrdering::Behind);
        y.set(a, 1);
        assert_eq!(x.compare(&y), VersionOrdering::Equal);
        y.set(b, 0);
        x.set(a, 2);
        assert_eq!(x.compare(&y), VersionOrdering::Concurrent);
        assert_eq!(VersionVector::from_bytes(&x.to_bytes()), Some(x));
        assert_eq!(VersionVector::from_bytes(&[1, 2, 3]), None);
    }
}
