//! The outbox: local operations that no peer has acknowledged yet.

use p2panda_core::Hash;
use rusqlite::{params, Connection};

use crate::error::StoreError;
use crate::ids::DocumentId;
use crate::store::now_millis;

/// A local operation waiting for a peer to hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Operation id.
    pub hash: Hash,
    /// Document the operation belongs to.
    pub document: DocumentId,
    /// When the operation was written (ms since the Unix epoch).
    pub created_at: i64,
    /// How many times sending was attempted.
    pub attempts: u32,
    /// Last error seen while sending, if any.
    pub last_error: Option<String>,
}

/// Adds an operation to the outbox.
pub fn push(conn: &Connection, hash: &Hash, document: DocumentId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO outbox (hash, document, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![hash.as_bytes(), document.as_bytes(), now_millis()])?;
    Ok(())
}

/// Pending entries, oldest first, optionally for one document.
pub fn pending(
    conn: &Connection,
    document: Option<DocumentId>,
) -> Result<Vec<OutboxEntry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, document, created_at, attempts, last_error FROM outbox
         WHERE ?1 IS NULL OR document = ?1 ORDER BY created_at, rowid",
    )?;
    let doc = document.map(|d| d.as_bytes().to_vec());
    let rows = stmt.query_map([doc], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, u32>(3)?,
            r.get::<_, Option<String>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (h, d, created_at, attempts, last_error) = row?;
        out.push(OutboxEntry {
            hash: Hash::try_from(h.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            document: DocumentId::from_slice(&d).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            created_at,
            attempts,
            last_error,
        });
    }
    Ok(out)
}

/// Number of pending entries for a document.
pub fn pending_count(conn: &Connection, document: DocumentId) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM outbox WHERE document = ?1")?
        .query_row([document.as_bytes()], |r| r.get::<_, i64>(0))? as u64)
}

/// Removes acknowledged entries; returns how many were pending.
pub fn acknowledge(conn: &Connection, hashes: &[Hash]) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM outbox WHERE hash = ?1")?;
    let mut n = 0;
    for h in hashes {
        n += stmt.execute([h.as_bytes()])?;
    }
    Ok(n)
}

/// Acknowledges the pending entries of a document for seqs `after` (exclusive; `None`: from
/// the first) to `seq` (inclusive) of one of `author`'s logs. Bounding the range from below
/// keeps repeated acknowledgements of a growing log linear in total.
pub fn acknowledge_range(
    conn: &Connection,
    document: DocumentId,
    author: &crate::ids::AuthorId,
    kind: crate::operation::LogKind,
    after: Option<u32>,
    seq: u32,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM outbox WHERE hash IN (
               SELECT hash FROM operations
               WHERE document = ?1 AND author = ?2 AND kind = ?3 AND seq > ?4 AND seq <= ?5)",
        )?
        .execute(params![
            document.as_bytes(),
            author.as_bytes(),
            kind.code(),
            after.map_or(-1, i64::from),
            seq
        ])?)
}

/// Removes every entry of a document (deleted on this node).
pub fn delete_document(conn: &Connection, document: DocumentId) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM outbox WHERE document = ?1",
        [document.as_bytes()],
    )?;
    Ok(())
}

/// Records a failed delivery attempt.
pub fn record_attempt(
    conn: &Connection,
    hash: &Hash,
    error: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE hash = ?1",
    )?
    .execute(params![hash.as_bytes(), error])?;
    Ok(())
}
