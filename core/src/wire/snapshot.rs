//! Snapshot bodies: what a snapshot operation (log kind `Snapshot`) carries.
//!
//! ```text
//! covers count (u32 BE) | covers: author (32) seq (u32 BE) hash (32) | state body
//! ```
//!
//! `covers` names, for each author's document log, the last operation the state includes
//! (its seq and hash): a receiver that accepts the snapshot needs none of the operations up
//! to there, and the first one after chains on that hash. The covers are in clear (they
//! name what any peer sees in headers anyway) so a relay that cannot read the state can
//! still carry the snapshot and skip the operations it covers. The state is a body of
//! `body.rs` (scheme tag, then Loro's full snapshot, group-encrypted unless the document is
//! plain).

use p2panda_core::Hash;

use crate::base::ids::AuthorId;
use crate::wire::WireError;

/// Bytes of one cover entry.
const COVER_BYTES: usize = 32 + 4 + 32;
/// Most authors a snapshot may cover.
pub const MAX_COVERS: usize = 65_536;

/// A decoded snapshot body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotBody {
    /// Per author: the seq and hash of the last operation of its document log the state
    /// includes. Authors are distinct, in byte order.
    pub covers: Vec<(AuthorId, u32, Hash)>,
    /// The state, as an operation body (scheme tag and payload).
    pub state: Vec<u8>,
}

impl SnapshotBody {
    /// Ops of history the snapshot covers (seq + 1 per author).
    pub fn covered_ops(&self) -> u64 {
        self.covers.iter().map(|(_, s, _)| u64::from(*s) + 1).sum()
    }

    /// The cover of `author`'s log, if any.
    pub fn cover_of(&self, author: &AuthorId) -> Option<(u32, Hash)> {
        self.covers
            .binary_search_by(|(a, _, _)| a.cmp(author))
            .ok()
            .map(|i| (self.covers[i].1, self.covers[i].2))
    }
}

/// Encodes a snapshot body; `covers` are sorted by author.
pub fn encode(covers: &[(AuthorId, u32, Hash)], state: &[u8]) -> Vec<u8> {
    let mut sorted = covers.to_vec();
    sorted.sort_by_key(|c| c.0);
    sorted.dedup_by(|a, b| a.0 == b.0);
    let mut out = Vec::with_capacity(4 + sorted.len() * COVER_BYTES + state.len());
    out.extend_from_slice(&(sorted.len() as u32).to_be_bytes());
    for (author, seq, hash) in &sorted {
        out.extend_from_slice(author.as_bytes());
        out.extend_from_slice(&seq.to_be_bytes());
        out.extend_from_slice(hash.as_bytes());
    }
    out.extend_from_slice(state);
    out
}

/// Decodes a snapshot body: at most [`MAX_COVERS`] covers, authors strictly increasing,
/// a non-empty state.
pub fn decode(bytes: &[u8]) -> Result<SnapshotBody, WireError> {
    let bad = |m: &str| WireError::UnknownBody(format!("snapshot body: {m}"));
    let count: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("truncated"))?;
    let count = u32::from_be_bytes(count) as usize;
    if count > MAX_COVERS {
        return Err(bad("too many covered logs"));
    }
    let end = 4 + count * COVER_BYTES;
    let entries = bytes.get(4..end).ok_or_else(|| bad("truncated covers"))?;
    let mut covers: Vec<(AuthorId, u32, Hash)> = Vec::with_capacity(count);
    for chunk in entries.chunks_exact(COVER_BYTES) {
        let author = AuthorId::from_slice(&chunk[..32]).map_err(|_| bad("author"))?;
        let seq = u32::from_be_bytes([chunk[32], chunk[33], chunk[34], chunk[35]]);
        let hash: [u8; 32] = chunk[36..].try_into().map_err(|_| bad("hash"))?;
        if covers.last().is_some_and(|(last, _, _)| *last >= author) {
            return Err(bad("covered authors out of order or repeated"));
        }
        covers.push((author, seq, Hash::from_bytes(hash)));
    }
    let state = bytes[end..].to_vec();
    if state.is_empty() {
        return Err(bad("no state"));
    }
    Ok(SnapshotBody { covers, state })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(n: u8) -> AuthorId {
        AuthorId::from(p2panda_core::SigningKey::from_bytes(&[n; 32]).verifying_key())
    }

    #[test]
    fn a_body_round_trips_with_its_covers_sorted() {
        let covers = vec![
            (author(2), 7, Hash::digest(b"b")),
            (author(1), 3, Hash::digest(b"a")),
        ];
        let body = decode(&encode(&covers, &[1, 2, 3])).unwrap();
        assert_eq!(body.state, vec![1, 2, 3]);
        assert_eq!(body.covers.len(), 2);
        assert_eq!(body.covered_ops(), 12);
        assert_eq!(body.cover_of(&author(2)), Some((7, Hash::digest(b"b"))));
        assert_eq!(body.cover_of(&author(3)), None);
    }

    #[test]
    fn truncated_repeated_or_oversized_bodies_are_refused() {
        let one = encode(&[(author(1), 3, Hash::digest(b"a"))], &[1]);
        for cut in 0..one.len() {
            assert!(decode(&one[..cut]).is_err(), "cut at {cut}");
        }
        let mut repeated = encode(&[(author(1), 3, Hash::digest(b"a"))], &[]);
        repeated[3] = 2;
        let entry = repeated[4..4 + COVER_BYTES].to_vec();
        repeated.extend_from_slice(&entry);
        repeated.push(1);
        assert!(decode(&repeated).is_err());
        let mut huge = (MAX_COVERS as u32 + 1).to_be_bytes().to_vec();
        huge.push(1);
        assert!(decode(&huge).is_err());
    }
}
