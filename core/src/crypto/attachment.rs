//! Attachment chunks: each chunk of an attachment's content is sealed with the attachment's
//! own random key (XChaCha20-Poly1305). The nonce is the chunk's index (a key seals one
//! attachment, so an index is never reused under a key) and the associated data names the
//! index and the chunk count, so a chunk moved to another position, or an attachment cut
//! short, does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::crypto::CryptoError;

/// A fresh random attachment key.
pub fn new_key() -> [u8; 32] {
    rand::random()
}

fn nonce(index: u32) -> XNonce {
    let mut n = [0u8; 24];
    n[..4].copy_from_slice(&index.to_le_bytes());
    XNonce::from(n)
}

fn associated(index: u32, count: u32) -> [u8; 30] {
    let mut aad = [0u8; 30];
    aad[..22].copy_from_slice(b"fieldsync/attachment/1");
    aad[22..26].copy_from_slice(&index.to_be_bytes());
    aad[26..].copy_from_slice(&count.to_be_bytes());
    aad
}

/// Seals chunk `index` of `count`.
pub fn seal_chunk(key: &[u8; 32], index: u32, count: u32, plain: &[u8]) -> Vec<u8> {
    let aead = XChaCha20Poly1305::new(key.into());
    let aad = associated(index, count);
    // Encryption with a valid key and nonce does not fail for inputs of this size.
    aead.encrypt(
        &nonce(index),
        Payload {
            msg: plain,
            aad: &aad,
        },
    )
    .unwrap_or_default()
}

/// Opens chunk `index` of `count`.
pub fn open_chunk(
    key: &[u8; 32],
    index: u32,
    count: u32,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let aead = XChaCha20Poly1305::new(key.into());
    let aad = associated(index, count);
    aead.decrypt(
        &nonce(index),
        Payload {
            msg: sealed,
            aad: &aad,
        },
    )
    .map_err(|_| CryptoError::AuthenticationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_opens_only_at_its_place_with_its_key() {
        let key = new_key();
        let sealed = seal_chunk(&key, 1, 3, b"photo bytes");
        assert_eq!(sealed.len(), 11 + 16);
        assert_eq!(open_chunk(&key, 1, 3, &sealed).unwrap(), b"photo bytes");
        assert!(open_chunk(&key, 0, 3, &sealed).is_err(), "moved");
        assert!(open_chunk(&key, 1, 2, &sealed).is_err(), "cut short");
        assert!(open_chunk(&new_key(), 1, 3, &sealed).is_err(), "other key");
        let mut flipped = sealed.clone();
        flipped[0] ^= 1;
        assert!(open_chunk(&key, 1, 3, &flipped).is_err(), "tampered");
    }
}
