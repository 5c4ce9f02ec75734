//! The documents table: which documents exist, their snapshot cache and tombstones.

use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::DocumentId;
use crate::base::version::VersionVector;
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;

/// Registers a document if unknown. Returns false if it already existed.
pub fn ensure(conn: &Tx<'_>, id: DocumentId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("INSERT OR IGNORE INTO documents (id, created_at) VALUES (?1, ?2)")?
        .execute(params![id.as_bytes(), now_millis()])?
        == 1)
}

/// Existence state of a document on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentState {
    /// Never seen.
    Unknown,
    /// Present.
    Live,
    /// Deleted on this node (tombstone kept so sync does not bring it back).
    Deleted,
}

/// Looks up a document's state.
pub fn state(conn: &Connection, id: DocumentId) -> Result<DocumentState, StoreError> {
    let deleted: Option<bool> = conn
        .prepare_cached("SELECT deleted FROM documents WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| r.get(0))
        .optional()?;
    Ok(match deleted {
        None => DocumentState::Unknown,
        Some(false) => DocumentState::Live,
        Some(true) => DocumentState::Deleted,
    })
}

/// Ids of live documents, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<DocumentId>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT id FROM documents WHERE deleted = 0 ORDER BY created_at, rowid")?;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|r| DocumentId::from_slice(&r?).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// The cached snapshot and the version vector it covers.
pub fn snapshot(
    conn: &Connection,
    id: DocumentId,
) -> Result<Option<(Vec<u8>, VersionVector)>, StoreError> {
    type Row = (Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Option<Row> = conn
        .prepare_cached("SELECT snapshot, vv FROM snapshots WHERE document = ?1")?
        .query_row([id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match row {
        Some((Some(snap), Some(vv))) => {
            let vv = VersionVector::from_bytes(&vv)
                .ok_or_else(|| StoreError::Corrupt("snapshot version vector".into()))?;
            Ok(Some((snap, vv)))
        }
        _ => Ok(None),
    }
}

/// Replaces the cached snapshot.
pub fn save_snapshot(
    conn: &Tx<'_>,
    id: DocumentId,
    snapshot: &[u8],
    vv: &VersionVector,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO snapshots (document, snapshot, vv) VALUES (?1, ?2, ?3)
         ON CONFLICT(document) DO UPDATE SET snapshot = excluded.snapshot, vv = excluded.vv",
    )?
    .execute(params![id.as_bytes(), snapshot, vv.to_bytes()])?;
    Ok(())
}

/// Marks a document deleted and drops its content.
pub fn mark_deleted(conn: &Tx<'_>, id: DocumentId) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE documents SET deleted = 1 WHERE id = ?1",
        [id.as_bytes()],
    )?;
    conn.execute("DELETE FROM snapshots WHERE document = ?1", [id.as_bytes()])?;
    // The group state holds the document's secrets: drop them with the document.
    conn.execute("DELETE FROM groups WHERE document = ?1", [id.as_bytes()])?;
    Ok(())
}

/// True if the document is stored and written without encryption (it predates encryption,
/// or was created by a node with `NodeConfig::encrypt` off).
pub fn is_plain(conn: &Connection, id: DocumentId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT plain FROM documents WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Sets the `plain` flag of a document (see [`is_plain`]).
pub fn set_plain(conn: &Tx<'_>, id: DocumentId, plain: bool) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE documents SET plain = ?2 WHERE id = ?1",
        params![id.as_bytes(), plain],
    )?;
    Ok(())
}
