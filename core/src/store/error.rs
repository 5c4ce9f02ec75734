//! Errors of the store layer.

use thiserror::Error;

/// Errors from the SQLite store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// The disk (or the quota) is full: nothing of the failed write was stored, everything
    /// committed before is intact, and writes work again once space is freed.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The database file is not a FieldSync database or is damaged.
    #[error("database is corrupt or not a FieldSync database: {0}")]
    Corrupt(String),
    /// The database was written by a newer FieldSync with a schema this build does not know.
    #[error("database schema version {found} is newer than supported version {supported}")]
    SchemaTooNew {
        /// Version found in the file.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },
    /// The store key the app supplied does not open this database (another device's key,
    /// or a key store that lost or replaced it). Nothing was changed: the right key still
    /// opens it.
    #[error("the store key does not open this database")]
    WrongKey,
    /// Another node (in this process or another one) has this data directory open.
    #[error("the data directory {0} is in use by another node")]
    Busy(std::path::PathBuf),
    /// Creating the data directory failed.
    #[error("cannot create data directory: {0}")]
    Io(std::io::Error),
}

/// Every SQLite error becomes a `StoreError` here: a full disk is [`StoreError::DiskFull`], a
/// damaged or foreign file [`StoreError::Corrupt`], anything else [`StoreError::Sqlite`].
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                StoreError::DiskFull(e.to_string())
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
                ) =>
            {
                StoreError::Corrupt(e.to_string())
            }
            rusqlite::Error::SqliteFailure(_, Some(message))
                if message.contains(crate::store::cipher::OPEN_FAILED) =>
            {
                StoreError::Corrupt(message.clone())
            }
            rusqlite::Error::UserFunctionError(inner)
                if inner
                    .to_string()
                    .contains(crate::store::cipher::OPEN_FAILED) =>
            {
                StoreError::Corrupt(inner.to_string())
            }
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                StoreError::DiskFull(e.to_string())
            }
            _ => StoreError::Io(e),
        }
    }
}
