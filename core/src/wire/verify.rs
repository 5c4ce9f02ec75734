//! Ed25519 checks of many received operations at once.
//!
//! A catch-up delivers operations by the hundred, and checking each header's signature on
//! its own was about 70 % of the CPU a received operation costs. `ed25519_dalek`'s batch
//! verification checks a whole batch with one multi-scalar multiplication, for 35-45 % of
//! the cost per signature (2.3-2.9 times as many per second in `make bench`). When a batch fails, each of its signatures is
//! checked on its own: the invalid one is refused and the valid ones beside it are accepted.
//! A peer that sends invalid signatures thus costs the receiver the failed batch on top of
//! one-by-one checks, about 1.4 times what a batch of the same size cost before batching.
//!
//! What a batch accepts: every signature `verify_strict` accepts. Weak (small-order) author
//! keys, for which signatures can be made without a secret key, never enter a batch: they are
//! checked on their own, and `verify_strict` refuses them. The batch equation differs from
//! `verify_strict` only for signatures whose nonce point or key has a small-order component,
//! which only the holder of the author's secret key can produce: such a signature may pass
//! a batch on one node and fail on another (p2panda's decoder refuses it). An author can
//! already make nodes disagree about their own log by signing two different operations at
//! one position; nobody else can use it, because changing a valid signature's nonce point
//! changes the hash it signs.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::wire::operation::FsOperation;

/// A decoded operation whose header signature is not checked yet.
pub(crate) struct Unverified {
    /// The decoded operation; its header is not authenticated.
    pub op: FsOperation,
    /// The header's bytes, as received.
    pub header: Vec<u8>,
    /// The bytes the header's signature covers.
    pub signed: Vec<u8>,
}

impl Unverified {
    /// The author's key, as `ed25519_dalek` takes it.
    fn key(&self) -> VerifyingKey {
        self.op.header.verifying_key.into()
    }

    /// Checks this signature on its own, as p2panda's decoder does (`verify_strict`).
    /// True if the signature's R decompresses, re-encodes to the same bytes and is not of
    /// small order: only then do batch and strict verification agree on it.
    fn r_is_batchable(&self) -> bool {
        let bytes = self.op.header.signature.to_bytes();
        let mut r = [0u8; 32];
        r.copy_from_slice(&bytes[..32]);
        let compressed = curve25519_dalek::edwards::CompressedEdwardsY(r);
        compressed
            .decompress()
            .is_some_and(|p| p.compress() == compressed && !p.is_small_order())
    }

    pub(crate) fn holds(&self) -> bool {
        self.op
            .header
            .verifying_key
            .verify(&self.signed, &self.op.header.signature)
    }
}

/// Fewest signatures worth checking as a batch: one is checked on its own.
const BATCH_MIN: usize = 2;

/// Checks the signatures of `items`; returns, in order, whether each holds.
pub(crate) fn verify(items: &[&Unverified]) -> Vec<bool> {
    // Batch verification accepts what `verify_strict` refuses when the key or the
    // signature's R is small-order, or R is encoded non-canonically: those take the strict
    // path, so every replica reaches the same verdict however the operation arrived.
    let (weak, batch): (Vec<usize>, Vec<usize>) =
        (0..items.len()).partition(|&i| items[i].key().is_weak() || !items[i].r_is_batchable());
    let mut holds = vec![false; items.len()];
    for i in weak {
        holds[i] = items[i].holds();
    }
    if batch.len() >= BATCH_MIN && batch_holds(items, &batch) {
        for i in batch {
            holds[i] = true;
        }
    } else {
        for i in batch {
            holds[i] = items[i].holds();
        }
    }
    holds
}

/// Whether every signature of `items` at the indices `batch` holds, checked as one batch.
fn batch_holds(items: &[&Unverified], batch: &[usize]) -> bool {
    let messages: Vec<&[u8]> = batch.iter().map(|&i| items[i].signed.as_slice()).collect();
    let signatures: Vec<Signature> = batch
        .iter()
        .map(|&i| items[i].op.header.signature.into())
        .collect();
    let keys: Vec<VerifyingKey> = batch.iter().map(|&i| items[i].key()).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::ids::DocumentId;
    use crate::base::log::LogKind;
    use crate::wire::operation::{build_operation, FsHeader};
    use p2panda_core::{Hash, SigningKey};

    /// `n` operations of one author, decoded without their signatures checked.
    fn unverified(key: &SigningKey, n: u32) -> Vec<Unverified> {
        let document = DocumentId::from(Hash::digest(b"doc"));
        let mut previous: Option<(u32, Hash)> = None;
        (0..n)
            .map(|seq| {
                let op = build_operation(key, document, LogKind::Delta, previous, vec![seq as u8]);
                previous = Some((seq, op.hash));
                decode(op.header.encode())
            })
            .collect()
    }

    /// `header` decoded without its signature checked, if it is well-formed.
    fn try_decode(header: Vec<u8>) -> Option<Unverified> {
        let (h, signed) = FsHeader::decode_unverified(&header).ok()?;
        Some(Unverified {
            op: p2panda_core::Operation::from_parts(h, None),
            header,
            signed,
        })
    }

    fn decode(header: Vec<u8>) -> Unverified {
        try_decode(header).expect("well-formed header")
    }

    /// Where `part` starts in `header`.
    fn position(header: &[u8], part: &[u8]) -> usize {
        header
            .windows(part.len())
            .position(|w| w == part)
            .expect("the part's bytes in the header")
    }

    /// The same header with one signature byte flipped (still well-formed).
    fn forged(u: &Unverified) -> Unverified {
        let mut header = u.header.clone();
        let at = position(&header, &u.op.header.signature.to_bytes());
        header[at + 10] ^= 1;
        decode(header)
    }

    #[test]
    fn a_valid_batch_holds_and_one_forgery_is_found_among_many() {
        let key = SigningKey::generate();
        let mut items = unverified(&key, 40);
        assert!(verify(&items.iter().collect::<Vec<_>>()).iter().all(|h| *h));

        items[17] = forged(&items[17]);
        let verdicts = verify(&items.iter().collect::<Vec<_>>());
        for (i, holds) in verdicts.iter().enumerate() {
            assert_eq!(*holds, i != 17, "verdict of item {i}");
        }
        // Each verdict agrees with p2panda's own decoder.
        for (item, holds) in items.iter().zip(&verdicts) {
            assert_eq!(FsHeader::decode(&item.header).is_ok(), *holds);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any set of single-bit flips in a group's headers: each header that still decodes
        /// gets the verdict p2panda's own decoder (`verify_strict`) gives it.
        #[test]
        fn verdicts_agree_with_p2pandas_decoder_under_bit_flips(
            flips in proptest::collection::vec((0usize..24, 0usize..4096), 0..6)
        ) {
            let key = SigningKey::generate();
            let mut headers: Vec<Vec<u8>> =
                unverified(&key, 24).into_iter().map(|u| u.header).collect();
            for (item, bit) in flips {
                let header = &mut headers[item];
                let bit = bit % (header.len() * 8);
                header[bit / 8] ^= 1 << (bit % 8);
            }
            let decoded: Vec<Unverified> = headers.into_iter().filter_map(try_decode).collect();
            let verdicts = verify(&decoded.iter().collect::<Vec<_>>());
            for (item, holds) in decoded.iter().zip(verdicts) {
                proptest::prop_assert_eq!(FsHeader::decode(&item.header).is_ok(), holds);
            }
        }
    }

    /// `u` re-signed by `key` with R = `r` (a point encoding): s = H(R || A || M) * a, which
    /// satisfies the batch equation whenever R is a small-order point or another encoding of
    /// the identity, though `verify_strict` refuses it.
    fn resigned_with_r(u: &Unverified, key: &SigningKey, r: [u8; 32]) -> Unverified {
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};
        let expanded = Sha512::digest(key.as_bytes());
        let mut a = [0u8; 32];
        a.copy_from_slice(&expanded[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a);
        let public = *key.verifying_key().as_bytes();
        let mut h = Sha512::new();
        h.update(r);
        h.update(public);
        h.update(&u.signed);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let s = k * a;
        let mut header = u.header.clone();
        let at = position(&header, &u.op.header.signature.to_bytes());
        header[at..at + 32].copy_from_slice(&r);
        header[at + 32..at + 64].copy_from_slice(s.as_bytes());
        decode(header)
    }

    /// Small-order R (the identity, and a point of order 2) and a non-canonical encoding of
    /// the identity: the batch path gives the verdict the one-by-one (strict) path gives,
    /// in a batch of valid operations and alone.
    #[test]
    fn small_order_or_non_canonical_r_gets_the_strict_verdict_in_a_batch() {
        let key = SigningKey::generate();
        let items = unverified(&key, 8);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut order_two = [0u8; 32];
        order_two[0] = 0xec;
        order_two[1..31].fill(0xff);
        order_two[31] = 0x7f;
        // y = 1 + p: the identity's y, not reduced.
        let mut non_canonical = [0u8; 32];
        non_canonical[0] = 0xee;
        non_canonical[1..31].fill(0xff);
        non_canonical[31] = 0x7f;
        for r in [identity, order_two, non_canonical] {
            let odd = resigned_with_r(&items[3], &key, r);
            let strict = odd.holds();
            assert!(!strict, "verify_strict refuses R = {r:02x?}");
            let mut batch: Vec<&Unverified> = items.iter().collect();
            batch[3] = &odd;
            let verdicts = verify(&batch);
            for (i, holds) in verdicts.iter().enumerate() {
                assert_eq!(*holds, i != 3, "R = {r:02x?}, item {i}");
            }
            assert_eq!(verify(&[&odd]), vec![strict]);
        }
    }

    #[test]
    fn single_items_and_mixed_authors_are_checked() {
        let (a, b) = (SigningKey::generate(), SigningKey::generate());
        let one = unverified(&a, 1);
        assert_eq!(verify(&one.iter().collect::<Vec<_>>()), vec![true]);
        let bad = forged(&one[0]);
        assert_eq!(verify(&[&bad]), vec![false]);

        let mut items = unverified(&a, 3);
        items.extend(unverified(&b, 3));
        items.push(bad);
        let verdicts = verify(&items.iter().collect::<Vec<_>>());
        assert_eq!(verdicts, vec![true, true, true, true, true, true, false]);
    }

    #[test]
    fn a_weak_author_key_is_refused_even_with_an_accepting_batch_equation() {
        // The identity point is a weak key: with it, [s]B = R holds for any message when
        // R = [s]B, so a batch would accept this "signature" made without any secret key.
        let identity = {
            let mut bytes = [0u8; 32];
            bytes[0] = 1;
            bytes
        };
        let key = SigningKey::generate();
        let good = unverified(&key, 2);
        let mut header = good[0].header.clone();
        let own = key.verifying_key();
        let at = position(&header, own.as_bytes());
        header[at..at + 32].copy_from_slice(&identity);
        // R = [s]B with s = 1: the basepoint, and s = 1.
        let sig_at = position(&header, &good[0].op.header.signature.to_bytes());
        // The Ed25519 basepoint B, compressed (RFC 8032): 0x58 then 0x66 repeated.
        let mut sig = [0x66u8; 64];
        sig[0] = 0x58;
        sig[32..].fill(0);
        sig[32] = 1;
        header[sig_at..sig_at + 64].copy_from_slice(&sig);
        let weak = decode(header);
        assert!(weak.key().is_weak());
        // The batch equation alone would take it: [1]B - [k]O = B = R.
        assert!(ed25519_dalek::verify_batch(&[&weak.signed], &[sig.into()], &[weak.key()]).is_ok());
        let items = [&good[0], &weak, &good[1]];
        assert_eq!(verify(&items), vec![true, false, true]);
    }
}
