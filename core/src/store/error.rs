//! Errors of the store layer.

use thiserror::Error;

/// Errors from the SQLite store.
#[derive(Debug, Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// Creating the data directory failed.
    #[error("cannot create data directory: {0}")]
    Io(#[from] std::io::Error),
}
