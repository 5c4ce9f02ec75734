//! A device's publishable long-term pre-key bundle.

use std::time::Duration;

use p2panda_core::VerifyingKey;
use p2panda_encryption::key_bundle::{KeyBundleError, LongTermKeyBundle};
use p2panda_encryption::traits::KeyBundle as _;
use serde::{Deserialize, Serialize};

use super::codec::{check_version, from_cbor, to_cbor};
use super::error::CryptoError;

const KEY_BUNDLE_VERSION: u8 = 1;

/// Publishable key bundle of one device: its Ed25519 device id (`owner`) plus a
/// `p2panda-encryption` [`LongTermKeyBundle`] (X25519 identity key and a signed pre-key with a
/// lifetime).
///
/// Other devices need it to add this device to a group (the first key-agreement message to a
/// device is an X3DH message against this pre-key).
///
/// Authenticity: the XEdDSA signature binds the pre-key to the X25519 identity key, and it is
/// verified on decode. The binding of the X25519 identity to the Ed25519 `owner` comes from the
/// signed operation that carries these bytes: decode with [`KeyBundle::from_bytes_for`] passing
/// the operation's author.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyBundle {
    owner: VerifyingKey,
    bundle: LongTermKeyBundle,
}

/// Wire form of [`KeyBundle`] (CBOR).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyBundleWire {
    v: u8,
    owner: VerifyingKey,
    bundle: LongTermKeyBundle,
}

impl KeyBundle {
    pub(crate) fn new(owner: VerifyingKey, bundle: LongTermKeyBundle) -> Self {
        Self { owner, bundle }
    }

    /// Device (Ed25519 key) this bundle belongs to.
    pub fn owner(&self) -> VerifyingKey {
        self.owner
    }

    /// Verifies the pre-key signature and that the pre-key lifetime covers "now".
    pub fn verify(&self) -> Result<(), CryptoError> {
        self.bundle.verify().map_err(map_bundle_error)
    }

    /// True if the pre-key is expired now or will be within `window`.
    pub fn expires_within(&self, window: Duration) -> bool {
        self.bundle.lifetime().verify_with_window(window).is_err()
    }

    /// Encodes the bundle as CBOR bytes (to publish as an operation body).
    pub fn to_bytes(&self) -> Result<Vec<u8>, CryptoError> {
        to_cbor(&self.to_wire())
    }

    /// Decodes and verifies a bundle (signature and lifetime).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let wire: KeyBundleWire = from_cbor(bytes)?;
        let bundle = Self::from_wire(wire)?;
        bundle.verify()?;
        Ok(bundle)
    }

    /// Decodes and verifies a bundle and checks that it belongs to `author`, the authenticated
    /// author of the operation carrying it.
    pub fn from_bytes_for(author: VerifyingKey, bytes: &[u8]) -> Result<Self, CryptoError> {
        let bundle = Self::from_bytes(bytes)?;
        if bundle.owner != author {
            return Err(CryptoError::KeyBundleOwnerMismatch {
                owner: Box::new(bundle.owner),
                expected: Box::new(author),
            });
        }
        Ok(bundle)
    }

    pub(crate) fn to_wire(&self) -> KeyBundleWire {
        KeyBundleWire {
            v: KEY_BUNDLE_VERSION,
            owner: self.owner,
            bundle: self.bundle.clone(),
        }
    }

    /// Converts the wire form without verifying signature or lifetime.
    pub(crate) fn from_wire(wire: KeyBundleWire) -> Result<Self, CryptoError> {
        check_version(wire.v, KEY_BUNDLE_VERSION)?;
        Ok(Self {
            owner: wire.owner,
            bundle: wire.bundle,
        })
    }

    pub(crate) fn inner(&self) -> &LongTermKeyBundle {
        &self.bundle
    }
}

fn map_bundle_error(err: KeyBundleError) -> CryptoError {
    match err {
        KeyBundleError::Lifetime(_) => CryptoError::KeyBundleExpired,
        other => CryptoError::InvalidKeyBundle(other.to_string()),
    }
}
