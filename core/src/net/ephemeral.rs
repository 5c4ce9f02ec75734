//! Signed gossip messages: app payloads (presence, cursors) and replica heads used to
//! acknowledge outbox entries. Gossip is best effort and reaches only online peers.
//!
//! Every message carries a random nonce. iroh-gossip identifies a message by the hash of its
//! bytes: without the nonce, a message equal to an earlier one (unchanged heads announced
//! again, an app repeating a payload) was dropped by the receiver as a duplicate, and the
//! receiver answered the duplicate with a `Prune`, which moved it to the sender's lazy peers:
//! the sender's next pushes (freshly written operations) then reached it only after
//! iroh-gossip's 80 ms graft timeout. One edit in ten took ~85 ms to become visible.

use p2panda_core::{Signature, SigningKey};

use crate::base::ids::AuthorId;
use crate::base::version::VersionVector;

/// Largest gossip message p2panda-net carries.
pub const MAX_GOSSIP_BYTES: usize = 4096;
/// End of the signature: kind (1), sender (32), signature (64).
const SIGNATURE_END: usize = 1 + 32 + 64;
/// Bytes before the payload: kind, sender, signature, nonce.
const HEADER_LEN: usize = SIGNATURE_END + NONCE_LEN;
/// Random bytes that make every sealed message distinct.
const NONCE_LEN: usize = 8;
/// Largest app payload of an ephemeral message.
pub const MAX_EPHEMERAL_PAYLOAD: usize = MAX_GOSSIP_BYTES - 128;

const KIND_APP: u8 = 0;
const KIND_HEADS: u8 = 1;
const KIND_OP: u8 = 2;
const KIND_CONTROL_HEADS: u8 = 3;

/// The content of a gossip message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ephemeral {
    /// An app payload.
    App(Vec<u8>),
    /// The sender's version vector of the document: what it holds durably.
    Heads(VersionVector),
    /// The sender's heights of the document's control (membership) logs.
    ControlHeads(VersionVector),
    /// A freshly written operation (wire bytes), pushed to online peers at once. The
    /// operation carries its own author signature and is validated like any other.
    Op(Vec<u8>),
}

/// Encodes and signs: `kind (1) | sender (32) | signature (64) | nonce (8) | payload`. The
/// signature covers `kind | nonce | payload`; the nonce is random (see the module doc).
pub fn seal(key: &SigningKey, message: &Ephemeral) -> Vec<u8> {
    let (kind, payload) = match message {
        Ephemeral::App(p) => (KIND_APP, p.clone()),
        Ephemeral::Heads(vv) => (KIND_HEADS, vv.to_bytes()),
        Ephemeral::Op(bytes) => (KIND_OP, bytes.clone()),
        Ephemeral::ControlHeads(vv) => (KIND_CONTROL_HEADS, vv.to_bytes()),
    };
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut signed = Vec::with_capacity(1 + NONCE_LEN + payload.len());
    signed.push(kind);
    signed.extend_from_slice(&nonce);
    signed.extend_from_slice(&payload);
    let signature = key.sign(&signed);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.push(kind);
    out.extend_from_slice(key.verifying_key().as_bytes());
    out.extend_from_slice(&signature.to_bytes());
    out.extend_from_slice(&signed[1..]);
    out
}

/// Verifies and decodes; `None` for anything malformed or forged.
pub fn open(bytes: &[u8]) -> Option<(AuthorId, Ephemeral)> {
    if bytes.len() < HEADER_LEN || bytes.len() > MAX_GOSSIP_BYTES {
        return None;
    }
    let kind = bytes[0];
    let sender = AuthorId::from_slice(&bytes[1..33]).ok()?;
    let sig: [u8; 64] = bytes[33..SIGNATURE_END].try_into().ok()?;
    // Signed: the kind and everything after the signature (nonce and payload).
    let mut signed = Vec::with_capacity(1 + bytes.len() - SIGNATURE_END);
    signed.push(kind);
    signed.extend_from_slice(&bytes[SIGNATURE_END..]);
    let payload = &bytes[HEADER_LEN..];
    if !sender
        .verifying_key()
        .verify(&signed, &Signature::from_bytes(&sig))
    {
        return None;
    }
    let message = match kind {
        KIND_APP => Ephemeral::App(payload.to_vec()),
        KIND_HEADS => Ephemeral::Heads(VersionVector::from_bytes(payload)?),
        KIND_OP => Ephemeral::Op(payload.to_vec()),
        KIND_CONTROL_HEADS => Ephemeral::ControlHeads(VersionVector::from_bytes(payload)?),
        _ => return None,
    };
    Some((sender, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_forgery() {
        let key = SigningKey::generate();
        let sealed = seal(&key, &Ephemeral::App(b"cursor 3".to_vec()));
        let (sender, msg) = open(&sealed).unwrap();
        assert_eq!(sender, AuthorId::from(key.verifying_key()));
        assert_eq!(msg, Ephemeral::App(b"cursor 3".to_vec()));
        let mut forged = sealed.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert!(open(&forged).is_none());
        assert!(open(&sealed[..50]).is_none());
        // The nonce is signed too.
        let mut renonced = sealed.clone();
        renonced[SIGNATURE_END] ^= 1;
        assert!(open(&renonced).is_none());
    }

    #[test]
    fn equal_messages_seal_to_distinct_bytes() {
        // Gossip drops a message whose bytes it has seen (and prunes its sender): announcing
        // unchanged heads twice must give two messages.
        let key = SigningKey::generate();
        let heads = Ephemeral::Heads(VersionVector::default());
        let (a, b) = (seal(&key, &heads), seal(&key, &heads));
        assert_ne!(a, b);
        assert_eq!(open(&a).map(|(_, m)| m), Some(heads.clone()));
        assert_eq!(open(&b).map(|(_, m)| m), Some(heads));
    }
}
