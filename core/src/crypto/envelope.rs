//! Binary envelope of encrypted application data.

use p2panda_encryption::crypto::xchacha20::XAeadNonce;
use p2panda_encryption::data_scheme::GroupSecretId;

use super::error::CryptoError;
use super::group_id::GroupId;

/// Magic + version prefix of a ciphertext envelope ("FSC" + version 1).
const MAGIC: [u8; 4] = *b"FSC\x01";
const SECRET_ID_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// Poly1305 tag length; the smallest valid ciphertext (empty plaintext) is this long.
const TAG_LEN: usize = 16;
/// Length of the fixed header before the ciphertext.
pub(crate) const HEADER_LEN: usize = MAGIC.len() + GroupId::LEN + SECRET_ID_LEN + NONCE_LEN;

/// Encrypted application data: which group, which group secret (epoch) and which nonce.
///
/// Layout (no length fields, nothing to over-allocate on hostile input):
/// `"FSC" 0x01 | group id (32) | group secret id (32) | XChaCha20 nonce (24) | ciphertext+tag`.
/// Total overhead is [`ENVELOPE_OVERHEAD`] bytes per message.
///
/// The header is not covered by the AEAD (the data scheme's `encrypt_data` takes no associated
/// data); tampering with it yields `WrongGroup`, `UnknownSecret` or `AuthenticationFailed`, and
/// the signature of the operation carrying the envelope protects it end to end.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    pub(crate) group: GroupId,
    pub(crate) secret_id: GroupSecretId,
    pub(crate) nonce: XAeadNonce,
    pub(crate) ciphertext: &'a [u8],
}

/// Bytes added to every plaintext by encryption (header + Poly1305 tag).
pub const ENVELOPE_OVERHEAD: usize = HEADER_LEN + TAG_LEN;

impl<'a> Envelope<'a> {
    /// Writes header and ciphertext into one buffer.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.ciphertext.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(self.group.as_bytes());
        out.extend_from_slice(&self.secret_id);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(self.ciphertext);
        out
    }

    /// Parses an envelope without copying the ciphertext.
    pub(crate) fn decode(bytes: &'a [u8]) -> Result<Self, CryptoError> {
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(CryptoError::Malformed(format!(
                "ciphertext envelope too short: {} bytes",
                bytes.len()
            )));
        }
        let (magic, rest) = bytes.split_at(MAGIC.len());
        if magic[..3] != MAGIC[..3] {
            return Err(CryptoError::Malformed("not a ciphertext envelope".into()));
        }
        if magic[3] != MAGIC[3] {
            return Err(CryptoError::UnsupportedVersion(magic[3]));
        }
        let (group, rest) = rest.split_at(GroupId::LEN);
        let (secret_id, rest) = rest.split_at(SECRET_ID_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        Ok(Self {
            group: GroupId::from_bytes(to_array(group)?),
            secret_id: to_array(secret_id)?,
            nonce: to_array(nonce)?,
            ciphertext,
        })
    }
}

fn to_array<const N: usize>(slice: &[u8]) -> Result<[u8; N], CryptoError> {
    slice
        .try_into()
        .map_err(|_| CryptoError::Malformed("envelope field length".into()))
}
