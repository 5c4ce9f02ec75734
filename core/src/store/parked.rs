//! Operations that arrived before their predecessors, kept outside the op log until the gap
//! in their author's log closes.

use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;
use crate::wire::operation::FsOperation;

/// Parks an operation. Returns false if the parking area is full or it was already parked.
pub fn park(conn: &Tx<'_>, op: &FsOperation, limit: u64) -> Result<bool, StoreError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM parked_operations")?
        .query_row([], |r| r.get(0))?;
    if n as u64 >= limit {
        return Ok(false);
    }
    let changed = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO parked_operations
             (hash, document, author, kind, seq, header, body, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            op.hash.as_bytes(),
            op.header.extensions.document.as_bytes(),
            op.header.verifying_key.as_bytes(),
            op.header.extensions.kind.code(),
            op.header.seq_num,
            op.header.encode(),
            op.body.as_ref().map(|b| b.as_bytes()),
            now_millis(),
        ])?;
    Ok(changed == 1)
}

/// Encoded header and optional body of an operation.
pub type RawParts = (Vec<u8>, Option<Vec<u8>>);

/// Removes and returns the parked (header, body) at `seq` of a log, if any.
pub fn take(
    conn: &Tx<'_>,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
) -> Result<Option<RawParts>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT hash, header, body FROM parked_operations
             WHERE author = ?1 AND document = ?2 AND kind = ?3 AND seq = ?4 LIMIT 1",
        )?
        .query_row(
            params![author.as_bytes(), document.as_bytes(), kind.code(), seq],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                ))
            },
        )
        .optional()?;
    match found {
        Some((hash, header, body)) => {
            conn.execute("DELETE FROM parked_operations WHERE hash = ?1", [hash])?;
            Ok(Some((header, body)))
        }
        None => Ok(None),
    }
}

/// The logs (author, document, kind) that have parked operations.
pub fn logs(conn: &Connection) -> Result<Vec<(AuthorId, DocumentId, LogKind)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT DISTINCT author, document, kind FROM parked_operations")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let corrupt = |e: String| StoreError::Corrupt(format!("parked operation: {e}"));
    rows.map(|row| {
        let (author, document, kind) = row?;
        Ok((
            AuthorId::from_slice(&author).map_err(|e| corrupt(e.to_string()))?,
            DocumentId::from_slice(&document).map_err(|e| corrupt(e.to_string()))?,
            LogKind::from_code(kind).ok_or_else(|| corrupt(format!("log kind {kind}")))?,
        ))
    })
    .collect()
}

/// Number of parked operations.
pub fn count(conn: &Connection) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM parked_operations")?
        .query_row([], |r| r.get::<_, i64>(0))? as u64)
}
