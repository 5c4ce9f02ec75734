//! Fork proofs (`core/src/wire/fork.rs`): two signed headers a peer sends at the start of a
//! catch-up to show an author signed two operations for one position of a log.
//!
//! Input: head (1) | rest.
//! - head bit 0 clear: rest is a proof as received. `decode` never panics; what it accepts
//!   re-encodes to the same bytes; `verify` of its headers never panics and gives the same
//!   verdict in either order.
//! - head bit 0 set: rest describes two operations the target signs (see [`Reader`]): for each,
//!   the signer (one of two fixed keys), the document (one of two), the kind, whether it
//!   chains on a previous operation (seq 1 on one of two seq-0 operations) or is at seq 0 with
//!   one of two bodies. The verdict must be the rule's: a fork exactly when the signers,
//!   documents and kinds agree and the headers cannot belong to one log; then at seq 0. The
//!   proof round-trips through `encode` / `decode`, and a flipped byte of a header is refused
//!   or still gives a verdict consistent with the rule on the bytes it then holds.

#![no_main]

use fieldsync::internals::fork::{decode, encode, verify, Fork};
use fieldsync::internals::operation::{build_operation, LogKind};
use fieldsync::{AuthorId, DocumentId};
use libfuzzer_sys::fuzz_target;
use p2panda_core::{Hash, SigningKey};

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
}

/// One operation's description: signer, document, kind, and its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    signer: u8,
    document: u8,
    control: bool,
    /// `None`: seq 0 with body `body`; `Some(b)`: seq 1 chained on the seq-0 operation with
    /// body `b` of the same signer, document and kind.
    chained_on: Option<u8>,
    body: u8,
}

fn shape(r: &mut Reader) -> Shape {
    let e = r.byte();
    Shape {
        signer: e & 1,
        document: (e >> 1) & 1,
        control: (e >> 2) & 1 == 1,
        chained_on: ((e >> 3) & 1 == 1).then_some((e >> 4) & 1),
        body: (e >> 5) & 1,
    }
}

fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[0xA0 + i; 32])
}

fn document(i: u8) -> DocumentId {
    DocumentId::from(Hash::digest([0xD0 + i]))
}

fn kind(s: &Shape) -> LogKind {
    if s.control {
        LogKind::Control
    } else {
        LogKind::Delta
    }
}

/// The encoded header of the operation `s` describes.
fn header(s: &Shape) -> Vec<u8> {
    let (k, d, kind) = (key(s.signer), document(s.document), kind(s));
    let op = match s.chained_on {
        None => build_operation(&k, d, kind, None, vec![s.body]),
        Some(base) => {
            let prev = build_operation(&k, d, kind, None, vec![base]);
            build_operation(&k, d, kind, Some((0, prev.hash)), vec![2 + s.body])
        }
    };
    op.header.encode()
}

/// The rule, from the descriptions alone.
fn expected(a: &Shape, b: &Shape) -> Option<Fork> {
    if a.signer != b.signer || a.document != b.document || a.control != b.control {
        return None;
    }
    let forked = match (a.chained_on, b.chained_on) {
        (None, None) => a.body != b.body,
        (Some(x), Some(y)) => x != y || a.body != b.body,
        (None, Some(base)) | (Some(base), None) => {
            let at0 = if a.chained_on.is_none() { a } else { b };
            base != at0.body
        }
    };
    // Two seq-1 operations claim the same seq: a fork at 1, not 0.
    let seq = match (a.chained_on, b.chained_on) {
        (Some(_), Some(_)) => 1,
        _ => 0,
    };
    forked.then(|| Fork {
        author: AuthorId::from(key(a.signer).verifying_key()),
        document: document(a.document),
        kind: kind(a),
        seq,
    })
}

fn raw(bytes: &[u8]) {
    let Ok((a, b)) = decode(bytes) else {
        return;
    };
    assert_eq!(encode(a, b), bytes, "decode accepted a non-canonical proof");
    let ab = verify(a, b).ok();
    let ba = verify(b, a).ok();
    assert_eq!(ab, ba, "the verdict depends on the order");
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    if head & 1 == 0 {
        raw(rest);
        return;
    }
    let mut r = Reader(rest);
    let (sa, sb) = (shape(&mut r), shape(&mut r));
    let (ha, hb) = (header(&sa), header(&sb));
    let verdict = verify(&ha, &hb).ok();
    assert_eq!(verdict, expected(&sa, &sb), "{sa:?} / {sb:?}");
    let proof = encode(&ha, &hb);
    assert_eq!(decode(&proof).ok(), Some((&ha[..], &hb[..])));
    // A flipped byte: refused, or (a signature that still holds cannot be made) the same
    // verdict in both orders.
    let at = usize::from(r.byte()) % ha.len();
    let mut flipped = ha.clone();
    flipped[at] ^= 1 << (r.byte() % 8);
    let f = verify(&flipped, &hb).ok();
    assert_eq!(f, verify(&hb, &flipped).ok());
    if f.is_some() {
        assert_eq!(f, verdict, "a damaged header changed the verdict");
    }
});
