//! Fork proofs: two signed headers of one author that cannot both belong to one log, and
//! their codec (sent to peers at the start of a catch-up).
//!
//! An author *forks* (equivocates on) a log when it signs two different operations for one
//! position of it. Two headers prove that if both are validly signed by the same author for
//! the same document and log kind, and either
//! - they claim the same seq and differ (different hashes), or
//! - one claims seq `s + 1` and its backlink names another operation than the other one,
//!   which claims seq `s`: the author signed two operations at `s`.
//!
//! Either way the fork is at seq `s`, the lower of the two. The proof is checked from the
//! bytes alone, so every replica reaches the same verdict on the same bytes.

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::wire::operation::{signed_header, FsHeader};
use crate::wire::WireError;

/// Largest encoded header a fork proof may carry.
pub const MAX_PROOF_HEADER: usize = 2048;
/// Largest encoded fork proof: two headers and their length prefixes.
pub const MAX_PROOF_BYTES: usize = 4 + 2 * MAX_PROOF_HEADER;

/// What a valid fork proof shows: `author`'s `kind` log of `document` forked at `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fork {
    /// The equivocating author.
    pub author: AuthorId,
    /// The document.
    pub document: DocumentId,
    /// Which of its logs.
    pub kind: LogKind,
    /// The position the author signed twice.
    pub seq: u32,
}

fn header(bytes: &[u8]) -> Result<FsHeader, WireError> {
    signed_header(bytes, MAX_PROOF_HEADER, "fork proof")
}

/// Checks that the encoded headers `a` and `b` (in any order) prove a fork (see the module
/// docs) and says which.
pub fn verify(a: &[u8], b: &[u8]) -> Result<Fork, WireError> {
    let (a, b) = (header(a)?, header(b)?);
    let invalid = |m: &str| {
        Err(WireError::InvalidOperation(format!(
            "not a fork proof: {m}"
        )))
    };
    if a.verifying_key != b.verifying_key {
        return invalid("two authors");
    }
    if a.extensions.document != b.extensions.document || a.extensions.kind != b.extensions.kind {
        return invalid("two logs");
    }
    let (low, high) = if a.seq_num <= b.seq_num {
        (a, b)
    } else {
        (b, a)
    };
    let forked = if low.seq_num == high.seq_num {
        low.hash() != high.hash()
    } else {
        low.seq_num.checked_add(1) == Some(high.seq_num)
            && high.backlink.is_some_and(|link| link != low.hash())
    };
    if !forked {
        return invalid("the headers can belong to one log");
    }
    Ok(Fork {
        author: AuthorId::from(low.verifying_key),
        document: DocumentId::from(low.extensions.document),
        kind: low.extensions.kind,
        seq: low.seq_num,
    })
}

/// Encodes a proof: `len(a) u16 | a | len(b) u16 | b`.
pub fn encode(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + a.len() + b.len());
    for h in [a, b] {
        out.extend_from_slice(&(h.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        out.extend_from_slice(h);
    }
    out
}

/// Decodes a proof made by [`encode`] into its two headers (not yet verified).
pub fn decode(bytes: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let bad = || WireError::Malformed("fork proof".into());
    let mut rest = bytes;
    let mut take = || -> Result<&[u8], WireError> {
        let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
        let len = usize::from(u16::from_be_bytes(*len));
        if len > MAX_PROOF_HEADER || tail.len() < len {
            return Err(bad());
        }
        let (h, tail) = tail.split_at(len);
        rest = tail;
        Ok(h)
    };
    let a = take()?;
    let b = take()?;
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::operation::build_operation;
    use p2panda_core::SigningKey;

    #[test]
    fn proofs_of_both_shapes_verify_and_non_forks_do_not() {
        let key = SigningKey::generate();
        let doc = DocumentId::from(p2panda_core::Hash::digest(b"doc"));
        let op0 = build_operation(&key, doc, LogKind::Delta, None, b"x".to_vec());
        let other0 = build_operation(&key, doc, LogKind::Delta, None, b"y".to_vec());
        let op1 = build_operation(
            &key,
            doc,
            LogKind::Delta,
            Some((0, op0.hash)),
            b"z".to_vec(),
        );
        let on_other = build_operation(
            &key,
            doc,
            LogKind::Delta,
            Some((0, other0.hash)),
            b"w".to_vec(),
        );
        let h = |op: &crate::wire::operation::FsOperation| op.header.encode();
        let expected = Fork {
            author: AuthorId::from(key.verifying_key()),
            document: doc,
            kind: LogKind::Delta,
            seq: 0,
        };
        // Same seq, two operations; in either order.
        assert_eq!(verify(&h(&op0), &h(&other0)).unwrap(), expected);
        assert_eq!(verify(&h(&other0), &h(&op0)).unwrap(), expected);
        // A successor whose backlink names another operation at seq 0.
        assert_eq!(verify(&h(&op0), &h(&on_other)).unwrap(), expected);
        assert_eq!(verify(&h(&on_other), &h(&op0)).unwrap(), expected);
        // One log: the same header twice, or a successor chained on it.
        assert!(verify(&h(&op0), &h(&op0)).is_err());
        assert!(verify(&h(&op0), &h(&op1)).is_err());
        // Two authors, two documents, two log kinds.
        let mallory = SigningKey::generate();
        let theirs = build_operation(&mallory, doc, LogKind::Delta, None, b"y".to_vec());
        assert!(verify(&h(&op0), &h(&theirs)).is_err());
        let doc2 = DocumentId::from(p2panda_core::Hash::digest(b"doc2"));
        let elsewhere = build_operation(&key, doc2, LogKind::Delta, None, b"y".to_vec());
        assert!(verify(&h(&op0), &h(&elsewhere)).is_err());
        let control = build_operation(&key, doc, LogKind::Control, None, b"y".to_vec());
        assert!(verify(&h(&op0), &h(&control)).is_err());
        // A header whose signature does not hold.
        let mut forged = h(&other0);
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(verify(&h(&op0), &forged).is_err());
        // The codec round-trips and refuses garbage.
        let bytes = encode(&h(&op0), &h(&other0));
        let (a, b) = decode(&bytes).unwrap();
        assert_eq!((a, b), (&h(&op0)[..], &h(&other0)[..]));
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode(&[bytes.as_slice(), &[0]].concat()).is_err());
        assert!(decode(&[]).is_err());
    }
}
