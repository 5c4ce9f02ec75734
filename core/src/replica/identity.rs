//! The device identity and the store key: where the app keeps them.
//!
//! The device's Ed25519 key is created once per installation. The store key (32 bytes)
//! wraps the data key that seals the database at rest (see `crate::store::cipher`). Apps
//! keep both with [`DeviceKeyStore`] (the Android Keystore, the iOS Keychain); without one,
//! the device key lives in the database (sealed) and the store key in a 0600 file
//! ([`FileKeyStore`]) in the data directory.

use std::sync::Arc;

use p2panda_core::SigningKey;

use crate::base::ids::AuthorId;
use crate::replica::IdentityError;
use crate::store::Store;

const META_DEVICE_KEY: &str = "device_key";

/// Where the device's private key and the store key are kept, when the app keeps them.
pub trait DeviceKeyStore: Send + Sync {
    /// Returns the stored 32-byte private key, or `None` if none was stored yet.
    fn load(&self) -> Result<Option<Vec<u8>>, String>;
    /// Persists a freshly generated 32-byte private key.
    fn save(&self, key: &[u8]) -> Result<(), String>;
    /// Returns the stored 32-byte store key, or `None` if none was stored yet.
    fn load_store_key(&self) -> Result<Option<Vec<u8>>, String>;
    /// Persists a 32-byte store key: a fresh one on the first open, a new one when the app
    /// rotates it (`Node::rotate_store_key`). It must replace the previous one atomically.
    fn save_store_key(&self, key: &[u8]) -> Result<(), String>;
}

/// Keys in files readable by this user only (0600), each written atomically (a temporary
/// file renamed over it): the store key in the file given, the device key next to it
/// (extension `device`). Without an app key store, a node keeps its store key in
/// `<data_dir>/store.key` this way and its device key in the (sealed) database.
///
/// The file protects a copy of the database alone, not a copy of the whole directory: put
/// it elsewhere ([`FileKeyStore::new`]) where that matters, or use the platform's keystore.
#[derive(Clone, Debug)]
pub struct FileKeyStore {
    path: std::path::PathBuf,
}

/// File name of the default store key file in a data directory.
pub const STORE_KEY_FILE: &str = "store.key";

impl FileKeyStore {
    /// A key store keeping the store key in the file at `path`.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        FileKeyStore { path: path.into() }
    }

    /// The default one of a data directory: `<data_dir>/store.key`.
    pub fn in_data_dir(data_dir: &std::path::Path) -> Self {
        FileKeyStore::new(data_dir.join(STORE_KEY_FILE))
    }
}

impl DeviceKeyStore for FileKeyStore {
    fn load(&self) -> Result<Option<Vec<u8>>, String> {
        read_key_file(&self.path.with_extension("device"))
    }

    fn save(&self, key: &[u8]) -> Result<(), String> {
        write_key_file(&self.path.with_extension("device"), key)
    }

    fn load_store_key(&self) -> Result<Option<Vec<u8>>, String> {
        read_key_file(&self.path)
    }

    fn save_store_key(&self, key: &[u8]) -> Result<(), String> {
        write_key_file(&self.path, key)
    }
}

fn read_key_file(path: &std::path::Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

fn write_key_file(path: &std::path::Path, key: &[u8]) -> Result<(), String> {
    {
        use std::io::Write;
        let fail = |e: std::io::Error| format!("writing {}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(fail)?;
        file.write_all(key).map_err(fail)?;
        file.sync_all().map_err(fail)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(fail)?;
        if let Some(dir) = path.parent() {
            // The rename is durable once the directory is.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// Where a node's store key is kept: the app's key store, or the default file of its data
/// directory.
pub(crate) fn store_key_store(
    data_dir: &std::path::Path,
    key_store: Option<&Arc<dyn DeviceKeyStore>>,
) -> Arc<dyn DeviceKeyStore> {
    match key_store {
        Some(ks) => ks.clone(),
        None => Arc::new(FileKeyStore::in_data_dir(data_dir)),
    }
}

/// The store key of a node: from the app's key store, or the default file; made and saved
/// on first use.
pub(crate) fn store_key(
    data_dir: &std::path::Path,
    key_store: Option<&Arc<dyn DeviceKeyStore>>,
) -> Result<crate::store::cipher::KeyBytes, IdentityError> {
    let ks = store_key_store(data_dir, key_store);
    if let Some(bytes) = ks.load_store_key().map_err(IdentityError::KeyStore)? {
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| IdentityError::Malformed)?;
        return Ok(zeroize::Zeroizing::new(key));
    }
    if crate::store::has_wrapped_key(data_dir) {
        // The database was sealed with a key the key store no longer has: a new key would
        // not open it either, and must not replace whatever the app may still restore.
        return Err(IdentityError::Store(crate::store::StoreError::WrongKey));
    }
    let key = crate::store::cipher::random_key();
    ks.save_store_key(&key[..])
        .map_err(IdentityError::KeyStore)?;
    Ok(key)
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
