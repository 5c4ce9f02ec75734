//! Long-lived encryption key material of this device.

use std::fmt;
use std::time::Duration;

use p2panda_core::VerifyingKey;
use p2panda_encryption::crypto::x25519::SecretKey;
use p2panda_encryption::key_bundle::Lifetime;
use p2panda_encryption::key_manager::{KeyManager, KeyManagerState};
use p2panda_encryption::traits::PreKeyManager;
use p2panda_encryption::Rng;
use serde::{Deserialize, Serialize};

use super::codec::{check_version, from_cbor, to_cbor};
use super::error::CryptoError;
use super::key_bundle::KeyBundle;

const DEVICE_KEYS_VERSION: u8 = 1;

/// Default lifetime of a freshly generated pre-key: 90 days.
pub const DEFAULT_PREKEY_LIFETIME: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// Default window before expiry in which [`DeviceKeys::rotate_if_needed`] rotates: 30 days.
pub const DEFAULT_ROTATE_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Long-lived encryption key material of one device: an X25519 identity secret and signed
/// long-term pre-keys (a `p2panda-encryption` [`KeyManagerState`]), tied to the device's Ed25519
/// id.
///
/// Serialize with [`DeviceKeys::to_bytes`] and keep the bytes secret (they contain private keys):
/// store them encrypted or in the platform keystore.
///
/// Old pre-keys are kept after rotation, so key-agreement messages that peers made against an
/// older published bundle can still be opened.
#[derive(Clone)]
pub struct DeviceKeys {
    id: VerifyingKey,
    manager: KeyManagerState,
}

#[derive(Serialize, Deserialize)]
struct DeviceKeysWire {
    v: u8,
    id: VerifyingKey,
    manager: KeyManagerState,
}

impl DeviceKeys {
    /// Generates a fresh X25519 identity and a first pre-key valid for
    /// [`DEFAULT_PREKEY_LIFETIME`] for the device `id`.
    pub fn generate(id: VerifyingKey) -> Result<Self, CryptoError> {
        Self::generate_with_lifetime(id, DEFAULT_PREKEY_LIFETIME)
    }

    /// Like [`DeviceKeys::generate`] with a pre-key valid for `lifetime` instead of
    /// [`DEFAULT_PREKEY_LIFETIME`] (a short lifetime rotates sooner, see
    /// [`DeviceKeys::rotate_if_needed`]).
    pub fn generate_with_lifetime(
        id: VerifyingKey,
        lifetime: Duration,
    ) -> Result<Self, CryptoError> {
        let rng = Rng::default();
        let identity_secret = SecretKey::from_rng(&rng)?;
        let manager = KeyManager::init(&identity_secret)?;
        let manager = KeyManager::rotate_prekey(manager, Lifetime::new(lifetime.as_secs()), &rng)?;
        Ok(Self { id, manager })
    }

    /// Device id (Ed25519 key) these keys belong to.
    pub fn id(&self) -> VerifyingKey {
        self.id
    }

    /// The publishable bundle for the newest valid pre-key.
    pub fn key_bundle(&self) -> Result<KeyBundle, CryptoError> {
        let bundle = KeyManager::prekey_bundle(&self.manager)?;
        Ok(KeyBundle::new(self.id, bundle))
    }

    /// Generates a new pre-key valid for `lifetime`; publish [`DeviceKeys::key_bundle`]
    /// afterwards. Older pre-keys stay usable for incoming messages.
    pub fn rotate_prekey(&mut self, lifetime: Duration) -> Result<(), CryptoError> {
        let rng = Rng::default();
        let manager = KeyManager::rotate_prekey(
            self.manager.clone(),
            Lifetime::new(lifetime.as_secs()),
            &rng,
        )?;
        self.manager = manager;
        Ok(())
    }

    /// Rotates the pre-key (to [`DEFAULT_PREKEY_LIFETIME`]) if there is no valid one or it
    /// expires within `renew_before` (e.g. [`DEFAULT_ROTATE_BEFORE`]). Returns `true` if it
    /// rotated, in which case the new [`DeviceKeys::key_bundle`] should be published.
    ///
    /// Pre-key lifetimes are checked against the system clock (the crate offers no injectable
    /// clock).
    pub fn rotate_if_needed(&mut self, renew_before: Duration) -> Result<bool, CryptoError> {
        let needs_rotation = match self.key_bundle() {
            Ok(bundle) => bundle.expires_within(renew_before),
            Err(_) => true,
        };
        if needs_rotation {
            self.rotate_prekey(DEFAULT_PREKEY_LIFETIME)?;
        }
        Ok(needs_rotation)
    }

    /// Drops expired pre-key secrets. Key-agreement messages made against them can no longer
    /// be opened afterwards, so call this only well after expiry.
    pub fn remove_expired(&mut self) {
        self.manager = KeyManager::remove_expired(self.manager.clone());
    }

    /// Serializes all key material (secret!) as CBOR.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CryptoError> {
        to_cbor(&DeviceKeysWire {
            v: DEVICE_KEYS_VERSION,
            id: self.id,
            manager: self.manager.clone(),
        })
    }

    /// Restores key material serialized with [`DeviceKeys::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let wire: DeviceKeysWire = from_cbor(bytes)?;
        check_version(wire.v, DEVICE_KEYS_VERSION)?;
        Ok(Self {
            id: wire.id,
            manager: wire.manager,
        })
    }

    pub(crate) fn manager(&self) -> &KeyManagerState {
        &self.manager
    }
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
