//! The foreign key store: lets the app keep the device's private key and the store key (which
//! protects the database at rest) in the Android Keystore or the iOS Keychain.

use std::sync::Arc;

use crate::error::FieldSyncError;

/// Where the device's two keys are kept, implemented by the app: its 32-byte Ed25519 private
/// key, and the 32-byte store key that wraps the key sealing the node's database at rest.
///
/// Pass an implementation to `Node.open(dataDir, keyStore)`; the packages ship one for the
/// Android Keystore and one for the iOS Keychain. Without one the device key is kept in the
/// node's (sealed) database and the store key in a 0600 file `store.key` in the data
/// directory, which protects a copied database but not a copied directory.
///
/// The node calls `load` and `loadStoreKey` on open and, on the very first open, `save` and
/// `saveStoreKey` with fresh keys; `saveStoreKey` again when the app rotates the store key
/// (`Node.rotateStoreKey`), where it must replace the old key atomically.
///
/// Errors thrown by the implementation surface from `Node.open` as `FieldSyncError.Crypto`.
#[uniffi::export(foreign)]
pub trait DeviceKeyStore: Send + Sync {
    /// Returns the stored device key (exactly 32 bytes), or `null`/`nil` if none was stored.
    fn load(&self) -> Result<Option<Vec<u8>>, FieldSyncError>;
    /// Persists a freshly generated 32-byte device key. Called at most once per installation.
    fn save(&self, key: Vec<u8>) -> Result<(), FieldSyncError>;
    /// Returns the stored store key (exactly 32 bytes), or `null`/`nil` if none was stored.
    fn load_store_key(&self) -> Result<Option<Vec<u8>>, FieldSyncError>;
    /// Persists a 32-byte store key, replacing the previous one atomically.
    fn save_store_key(&self, key: Vec<u8>) -> Result<(), FieldSyncError>;
}

/// Adapts the foreign trait to the core's `fieldsync.DeviceKeyStore`.
pub(crate) struct KeyStoreAdapter(pub(crate) Arc<dyn DeviceKeyStore>);

impl fieldsync::DeviceKeyStore for KeyStoreAdapter {
    fn load(&self) -> Result<Option<Vec<u8>>, String> {
        let ks = &self.0;
        crate::guard(|| ks.load()).map_err(|e| e.to_string())
    }

    fn save(&self, key: &[u8]) -> Result<(), String> {
        let ks = &self.0;
        crate::guard(|| ks.save(key.to_vec())).map_err(|e| e.to_string())
    }

    fn load_store_key(&self) -> Result<Option<Vec<u8>>, String> {
        let ks = &self.0;
        crate::guard(|| ks.load_store_key()).map_err(|e| e.to_string())
    }

    fn save_store_key(&self, key: &[u8]) -> Result<(), String> {
        let ks = &self.0;
        crate::guard(|| ks.save_store_key(key.to_vec())).map_err(|e| e.to_string())
    }
}
