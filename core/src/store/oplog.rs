//! The operation log: every signed operation this node holds, local and remote.

use p2panda_core::Hash;
use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::base::version::VersionVector;
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;
use crate::wire::operation::FsOperation;

/// One row of the op log, as raw bytes.
#[derive(Clone, Debug)]
pub struct StoredOperation {
    /// Author.
    pub author: AuthorId,
    /// Sequence number in the author's log.
    pub seq: u32,
    /// Encoded, signed header.
    pub header: Vec<u8>,
    /// Body bytes, if held.
    pub body: Option<Vec<u8>>,
    /// Whether the body has been applied to the document.
    pub applied: bool,
}

/// Inserts an operation, whose encoded header is `header` (the bytes its hash is the
/// digest of). Returns false if it was already present.
pub fn insert(
    conn: &Tx<'_>,
    document: DocumentId,
    op: &FsOperation,
    header: &[u8],
    applied: bool,
) -> Result<bool, StoreError> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO operations
             (hash, document, author, kind, seq, header, body, received_at, applied)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            op.hash.as_bytes(),
            document.as_bytes(),
            op.header.verifying_key.as_bytes(),
            op.header.extensions.kind.code(),
            op.header.seq_num,
            header,
            op.body.as_ref().map(|b| b.as_bytes()),
            now_millis(),
            applied,
        ])?;
    Ok(n == 1)
}

/// True if the operation is in the log: the operation held at its log position has its
/// hash. (Hashes are not indexed, positions are: see schema migration 6.)
pub fn contains(conn: &Connection, op: &FsOperation) -> Result<bool, StoreError> {
    let held = hash_at(
        conn,
        &AuthorId::from(op.header.verifying_key),
        DocumentId::from(op.header.extensions.document),
        op.header.extensions.kind,
        op.header.seq_num,
    )?;
    Ok(held == Some(op.hash))
}

/// Highest (seq, hash) of an author's log for a document.
pub fn latest(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
) -> Result<Option<(u32, Hash)>, StoreError> {
    conn.prepare_cached(
        "SELECT seq, hash FROM operations WHERE author = ?1 AND document = ?2 AND kind = ?3
         ORDER BY seq DESC LIMIT 1",
    )?
    .query_row(
        params![author.as_bytes(), document.as_bytes(), kind.code()],
        |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)),
    )
    .optional()?
    .map(|(seq, h)| {
        Hash::try_from(h.as_slice())
            .map(|h| (seq, h))
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// Hash of the operation at `seq` in an author's log, if held.
pub fn hash_at(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
) -> Result<Option<Hash>, StoreError> {
    conn.prepare_cached(
        "SELECT hash FROM operations WHERE author = ?1 AND document = ?2 AND kind = ?3 AND seq = ?4",
    )?
    .query_row(
        params![author.as_bytes(), document.as_bytes(), kind.code(), seq],
        |r| r.get::<_, Vec<u8>>(0),
    )
    .optional()?
    .map(|h| Hash::try_from(h.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string())))
    .transpose()
}

fn row_to_stored(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
    ))
}

/// Columns of an op-log row: hash, author, kind, seq, header, body, applied.
type RawRow = (Vec<u8>, Vec<u8>, i64, u32, Vec<u8>, Option<Vec<u8>>, bool);

fn to_stored(raw: RawRow) -> Result<StoredOperation, StoreError> {
    let author = AuthorId::from_slice(&raw.1).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    to_stored_by(raw, author)
}

/// [`to_stored`] for a row whose author column is known to hold `author`.
fn to_stored_by(raw: RawRow, author: AuthorId) -> Result<StoredOperation, StoreError> {
    let (hash, _, kind, seq, header, body, applied) = raw;
    // Callers need neither the row's hash nor its kind, but a damaged one is still reported.
    Hash::try_from(hash.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    LogKind::from_code(kind)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown log kind {kind}")))?;
    Ok(StoredOperation {
        author,
        seq,
        header,
        body,
        applied,
    })
}

/// Document-log operations of `document` not covered by `since`, in log order per author.
/// Reads only those operations (one index range per author), not the whole log.
pub fn delta_ops_after(
    conn: &Connection,
    document: DocumentId,
    since: &VersionVector,
) -> Result<Vec<StoredOperation>, StoreError> {
    let mut out = Vec::new();
    for (author, _) in version_vector(conn, document)?.iter() {
        out.extend(log_entries(
            conn,
            author,
            document,
            LogKind::Delta,
            since.get(author),
            None,
        )?);
    }
    Ok(out)
}

/// All operations of one author's log, in order, with `after < seq <= until`.
pub fn log_entries(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    after: Option<u32>,
    until: Option<u32>,
) -> Result<Vec<StoredOperation>, StoreError> {
    let after = after.map_or(-1, i64::from);
    let until = until.map_or(i64::MAX, i64::from);
    let mut stmt = conn.prepare_cached(
        "SELECT hash, author, kind, seq, header, body, applied FROM operations
         WHERE author = ?1 AND document = ?2 AND kind = ?3 AND seq > ?4 AND seq <= ?5
         ORDER BY seq",
    )?;
    let rows = stmt.query_map(
        params![
            author.as_bytes(),
            document.as_bytes(),
            kind.code(),
            after,
            until
        ],
        row_to_stored,
    )?;
    // Every row is `author`'s: reuse the id instead of re-validating the key of each row
    // (an Ed25519 point decompression per operation read, the sender's largest cost in
    // catch-up). A row of another author would be a corrupt index: take the checked path.
    rows.map(|r| {
        let raw = r?;
        if raw.1.as_slice() == author.as_bytes() {
            to_stored_by(raw, *author)
        } else {
            to_stored(raw)
        }
    })
    .collect()
}

/// Version vector of a document: author -> highest seq of its document log.
pub fn version_vector(
    conn: &Connection,
    document: DocumentId,
) -> Result<VersionVector, StoreError> {
    version_vector_of(conn, document, LogKind::Delta)
}

/// Author -> highest seq of one kind of log of a document.
///
/// A loose index scan over the unique index on `(document, kind, author, seq)`: one index
/// probe for each author (the next author after the previous one) and one for its highest
/// seq, so the cost grows with the number of authors, not of operations (a `GROUP BY` read
/// every operation, which made snapshots, heads announcements and `count` linear in the log).
pub fn version_vector_of(
    conn: &Connection,
    document: DocumentId,
    kind: LogKind,
) -> Result<VersionVector, StoreError> {
    let mut stmt = conn.prepare_cached(
        "WITH RECURSIVE authors(author) AS (
             SELECT (SELECT MIN(author) FROM operations WHERE document = ?1 AND kind = ?2)
             UNION ALL
             SELECT (SELECT MIN(author) FROM operations
                     WHERE document = ?1 AND kind = ?2 AND author > authors.author)
             FROM authors WHERE authors.author IS NOT NULL
         )
         SELECT author,
                (SELECT MAX(seq) FROM operations
                 WHERE document = ?1 AND kind = ?2 AND author = authors.author)
         FROM authors WHERE author IS NOT NULL",
    )?;
    let rows = stmt.query_map(params![document.as_bytes(), kind.code()], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, u32>(1)?))
    })?;
    let mut vv = VersionVector::new();
    for row in rows {
        let (author, seq) = row?;
        vv.set(
            AuthorId::from_slice(&author).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            seq,
        );
    }
    Ok(vv)
}

/// Number of document-update (delta) operations held for a document, all authors. Control
/// operations (membership, keys) are not counted, so this equals the version vector's total.
///
/// Logs are stored without gaps (an operation is only inserted right after its predecessor;
/// out-of-order ones wait in `parked_operations`), so each author's log holds `seq + 1`
/// operations: the count comes from the version vector, without reading every row.
pub fn count(conn: &Connection, document: DocumentId) -> Result<u64, StoreError> {
    Ok(version_vector(conn, document)?.total_ops())
}

/// Delta operations of a document whose content is not applied yet (waiting for a key, or
/// unreadable to this node), in log order per author.
pub fn unapplied_delta_ops(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<StoredOperation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, author, kind, seq, header, body, applied FROM operations
         WHERE document = ?1 AND kind = ?2 AND applied = 0 ORDER BY author, seq",
    )?;
    let rows = stmt.query_map(
        params![document.as_bytes(), LogKind::Delta.code()],
        row_to_stored,
    )?;
    rows.map(|r| to_stored(r?)).collect()
}

/// Marks the content of the delta operation at `seq` of `author`'s log of `document` as
/// applied.
pub fn mark_applied(
    conn: &Tx<'_>,
    document: DocumentId,
    author: &AuthorId,
    seq: u32,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE operations SET applied = 1
         WHERE document = ?1 AND kind = ?2 AND author = ?3 AND seq = ?4",
    )?
    .execute(params![
        document.as_bytes(),
        LogKind::Delta.code(),
        author.as_bytes(),
        seq
    ])?;
    Ok(())
}

/// Deletes every operation of a document.
pub fn delete_document(conn: &Tx<'_>, document: DocumentId) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM operations WHERE document = ?1",
        [document.as_bytes()],
    )?;
    Ok(())
}

/// Highest seq of every (author, kind) log of a document, control logs first: a receiver
/// fed in this order holds the keys before the data they unlock. Authors are in byte order
/// within each kind.
pub fn heights(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<(AuthorId, LogKind, u32)>, StoreError> {
    let mut out = Vec::new();
    for kind in [LogKind::Control, LogKind::Delta] {
        let vv = version_vector_of(conn, document, kind)?;
        out.extend(vv.iter().map(|(author, seq)| (*author, kind, *seq)));
    }
    Ok(out)
}
