//! Encryption key state (migration 3): this device's key material, the group state of each
//! document and the key bundles other devices announced.
//!
//! All blobs are CBOR produced by [`crate::crypto`]. Device keys and group states contain
//! secrets and are stored as they are: protect the database file (platform file encryption
//! or SQLCipher) if the device may be compromised at rest.

use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;

/// This device's serialized [`crate::crypto::DeviceKeys`], if created.
pub fn device_keys(conn: &Connection) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row("SELECT keys FROM device_keys WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Stores this device's serialized key material.
pub fn save_device_keys(conn: &Tx<'_>, keys: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO device_keys (id, keys, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT(id) DO UPDATE SET keys = excluded.keys, updated_at = excluded.updated_at",
        params![keys, now_millis()],
    )?;
    Ok(())
}

/// Serialized [`crate::crypto::DocumentGroup`] of a document, if any.
pub fn group_state(conn: &Connection, document: DocumentId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT state FROM groups WHERE document = ?1")?
        .query_row([document.as_bytes()], |r| r.get(0))
        .optional()?)
}

/// Stores the group state of a document (after every change).
pub fn save_group_state(
    conn: &Tx<'_>,
    document: DocumentId,
    state: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO groups (document, state, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(document) DO UPDATE SET state = excluded.state,
                                             updated_at = excluded.updated_at",
    )?
    .execute(params![document.as_bytes(), state, now_millis()])?;
    Ok(())
}

/// The latest key bundle announced by `author`, if any.
pub fn key_bundle(conn: &Connection, author: &AuthorId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT bundle FROM key_bundles WHERE author = ?1")?
        .query_row([author.as_bytes()], |r| r.get(0))
        .optional()?)
}

/// Stores (replaces) the key bundle announced by `author`.
pub fn save_key_bundle(conn: &Tx<'_>, author: &AuthorId, bundle: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO key_bundles (author, bundle, received_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(author) DO UPDATE SET bundle = excluded.bundle,
                                           received_at = excluded.received_at",
    )?
    .execute(params![author.as_bytes(), bundle, now_millis()])?;
    Ok(())
}

/// Documents in whose control log `author` announced a key bundle (control operations whose
/// body starts with the key-bundle tag).
pub fn announced_documents(
    conn: &Connection,
    author: &AuthorId,
) -> Result<Vec<DocumentId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT document FROM operations
         WHERE author = ?1 AND kind = 1 AND substr(body, 1, 1) = X'01'",
    )?;
    let rows = stmt.query_map([author.as_bytes()], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|r| {
        DocumentId::from_slice(&r?).map_err(|e| StoreError::Corrupt(format!("document id: {e}")))
    })
    .collect()
}
