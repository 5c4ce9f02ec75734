//! The device identity: one Ed25519 key per installation, created once and persisted.
//!
//! By default the key lives in the SDK database. Apps that keep secrets in the Android
//! Keystore or iOS Keychain implement [`DeviceKeyStore`] and pass it in the node config.

use std::sync::Arc;

use p2panda_core::SigningKey;

use crate::base::ids::AuthorId;
use crate::replica::IdentityError;
use crate::store::Store;

const META_DEVICE_KEY: &str = "device_key";

/// Where the device's private key is kept, when the app wants to keep it itself.
pub trait DeviceKeyStore: Send + Sync {
    /// Returns the stored 32-byte private key, or `None` if none was stored yet.
    fn load(&self) -> Result<Option<Vec<u8>>, String>;
    /// Persists a freshly generated 32-byte private key.
    fn save(&self, key: &[u8]) -> Result<(), String>;
}

/// This device's signing identity.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.author())
    }
}

impl Identity {
    /// Loads the device key, creating and persisting one on first use.
    pub(crate) fn load_or_create(
        store: &Store,
        key_store: Option<&Arc<dyn DeviceKeyStore>>,
    ) -> Result<Self, IdentityError> {
        let existing = match key_store {
            Some(ks) => ks.load().map_err(IdentityError::KeyStore)?,
            None => store.meta_get(META_DEVICE_KEY)?,
        };
        if let Some(bytes) = existing {
            let arr: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| IdentityError::Malformed)?;
            return Ok(Identity {
                key: SigningKey::from_bytes(&arr),
            });
        }
        let key = SigningKey::generate();
        match key_store {
            Some(ks) => ks.save(key.as_bytes()).map_err(IdentityError::KeyStore)?,
            None => store.meta_set(META_DEVICE_KEY, key.as_bytes())?,
        }
        Ok(Identity { key })
    }

    /// The signing key (never leaves the process).
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public author id of this device.
    pub fn author(&self) -> AuthorId {
        AuthorId::from(self.key.verifying_key())
    }

    /// The Loro peer id used for this device's edits, derived from its public key.
    pub fn loro_peer_id(&self) -> u64 {
        self.author().loro_peer_id()
    }
}
