//! Snapshot bodies: what a snapshot operation (log kind `Snapshot`) carries.
//!
//! ```text
//! "FSS2" | covers count (u16 BE) | covers: header length (u16 BE) header | state body
//! ```
//!
//! (Bodies of the first format, before signed covers, have no tag and are refused.)
//!
//! Each cover is the signed header of the last operation of one author's document log that
//! the state includes: a receiver that accepts the snapshot needs none of that log's
//! operations up to there, and the next one chains on the header's hash. Because the cover
//! is the covered author's own signature, a snapshot's author cannot name positions nobody
//! signed: the base it gives a log is a real operation of that log, so the log's next
//! operation chains on it, a cover of another branch is a fork proof, and nobody can cover
//! a log past what its author wrote. The covers are in clear (they are headers any peer
//! sees anyway) so a relay that cannot read the state can still carry the snapshot. The
//! state is a body of `body.rs` (scheme tag, then Loro's full snapshot, group-encrypted
//! unless the document is plain).

use p2panda_core::Hash;

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::wire::operation::{signed_header, stored_header, FsHeader};
use crate::wire::WireError;

/// Most authors a snapshot may cover.
pub const MAX_COVERS: usize = 4096;
/// Largest encoded header a cover may carry.
pub const MAX_COVER_HEADER: usize = 2048;
/// The format tag every snapshot body starts with.
const FORMAT: &[u8; 4] = b"FSS2";

/// One covered log: the signed header of the last operation the state includes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cover {
    /// The covered log's author.
    pub author: AuthorId,
    /// The covered operation's seq.
    pub seq: u32,
    /// The covered operation's hash.
    pub hash: Hash,
    /// Its encoded header, as signed by `author`.
    pub header: Vec<u8>,
}

impl Cover {
    /// A cover from an operation's encoded header (not checked: see [`decode`]).
    pub fn from_header(header: &[u8]) -> Result<Cover, WireError> {
        Ok(Self::of(&stored_header(header)?, header))
    }

    fn of(h: &FsHeader, bytes: &[u8]) -> Cover {
        Cover {
            author: AuthorId::from(h.verifying_key),
            seq: h.seq_num,
            hash: h.hash(),
            header: bytes.to_vec(),
        }
    }
}

/// A decoded snapshot body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotBody {
    /// One cover per author, in author order.
    pub covers: Vec<Cover>,
    /// The state, as an operation body (scheme tag and payload).
    pub state: Vec<u8>,
}

impl SnapshotBody {
    /// Ops of history the snapshot covers (seq + 1 per author).
    pub fn covered_ops(&self) -> u64 {
        self.covers.iter().map(|c| u64::from(c.seq) + 1).sum()
    }

    /// The cover of `author`'s log, if any.
    pub fn cover_of(&self, author: &AuthorId) -> Option<&Cover> {
        self.covers
            .binary_search_by(|c| c.author.cmp(author))
            .ok()
            .map(|i| &self.covers[i])
    }
}

/// Encodes a snapshot body; `covers` are sorted by author (one per author kept).
pub fn encode(covers: &[Cover], state: &[u8]) -> Vec<u8> {
    let mut sorted: Vec<&Cover> = covers.iter().collect();
    sorted.sort_by_key(|c| c.author);
    sorted.dedup_by(|a, b| a.author == b.author);
    let size: usize = sorted.iter().map(|c| 2 + c.header.len()).sum();
    let mut out = Vec::with_capacity(6 + size + state.len());
    out.extend_from_slice(FORMAT);
    out.extend_from_slice(&(sorted.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    for c in sorted {
        out.extend_from_slice(&(c.header.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.extend_from_slice(&c.header);
    }
    out.extend_from_slice(state);
    out
}

/// Decodes a received snapshot body of `document`: at most [`MAX_COVERS`] covers, each a
/// header of a document log of `document` whose signature holds, authors strictly
/// increasing, a non-empty state.
pub fn decode(bytes: &[u8], document: DocumentId) -> Result<SnapshotBody, WireError> {
    parse(bytes, |h| {
        let header = signed_header(h, MAX_COVER_HEADER, "snapshot cover")?;
        if DocumentId::from(header.extensions.document) != document
            || header.extensions.kind != LogKind::Delta
        {
            return Err(WireError::UnknownBody(
                "snapshot body: a cover of another log".into(),
            ));
        }
        Ok(header)
    })
}

/// Decodes a snapshot body this node checked with [`decode`] before it stored it (the
/// covers' signatures are not checked again).
pub fn decode_stored(bytes: &[u8]) -> Result<SnapshotBody, WireError> {
    parse(bytes, stored_header)
}

fn parse(
    bytes: &[u8],
    header: impl Fn(&[u8]) -> Result<FsHeader, WireError>,
) -> Result<SnapshotBody, WireError> {
    let bad = |m: &str| WireError::UnknownBody(format!("snapshot body: {m}"));
    let mut rest = bytes;
    let mut take = |n: usize| -> Result<&[u8], WireError> {
        if rest.len() < n {
            return Err(bad("truncated"));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let u16_at = |b: &[u8]| usize::from(u16::from_be_bytes([b[0], b[1]]));
    if take(4)? != FORMAT {
        return Err(bad("unknown format"));
    }
    let count = u16_at(take(2)?);
    if count > MAX_COVERS {
        return Err(bad("too many covered logs"));
    }
    let mut covers: Vec<Cover> = Vec::with_capacity(count);
    for _ in 0..count {
        let len = u16_at(take(2)?);
        let bytes = take(len)?;
        let cover = Cover::of(&header(bytes)?, bytes);
        if covers
            .last()
            .is_some_and(|last| last.author >= cover.author)
        {
            return Err(bad("covered authors out of order or repeated"));
        }
        covers.push(cover);
    }
    let state = rest.to_vec();
    if state.is_empty() {
        return Err(bad("no state"));
    }
    Ok(SnapshotBody { covers, state })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::operation::build_operation;

    fn key(n: u8) -> p2panda_core::SigningKey {
        p2panda_core::SigningKey::from_bytes(&[n; 32])
    }

    fn doc() -> DocumentId {
        DocumentId::from(Hash::digest(b"doc"))
    }

    /// The cover of a delta operation at seq 0 of `key`'s log of `document`.
    fn cover(key: &p2panda_core::SigningKey, document: DocumentId, kind: LogKind) -> Cover {
        let op = build_operation(key, document, kind, None, b"x".to_vec());
        Cover::from_header(&op.header.encode()).unwrap()
    }

    #[test]
    fn a_body_round_trips_with_its_covers_sorted() {
        let covers = vec![
            cover(&key(2), doc(), LogKind::Delta),
            cover(&key(1), doc(), LogKind::Delta),
        ];
        let body = decode(&encode(&covers, &[1, 2, 3]), doc()).unwrap();
        assert_eq!(body.state, vec![1, 2, 3]);
        assert_eq!(body.covers.len(), 2);
        assert!(body.covers[0].author < body.covers[1].author);
        assert_eq!(body.covered_ops(), 2);
        assert_eq!(body.cover_of(&covers[0].author), Some(&covers[0]));
        assert_eq!(
            body.cover_of(&cover(&key(3), doc(), LogKind::Delta).author),
            None
        );
        assert_eq!(
            decode_stored(&encode(&covers, &[1])).unwrap().covers,
            body.covers
        );
    }

    #[test]
    fn covers_of_another_log_or_with_a_broken_signature_are_refused() {
        let other = DocumentId::from(Hash::digest(b"other"));
        for (what, c) in [
            ("another document", cover(&key(1), other, LogKind::Delta)),
            ("a control log", cover(&key(1), doc(), LogKind::Control)),
        ] {
            assert!(decode(&encode(&[c], &[1]), doc()).is_err(), "{what}");
        }
        let good = encode(&[cover(&key(1), doc(), LogKind::Delta)], &[1]);
        // Every byte of the header is signed (or makes it malformed).
        let header_len = u16::from_be_bytes([good[6], good[7]]) as usize;
        for i in 8..8 + header_len {
            let mut bad = good.clone();
            bad[i] ^= 1;
            assert!(decode(&bad, doc()).is_err(), "byte {i} flipped");
        }
    }

    #[test]
    fn truncated_repeated_or_oversized_bodies_are_refused() {
        let one = encode(&[cover(&key(1), doc(), LogKind::Delta)], &[1]);
        for cut in 0..one.len() {
            assert!(decode(&one[..cut], doc()).is_err(), "cut at {cut}");
        }
        let c = cover(&key(1), doc(), LogKind::Delta);
        let mut repeated = b"FSS2".to_vec();
        repeated.extend_from_slice(&[0, 2]);
        for _ in 0..2 {
            repeated.extend_from_slice(&(c.header.len() as u16).to_be_bytes());
            repeated.extend_from_slice(&c.header);
        }
        repeated.push(1);
        assert!(decode(&repeated, doc()).is_err());
        let mut huge = b"FSS2".to_vec();
        huge.extend_from_slice(&(MAX_COVERS as u16 + 1).to_be_bytes());
        huge.push(1);
        assert!(decode(&huge, doc()).is_err());
    }
}
