//! The operation log: every signed operation this node holds, local and remote.

use p2panda_core::Hash;
use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::base::version::VersionVector;
use crate::store::bases;
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
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, fs_seal('operations.body', ?7, ?1), ?8, ?9)",
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
    if held == Some(op.hash) {
        return Ok(true);
    }
    // Below a log's base: covered by a snapshot (not held, and not needed).
    let base = bases::get(
        conn,
        &AuthorId::from(op.header.verifying_key),
        DocumentId::from(op.header.extensions.document),
        op.header.extensions.kind,
    )?;
    Ok(held.is_none() && base.is_some_and(|(b, _)| op.header.seq_num < b))
}

/// Highest (seq, hash) of an author's log for a document.
pub fn latest(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
) -> Result<Option<(u32, Hash)>, StoreError> {
    let held = conn
        .prepare_cached(
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
        .transpose()?;
    // A log whose start is not held: its base counts as held (see `bases.rs`).
    Ok(match (held, bases::get(conn, author, document, kind)?) {
        (Some(h), Some(b)) => Some(if b.0 > h.0 { b } else { h }),
        (h, b) => h.or(b),
    })
}

/// Hash of the operation at `seq` in an author's log, if held.
pub fn hash_at(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
) -> Result<Option<Hash>, StoreError> {
    let held = conn.prepare_cached(
        "SELECT hash FROM operations WHERE author = ?1 AND document = ?2 AND kind = ?3 AND seq = ?4",
    )?
    .query_row(
        params![author.as_bytes(), document.as_bytes(), kind.code(), seq],
        |r| r.get::<_, Vec<u8>>(0),
    )
    .optional()?
    .map(|h| Hash::try_from(h.as_slice()).map_err(|e| StoreError::Corrupt(e.to_string())))
    .transpose()?;
    if held.is_some() {
        return Ok(held);
    }
    // The base's operation is not held, but its hash is known.
    Ok(bases::get(conn, author, document, kind)?
        .and_then(|(base, hash)| (base == seq).then_some(hash)))
}

/// Encoded header of the operation at `seq` of an author's log, if held.
pub fn header_at(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT header FROM operations WHERE author = ?1 AND document = ?2 AND kind = ?3 AND seq = ?4",
        )?
        .query_row(
            params![author.as_bytes(), document.as_bytes(), kind.code(), seq],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .optional()?)
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
        "SELECT hash, author, kind, seq, header, fs_open('operations.body', body, hash), applied
         FROM operations
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
    // Logs whose start is not held count up to their base at least.
    for (author, seq, _) in bases::of_document(conn, document, kind)? {
        if vv.get(&author).is_none_or(|held| held < seq) {
            vv.set(author, seq);
        }
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
        "SELECT hash, author, kind, seq, header, fs_open('operations.body', body, hash), applied
         FROM operations
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

/// A control operation's (hash, author, seq, body without its tag).
pub type ControlBody = (Hash, AuthorId, u32, Vec<u8>);

/// The control operations of a document whose body starts with `tag`, in the order they
/// were stored (a causal order: each was stored after what it depends on), as
/// (hash, author, seq, body without the tag).
pub fn control_bodies(
    conn: &Connection,
    document: DocumentId,
    tag: u8,
) -> Result<Vec<ControlBody>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, author, seq, plain FROM (
             SELECT rowid, hash, author, seq, fs_open('operations.body', body, hash) AS plain
             FROM operations WHERE document = ?1 AND kind = ?2
         ) WHERE substr(plain, 1, 1) = ?3 ORDER BY rowid",
    )?;
    let rows = stmt.query_map(
        params![document.as_bytes(), LogKind::Control.code(), vec![tag]],
        |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        },
    )?;
    let corrupt = |e: String| StoreError::Corrupt(format!("control operation: {e}"));
    rows.map(|row| {
        let (hash, author, seq, body) = row?;
        let hash = Hash::try_from(hash.as_slice()).map_err(|e| corrupt(e.to_string()))?;
        let author = AuthorId::from_slice(&author).map_err(|e| corrupt(e.to_string()))?;
        Ok((
            hash,
            author,
            seq,
            body.get(1..).unwrap_or_default().to_vec(),
        ))
    })
    .collect()
}

/// Deletes the operations of `author`'s `kind` log of `document` after `keep_until` (all of
/// them if `None`). Returns how many were deleted.
pub fn delete_after(
    conn: &Tx<'_>,
    document: DocumentId,
    author: &AuthorId,
    kind: LogKind,
    keep_until: Option<u32>,
) -> Result<usize, StoreError> {
    let after: i64 = keep_until.map_or(-1, i64::from);
    Ok(conn
        .prepare_cached(
            "DELETE FROM operations
             WHERE document = ?1 AND kind = ?2 AND author = ?3 AND seq > ?4",
        )?
        .execute(params![
            document.as_bytes(),
            kind.code(),
            author.as_bytes(),
            after
        ])?)
}

/// Deletes the operations of `author`'s `kind` log of `document` with `seq <= upto` (the
/// caller records the log's base first). Returns how many were deleted.
pub fn delete_until(
    conn: &Tx<'_>,
    document: DocumentId,
    author: &AuthorId,
    kind: LogKind,
    upto: u32,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM operations
             WHERE document = ?1 AND kind = ?2 AND author = ?3 AND seq <= ?4",
        )?
        .execute(params![
            document.as_bytes(),
            kind.code(),
            author.as_bytes(),
            upto
        ])?)
}

/// The snapshot operations held for a document (the latest of each author: earlier ones
/// are dropped when a later one is accepted), applied ones only, by author.
pub fn snapshots(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<StoredOperation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, author, kind, seq, header, fs_open('operations.body', body, hash), applied
         FROM operations WHERE document = ?1 AND kind = ?2 AND applied = 1
         ORDER BY author, seq",
    )?;
    let rows = stmt.query_map(
        params![document.as_bytes(), LogKind::Snapshot.code()],
        row_to_stored,
    )?;
    rows.map(|r| to_stored(r?)).collect()
}

/// Withdraws the snapshot operation at `seq` of `author` (see [`WITHDRAWN`]).
pub fn withdraw_snapshot(
    tx: &Tx<'_>,
    document: DocumentId,
    author: &AuthorId,
    seq: u32,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE operations SET applied = ?5
         WHERE document = ?1 AND kind = ?2 AND author = ?3 AND seq = ?4",
    )?
    .execute(params![
        document.as_bytes(),
        LogKind::Snapshot.code(),
        author.as_bytes(),
        seq,
        WITHDRAWN
    ])?;
    Ok(())
}

/// The body of the snapshot operation at `seq` of `author`, unless withdrawn.
pub fn live_snapshot_body(
    conn: &Connection,
    document: DocumentId,
    author: &AuthorId,
    seq: u32,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT fs_open('operations.body', body, hash) FROM operations
             WHERE document = ?1 AND kind = ?2 AND author = ?3 AND seq = ?4 AND applied != 2",
        )?
        .query_row(
            params![
                document.as_bytes(),
                LogKind::Snapshot.code(),
                author.as_bytes(),
                seq
            ],
            |r| r.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()?
        .flatten())
}

/// How many operations of a log are held at or below `seq`.
pub fn count_until(
    conn: &Connection,
    document: DocumentId,
    author: &AuthorId,
    kind: LogKind,
    seq: u32,
) -> Result<u64, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM operations
             WHERE author = ?1 AND document = ?2 AND kind = ?3 AND seq <= ?4",
        )?
        .query_row(
            params![author.as_bytes(), document.as_bytes(), kind.code(), seq],
            |r| r.get::<_, i64>(0),
        )? as u64)
}

/// `applied` of a snapshot operation withdrawn after a cut (see
/// `replica/snapshot.rs::drop_past_cuts`): kept for its log position, never applied, its
/// covers never used.
pub const WITHDRAWN: i64 = 2;

/// Every snapshot operation held for a document, applied or not (carried unread), except
/// withdrawn ones, by author.
pub fn snapshot_ops(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<StoredOperation>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT hash, author, kind, seq, header, fs_open('operations.body', body, hash), applied
         FROM operations WHERE document = ?1 AND kind = ?2 AND applied != 2
         ORDER BY author, seq",
    )?;
    let rows = stmt.query_map(
        params![document.as_bytes(), LogKind::Snapshot.code()],
        row_to_stored,
    )?;
    rows.map(|r| to_stored(r?)).collect()
}

/// Delta operations of `author` in `document` with `seq <= upto` received before
/// `before_ms` (ms since the epoch), counted from the log's start: the highest seq such
/// that every held operation up to it qualifies, or `None` if the first does not.
pub fn old_prefix(
    conn: &Connection,
    document: DocumentId,
    author: &AuthorId,
    upto: u32,
    before_ms: i64,
) -> Result<Option<u32>, StoreError> {
    let young: Option<u32> = conn
        .prepare_cached(
            "SELECT MIN(seq) FROM operations
             WHERE document = ?1 AND kind = ?2 AND author = ?3 AND seq <= ?4
               AND received_at >= ?5",
        )?
        .query_row(
            params![
                document.as_bytes(),
                LogKind::Delta.code(),
                author.as_bytes(),
                upto,
                before_ms
            ],
            |r| r.get(0),
        )?;
    Ok(match young {
        None => Some(upto),
        Some(0) => None,
        Some(s) => Some(s - 1),
    })
}

/// Deletes every operation of a document.
pub fn delete_document(conn: &Tx<'_>, document: DocumentId) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM operations WHERE document = ?1",
        [document.as_bytes()],
    )?;
    bases::delete_document(conn, document)?;
    Ok(())
}

/// Highest seq of every (author, kind) log of a document, control logs first, then snapshot
/// logs: a receiver fed in this order holds the keys before the data they unlock, and a
/// snapshot before the operations that chain on what it covers. Authors are in byte order
/// within each kind.
pub fn heights(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<(AuthorId, LogKind, u32)>, StoreError> {
    let mut out = Vec::new();
    for kind in [LogKind::Control, LogKind::Snapshot, LogKind::Delta] {
        let vv = version_vector_of(conn, document, kind)?;
        out.extend(vv.iter().map(|(author, seq)| (*author, kind, *seq)));
    }
    Ok(out)
}

/// [`heights`] with the hash of each log's head: what a catch-up peer compares to find
/// logs that forked at equal heights.
pub fn heads_with_hashes(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<(AuthorId, LogKind, u32, Hash)>, StoreError> {
    let mut out = Vec::new();
    for (author, kind, seq) in heights(conn, document)? {
        let hash = hash_at(conn, &author, document, kind, seq)?
            .ok_or_else(|| StoreError::Corrupt("a log's head vanished".into()))?;
        out.push((author, kind, seq, hash));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use p2panda_core::SigningKey;

    use super::*;
    use crate::store::test_support::{author, chain, open, write};
    use crate::store::Store;
    use crate::wire::operation::{build_operation, FsHeader};

    /// Inserts `ops` in one committed transaction; each must be new.
    fn insert_all(store: &mut Store, document: DocumentId, ops: &[FsOperation], applied: bool) {
        write(store, |tx| {
            for op in ops {
                assert!(insert(tx, document, op, &op.header.encode(), applied).unwrap());
            }
        });
    }

    fn seqs(ops: &[StoredOperation]) -> Vec<u32> {
        ops.iter().map(|o| o.seq).collect()
    }

    fn hashes(ops: &[StoredOperation]) -> Vec<Hash> {
        ops.iter().map(hash_of).collect()
    }

    /// A row's operation id: the BLAKE3 digest of its header bytes.
    fn hash_of(row: &StoredOperation) -> Hash {
        Hash::digest(&row.header)
    }

    /// A row's log kind, as its signed header states it.
    fn kind_of(row: &StoredOperation) -> LogKind {
        FsHeader::decode(&row.header).unwrap().extensions.kind
    }

    #[test]
    fn an_empty_log_has_no_latest_no_heights_and_a_zero_count() {
        let (_dir, store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let conn = store.conn();
        for kind in [LogKind::Delta, LogKind::Control] {
            assert_eq!(latest(conn, &author(&key), document, kind).unwrap(), None);
            assert_eq!(
                hash_at(conn, &author(&key), document, kind, 0).unwrap(),
                None
            );
            assert!(log_entries(conn, &author(&key), document, kind, None, None)
                .unwrap()
                .is_empty());
            assert!(version_vector_of(conn, document, kind).unwrap().is_empty());
        }
        assert!(version_vector(conn, document).unwrap().is_empty());
        assert_eq!(count(conn, document).unwrap(), 0);
        assert!(heights(conn, document).unwrap().is_empty());
        assert!(delta_ops_after(conn, document, &VersionVector::new())
            .unwrap()
            .is_empty());
        assert!(unapplied_delta_ops(conn, document).unwrap().is_empty());
        let op = build_operation(&key, document, LogKind::Delta, None, b"x".to_vec());
        assert!(!contains(conn, &op).unwrap());
    }

    #[test]
    fn inserted_operations_round_trip_through_log_entries() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let ops = chain(&key, document, LogKind::Delta, 3);
        insert_all(&mut store, document, &ops, true);

        let conn = store.conn();
        let stored =
            log_entries(conn, &author(&key), document, LogKind::Delta, None, None).unwrap();
        assert_eq!(stored.len(), 3);
        for (op, row) in ops.iter().zip(&stored) {
            assert_eq!(hash_of(row), op.hash);
            assert_eq!(row.author, author(&key));
            assert_eq!(kind_of(row), LogKind::Delta);
            assert_eq!(row.seq, op.header.seq_num);
            assert_eq!(row.header, op.header.encode());
            assert_eq!(row.body.as_deref(), op.body.as_ref().map(|b| b.as_bytes()));
            assert!(row.applied);
            assert!(contains(conn, op).unwrap());
            assert_eq!(
                hash_at(conn, &author(&key), document, LogKind::Delta, row.seq).unwrap(),
                Some(op.hash)
            );
        }
        assert_eq!(
            latest(conn, &author(&key), document, LogKind::Delta).unwrap(),
            Some((2, ops[2].hash))
        );
        assert_eq!(
            hash_at(conn, &author(&key), document, LogKind::Delta, 3).unwrap(),
            None
        );
    }

    #[test]
    fn the_header_bytes_given_are_stored_as_they_are() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let op = build_operation(&key, document, LogKind::Delta, None, b"x".to_vec());
        let header = b"received header bytes".to_vec();
        assert!(write(&mut store, |tx| insert(
            tx, document, &op, &header, true
        )
        .unwrap()));
        let stored = log_entries(
            store.conn(),
            &author(&key),
            document,
            LogKind::Delta,
            None,
            None,
        )
        .unwrap();
        assert_eq!(stored[0].header, header);
    }

    #[test]
    fn an_operation_without_its_body_is_stored_with_none() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let mut op = build_operation(&key, document, LogKind::Delta, None, b"x".to_vec());
        op.body = None;
        insert_all(&mut store, document, std::slice::from_ref(&op), false);
        let stored = log_entries(
            store.conn(),
            &author(&key),
            document,
            LogKind::Delta,
            None,
            None,
        )
        .unwrap();
        assert_eq!(stored[0].body, None);
        assert!(!stored[0].applied);
    }

    #[test]
    fn inserting_an_operation_twice_reports_it_present_and_keeps_one_row() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let ops = chain(&key, document, LogKind::Delta, 2);
        insert_all(&mut store, document, &ops, true);
        let again = write(&mut store, |tx| {
            insert(tx, document, &ops[1], &ops[1].header.encode(), true).unwrap()
        });
        assert!(!again);
        let stored = log_entries(
            store.conn(),
            &author(&key),
            document,
            LogKind::Delta,
            None,
            None,
        )
        .unwrap();
        assert_eq!(hashes(&stored), vec![ops[0].hash, ops[1].hash]);
        assert_eq!(count(store.conn(), document).unwrap(), 2);
    }

    #[test]
    fn a_different_operation_at_a_held_position_is_ignored_not_stored() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let original = build_operation(&key, document, LogKind::Delta, None, b"one".to_vec());
        let fork = build_operation(&key, document, LogKind::Delta, None, b"two".to_vec());
        assert_ne!(original.hash, fork.hash);
        insert_all(&mut store, document, std::slice::from_ref(&original), true);
        let stored_fork = write(&mut store, |tx| {
            insert(tx, document, &fork, &fork.header.encode(), true).unwrap()
        });
        assert!(!stored_fork);
        let conn = store.conn();
        assert!(contains(conn, &original).unwrap());
        assert!(!contains(conn, &fork).unwrap());
        assert_eq!(
            latest(conn, &author(&key), document, LogKind::Delta).unwrap(),
            Some((0, original.hash))
        );
    }

    #[test]
    fn contains_is_false_for_an_operation_not_held() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let ops = chain(&key, document, LogKind::Delta, 3);
        insert_all(&mut store, document, &ops[..2], true);
        let conn = store.conn();
        assert!(contains(conn, &ops[1]).unwrap());
        assert!(!contains(conn, &ops[2]).unwrap());
        // The same position in the author's control log is another log.
        let control = build_operation(&key, document, LogKind::Control, None, vec![0, 0]);
        assert!(!contains(conn, &control).unwrap());
    }

    #[test]
    fn an_insert_in_a_dropped_transaction_leaves_nothing() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let op = build_operation(&key, document, LogKind::Delta, None, b"x".to_vec());
        {
            let tx = store.transaction().unwrap();
            assert!(insert(&tx, document, &op, &op.header.encode(), true).unwrap());
            // Dropped without commit: rolled back.
        }
        let conn = store.conn();
        assert!(conn.is_autocommit());
        assert!(!contains(conn, &op).unwrap());
        assert_eq!(
            latest(conn, &author(&key), document, LogKind::Delta).unwrap(),
            None
        );
        assert_eq!(count(conn, document).unwrap(), 0);
        // The position is free again.
        insert_all(&mut store, document, std::slice::from_ref(&op), true);
        assert!(contains(store.conn(), &op).unwrap());
    }

    #[test]
    fn delta_and_control_logs_of_an_author_are_separate() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let deltas = chain(&key, document, LogKind::Delta, 3);
        let controls = chain(&key, document, LogKind::Control, 2);
        insert_all(&mut store, document, &deltas, true);
        insert_all(&mut store, document, &controls, true);

        let conn = store.conn();
        let a = author(&key);
        assert_eq!(
            latest(conn, &a, document, LogKind::Delta).unwrap(),
            Some((2, deltas[2].hash))
        );
        assert_eq!(
            latest(conn, &a, document, LogKind::Control).unwrap(),
            Some((1, controls[1].hash))
        );
        assert_eq!(
            hash_at(conn, &a, document, LogKind::Control, 0).unwrap(),
            Some(controls[0].hash)
        );
        assert_eq!(
            hashes(&log_entries(conn, &a, document, LogKind::Control, None, None).unwrap()),
            controls.iter().map(|o| o.hash).collect::<Vec<_>>()
        );
        assert!(
            log_entries(conn, &a, document, LogKind::Control, None, None)
                .unwrap()
                .iter()
                .all(|o| kind_of(o) == LogKind::Control)
        );
        assert_eq!(version_vector(conn, document).unwrap().get(&a), Some(2));
        assert_eq!(
            version_vector_of(conn, document, LogKind::Control)
                .unwrap()
                .get(&a),
            Some(1)
        );
        // Control operations are not counted.
        assert_eq!(count(conn, document).unwrap(), 3);
    }

    #[test]
    fn each_author_has_a_log_of_its_own() {
        let (_dir, mut store) = open();
        let document = DocumentId::random();
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        let a_ops = chain(&ka, document, LogKind::Delta, 2);
        let b_ops = chain(&kb, document, LogKind::Delta, 4);
        insert_all(&mut store, document, &a_ops, true);
        insert_all(&mut store, document, &b_ops, true);

        let conn = store.conn();
        let (a, b) = (author(&ka), author(&kb));
        let vv = version_vector(conn, document).unwrap();
        assert_eq!(vv.len(), 2);
        assert_eq!((vv.get(&a), vv.get(&b)), (Some(1), Some(3)));
        assert_eq!(count(conn, document).unwrap(), 6);
        assert_eq!(
            latest(conn, &a, document, LogKind::Delta).unwrap(),
            Some((1, a_ops[1].hash))
        );
        assert_eq!(
            latest(conn, &b, document, LogKind::Delta).unwrap(),
            Some((3, b_ops[3].hash))
        );
        let a_entries = log_entries(conn, &a, document, LogKind::Delta, None, None).unwrap();
        assert_eq!(seqs(&a_entries), vec![0, 1]);
        assert!(a_entries.iter().all(|o| o.author == a));
    }

    #[test]
    fn documents_do_not_share_logs() {
        let (_dir, mut store) = open();
        let key = SigningKey::generate();
        let (one, two) = (DocumentId::random(), DocumentId::random());
        insert_all(&mut store, one, &chain(&key, one, LogKind::Delta, 3), true);
        insert_all(&mut store, two, &chain(&key, two, LogKind::Delta, 1), true);
        let conn = store.conn();
        assert_eq!(count(conn, one).unwrap(), 3);
        assert_eq!(count(conn, two).unwrap(), 1);
        assert_eq!(
            latest(conn, &author(&key), two, LogKind::Delta)
                .unwrap()
                .map(|l| l.0),
            Some(0)
        );
    }

    #[test]
    fn log_entries_returns_the_range_after_exclusive_until_inclusive() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        insert_all(
            &mut store,
            document,
            &chain(&key, document, LogKind::Delta, 5),
            true,
        );
        let conn = store.conn();
        let a = author(&key);
        let range = |after, until| {
            seqs(&log_entries(conn, &a, document, LogKind::Delta, after, until).unwrap())
        };
        assert_eq!(range(None, None), vec![0, 1, 2, 3, 4]);
        assert_eq!(range(Some(1), Some(3)), vec![2, 3]);
        assert_eq!(range(None, Some(0)), vec![0]);
        assert_eq!(range(Some(0), None), vec![1, 2, 3, 4]);
        assert_eq!(range(Some(4), None), Vec::<u32>::new());
        assert_eq!(range(Some(2), Some(2)), Vec::<u32>::new());
        assert_eq!(range(Some(3), Some(1)), Vec::<u32>::new());
    }

    #[test]
    fn delta_ops_after_returns_only_what_the_vector_lacks() {
        let (_dir, mut store) = open();
        let document = DocumentId::random();
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        let (a, b) = (author(&ka), author(&kb));
        let a_ops = chain(&ka, document, LogKind::Delta, 3);
        let b_ops = chain(&kb, document, LogKind::Delta, 2);
        insert_all(&mut store, document, &a_ops, true);
        insert_all(&mut store, document, &b_ops, true);
        insert_all(
            &mut store,
            document,
            &chain(&ka, document, LogKind::Control, 2),
            true,
        );
        let conn = store.conn();

        // Nothing known: every delta operation, no control operation.
        let all = delta_ops_after(conn, document, &VersionVector::new()).unwrap();
        assert_eq!(all.len(), 5);
        assert!(all.iter().all(|o| kind_of(o) == LogKind::Delta));

        // a up to seq 1 known, b unknown, and an author the document never saw.
        let mut since = VersionVector::new();
        since.set(a, 1);
        since.set(author(&SigningKey::generate()), 7);
        let missing = delta_ops_after(conn, document, &since).unwrap();
        let of = |who: &AuthorId| -> Vec<u32> {
            missing
                .iter()
                .filter(|o| o.author == *who)
                .map(|o| o.seq)
                .collect()
        };
        assert_eq!(missing.len(), 3);
        assert_eq!(of(&a), vec![2], "a's operations after seq 1, in log order");
        assert_eq!(of(&b), vec![0, 1], "all of b's, in log order");
        assert_eq!(
            missing.iter().find(|o| o.author == a).map(hash_of),
            Some(a_ops[2].hash)
        );
        assert!(missing.iter().any(|o| hash_of(o) == b_ops[1].hash));

        // The whole vector known: nothing.
        let current = version_vector(conn, document).unwrap();
        assert!(delta_ops_after(conn, document, &current)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn heights_lists_control_logs_before_delta_logs_with_authors_in_byte_order() {
        let (_dir, mut store) = open();
        let document = DocumentId::random();
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        insert_all(
            &mut store,
            document,
            &chain(&ka, document, LogKind::Delta, 3),
            true,
        );
        insert_all(
            &mut store,
            document,
            &chain(&kb, document, LogKind::Delta, 1),
            true,
        );
        insert_all(
            &mut store,
            document,
            &chain(&kb, document, LogKind::Control, 2),
            true,
        );
        let (a, b) = (author(&ka), author(&kb));
        let mut deltas = vec![(a, LogKind::Delta, 2), (b, LogKind::Delta, 0)];
        deltas.sort_by_key(|h| *h.0.as_bytes());
        let mut expected = vec![(b, LogKind::Control, 1)];
        expected.extend(deltas);
        assert_eq!(heights(store.conn(), document).unwrap(), expected);
    }

    #[test]
    fn unapplied_delta_ops_are_listed_until_marked_applied() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let a = author(&key);
        insert_all(
            &mut store,
            document,
            &chain(&key, document, LogKind::Delta, 3),
            false,
        );
        // An unapplied control operation is not a delta operation.
        insert_all(
            &mut store,
            document,
            &chain(&key, document, LogKind::Control, 1),
            false,
        );
        assert_eq!(
            seqs(&unapplied_delta_ops(store.conn(), document).unwrap()),
            vec![0, 1, 2]
        );

        write(&mut store, |tx| mark_applied(tx, document, &a, 1).unwrap());
        assert_eq!(
            seqs(&unapplied_delta_ops(store.conn(), document).unwrap()),
            vec![0, 2]
        );
        let entries = log_entries(store.conn(), &a, document, LogKind::Delta, None, None).unwrap();
        assert_eq!(
            entries.iter().map(|o| o.applied).collect::<Vec<_>>(),
            vec![false, true, false]
        );
    }

    #[test]
    fn mark_applied_leaves_the_control_log_and_other_authors_alone() {
        let (_dir, mut store) = open();
        let document = DocumentId::random();
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        let a = author(&ka);
        insert_all(
            &mut store,
            document,
            &chain(&ka, document, LogKind::Delta, 1),
            false,
        );
        insert_all(
            &mut store,
            document,
            &chain(&ka, document, LogKind::Control, 1),
            false,
        );
        insert_all(
            &mut store,
            document,
            &chain(&kb, document, LogKind::Delta, 1),
            false,
        );
        write(&mut store, |tx| {
            mark_applied(tx, document, &a, 0).unwrap();
            // A position not held: nothing to mark, not an error.
            mark_applied(tx, document, &a, 9).unwrap();
        });
        let conn = store.conn();
        let control = log_entries(conn, &a, document, LogKind::Control, None, None).unwrap();
        assert!(!control[0].applied);
        let unapplied = unapplied_delta_ops(conn, document).unwrap();
        assert_eq!(unapplied.len(), 1);
        assert_eq!(unapplied[0].author, author(&kb));
    }

    #[test]
    fn delete_document_removes_every_log_of_that_document_only() {
        let (_dir, mut store) = open();
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        let (gone, kept) = (DocumentId::random(), DocumentId::random());
        let first = chain(&ka, gone, LogKind::Delta, 2);
        insert_all(&mut store, gone, &first, true);
        insert_all(
            &mut store,
            gone,
            &chain(&ka, gone, LogKind::Control, 2),
            true,
        );
        insert_all(
            &mut store,
            gone,
            &chain(&kb, gone, LogKind::Delta, 1),
            false,
        );
        insert_all(&mut store, kept, &chain(&ka, kept, LogKind::Delta, 2), true);

        write(&mut store, |tx| delete_document(tx, gone).unwrap());
        let conn = store.conn();
        assert!(heights(conn, gone).unwrap().is_empty());
        assert_eq!(count(conn, gone).unwrap(), 0);
        assert!(unapplied_delta_ops(conn, gone).unwrap().is_empty());
        assert_eq!(
            latest(conn, &author(&ka), gone, LogKind::Control).unwrap(),
            None
        );
        assert!(!contains(conn, &first[0]).unwrap());
        assert_eq!(count(conn, kept).unwrap(), 2);
        // Deleting again, or a document never seen, is not an error.
        write(&mut store, |tx| {
            delete_document(tx, gone).unwrap();
            delete_document(tx, DocumentId::random()).unwrap();
        });
        assert_eq!(count(store.conn(), kept).unwrap(), 2);
    }
}
