//! Error type of the `crypto` module.

use p2panda_core::VerifyingKey;
use thiserror::Error;

/// Everything that can go wrong in the `crypto` module.
///
/// Device keys inside variants are boxed to keep `Result`s small.
///
/// Errors caused by untrusted input (bytes from the network or from storage) are always
/// reported through one of these variants, never through a panic.
#[derive(Debug, Error)]
pub enum CryptoError {
    /// Bytes could not be decoded: garbage, truncated, trailing data or an unknown layout.
    #[error("malformed bytes: {0}")]
    Malformed(String),

    /// Bytes carry a format version this code does not understand.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),

    /// The ciphertext or control message belongs to another group.
    #[error("message belongs to another group")]
    WrongGroup,

    /// The group secret used for this ciphertext is not (yet) known to us.
    ///
    /// Either the control message carrying it has not arrived yet (keep the ciphertext and
    /// retry after processing more control messages) or we are not allowed to read it
    /// (non-member, or written after we were removed).
    #[error("unknown group secret {0}")]
    UnknownSecret(String),

    /// The ciphertext was tampered with (AEAD tag mismatch).
    #[error("authentication failed: ciphertext was modified or does not match the key")]
    AuthenticationFailed,

    /// The sender claimed inside the message is not the authenticated author of the operation.
    #[error("message claims sender {claimed} but was authored by {author}")]
    SenderMismatch {
        /// Sender written inside the message.
        claimed: Box<VerifyingKey>,
        /// Authenticated author of the operation that carried the message.
        author: Box<VerifyingKey>,
    },

    /// A key bundle's signature (XEdDSA over the pre-key) does not verify.
    #[error("invalid key bundle: {0}")]
    InvalidKeyBundle(String),

    /// A key bundle's pre-key lifetime is over (or has not started yet).
    #[error("key bundle expired or not yet valid")]
    KeyBundleExpired,

    /// A key bundle is published for another device than the one that authored it.
    #[error("key bundle belongs to {owner}, expected {expected}")]
    KeyBundleOwnerMismatch {
        /// Owner written in the bundle.
        owner: Box<VerifyingKey>,
        /// Device we expected (usually the author of the operation).
        expected: Box<VerifyingKey>,
    },

    /// A bundle for a known device carries a different X25519 identity key than before.
    #[error("identity key of {0} does not match the previously registered one")]
    IdentityKeyMismatch(Box<VerifyingKey>),

    /// No valid key bundle (and no established 2SM session) for this member.
    #[error("no valid key bundle known for {0}")]
    MissingKeyBundle(Box<VerifyingKey>),

    /// The device keys given do not belong to the device owning this group state.
    #[error("device keys belong to {given}, group state belongs to {expected}")]
    WrongDevice {
        /// Device of the keys passed in.
        given: Box<VerifyingKey>,
        /// Device owning the group state.
        expected: Box<VerifyingKey>,
    },

    /// We are not (or no longer) a member of the group, so we may not encrypt or change it.
    #[error("not a member of this group")]
    NotAMember,

    /// The group has not been created or joined yet.
    #[error("group not established yet (waiting for a welcome)")]
    NotWelcomed,

    /// A control message conflicts with the group state and was rejected.
    #[error("rejected control message: {0}")]
    Rejected(String),

    /// Too many control messages are waiting for missing dependencies.
    #[error("too many pending control messages ({0})")]
    TooManyPending(usize),

    /// Error from the group key agreement (DCGKA / 2SM) of `p2panda-encryption`.
    #[error("group key agreement failed: {0}")]
    Group(String),

    /// Error from pre-key management.
    #[error("key manager: {0}")]
    KeyManager(String),

    /// The system random number generator failed.
    #[error("randomness: {0}")]
    Rng(String),

    /// Encoding a value failed (should not happen for well-formed state).
    #[error("encoding failed: {0}")]
    Encode(String),
}

impl From<p2panda_encryption::RngError> for CryptoError {
    fn from(err: p2panda_encryption::RngError) -> Self {
        CryptoError::Rng(err.to_string())
    }
}

impl From<p2panda_encryption::key_manager::KeyManagerError> for CryptoError {
    fn from(err: p2panda_encryption::key_manager::KeyManagerError) -> Self {
        CryptoError::KeyManager(err.to_string())
    }
}
