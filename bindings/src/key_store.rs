//! The foreign device-key store: lets the app keep the device's private key in the Android
//! Keystore or the iOS Keychain instead of the SDK database.

use std::sync::Arc;

use crate::error::FieldSyncError;

/// Where the device's 32-byte Ed25519 private key is kept, implemented by the app.
///
/// Pass an implementation to `Node.open(dataDir, keyStore)`. Without one the key is stored in
/// the node's SQLite database. The node calls [`DeviceKeyStore::load`] once on open and, on the
/// very first open, [`DeviceKeyStore::save`] with a freshly generated key.
///
/// Errors thrown by the implementation surface from `Node.open` as `FieldSyncError.Crypto`.
#[uniffi::export(foreign)]
pub trait DeviceKeyStore: Send + Sync {
    /// Returns the stored key (exactly 32 bytes), or `null`/`nil` if none was stored yet.
    fn load(&self) -> Result<Option<Vec<u8>>, FieldSyncError>;
    /// Persists a freshly generated 32-byte key. Called at most once per installation.
    fn save(&self, key: Vec<u8>) -> Result<(), FieldSyncError>;
}

/// Adapts the foreign trait to the core's [`fieldsync::DeviceKeyStore`].
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
}
