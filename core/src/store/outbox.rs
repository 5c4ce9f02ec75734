//! The outbox: local operations that no peer has acknowledged yet.

use p2panda_core::Hash;
use rusqlite::{params, Connection, ToSql};

use crate::base::ids::DocumentId;
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;
use crate::wire::operation::FsOperation;

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

/// Adds one of our operations to the outbox.
pub fn push(conn: &Tx<'_>, op: &FsOperation) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO outbox (document, kind, seq, hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        op.header.extensions.document.as_bytes(),
        op.header.extensions.kind.code(),
        op.header.seq_num,
        op.hash.as_bytes(),
        now_millis()
    ])?;
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

/// Hashes per statement of [`acknowledge`] and [`record_attempt`] (below SQLite's limit
/// of bound parameters).
const HASHES_PER_STATEMENT: usize = 256;

/// Runs `sql` over `hashes` in chunks; returns the rows changed. `sql` binds `extra` as
/// `?1`.. and holds a `{hashes}` placeholder for the list of the chunk's hashes, bound after
/// them. Hashes are not indexed (they are random: an index keyed by them made every write and
/// acknowledgement dirty a page of its own), so each chunk is one pass over the outbox, which
/// holds only unacknowledged operations.
fn by_hashes(
    conn: &Connection,
    sql: &str,
    extra: &[&dyn ToSql],
    hashes: &[Hash],
) -> Result<usize, StoreError> {
    let mut n = 0;
    for chunk in hashes.chunks(HASHES_PER_STATEMENT) {
        let list = (0..chunk.len())
            .map(|i| format!("?{}", extra.len() + i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let mut stmt = conn.prepare_cached(&sql.replace("{hashes}", &list))?;
        let mut values: Vec<&dyn ToSql> = extra.to_vec();
        values.extend(chunk.iter().map(|h| h.as_bytes() as &dyn ToSql));
        n += stmt.execute(values.as_slice())?;
    }
    Ok(n)
}

/// Removes acknowledged entries; returns how many were pending.
pub fn acknowledge(conn: &Tx<'_>, hashes: &[Hash]) -> Result<usize, StoreError> {
    by_hashes(
        conn,
        "DELETE FROM outbox WHERE hash IN ({hashes})",
        &[],
        hashes,
    )
}

/// Acknowledges the pending entries of our log of `document` of `kind` for seqs `after`
/// (exclusive; `None`: from the first) to `seq` (inclusive). Bounding the range from below
/// keeps repeated acknowledgements of a growing log linear in total.
pub fn acknowledge_range(
    conn: &Tx<'_>,
    document: DocumentId,
    kind: crate::base::log::LogKind,
    after: Option<u32>,
    seq: u32,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM outbox WHERE document = ?1 AND kind = ?2 AND seq > ?3 AND seq <= ?4",
        )?
        .execute(params![
            document.as_bytes(),
            kind.code(),
            after.map_or(-1, i64::from),
            seq
        ])?)
}

/// Records a failed delivery attempt on the entries of `hashes`.
pub fn record_attempt(
    conn: &Tx<'_>,
    hashes: &[Hash],
    error: Option<&str>,
) -> Result<(), StoreError> {
    by_hashes(
        conn,
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?1 WHERE hash IN ({hashes})",
        &[&error],
        hashes,
    )?;
    Ok(())
}

/// Removes every entry of a document (deleted on this node).
pub fn delete_document(conn: &Tx<'_>, document: DocumentId) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM outbox WHERE document = ?1",
        [document.as_bytes()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use p2panda_core::SigningKey;

    use super::*;
    use crate::base::log::LogKind;
    use crate::store::Store;
    use crate::wire::operation::build_operation;

    #[test]
    fn hashes_beyond_one_statement_are_acknowledged_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), &[9; 32]).unwrap();
        let tx = store.transaction().unwrap();
        let conn = &tx;
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let mut previous = None;
        let mut hashes = Vec::new();
        for i in 0..(HASHES_PER_STATEMENT + 44) as u32 {
            let op = build_operation(&key, document, LogKind::Delta, previous, vec![i as u8]);
            push(conn, &op).unwrap();
            push(conn, &op).unwrap(); // again: ignored
            previous = Some((i, op.hash));
            hashes.push(op.hash);
        }
        assert_eq!(pending_count(conn, document).unwrap(), hashes.len() as u64);
        // Failures on the last 10 only, across the chunk boundary of the list below.
        let mut failed = hashes[hashes.len() - 10..].to_vec();
        failed.push(Hash::digest(b"not pending"));
        record_attempt(conn, &failed, Some("peer vanished")).unwrap();
        let entries = pending(conn, Some(document)).unwrap();
        assert_eq!(entries.iter().filter(|e| e.attempts == 1).count(), 10);
        assert!(entries[..entries.len() - 10]
            .iter()
            .all(|e| e.attempts == 0));
        // Acknowledge all but the first, plus an unknown hash, in two statements.
        let mut acked = hashes[1..].to_vec();
        acked.insert(100, Hash::digest(b"unknown"));
        assert_eq!(acknowledge(conn, &acked).unwrap(), hashes.len() - 1);
        let left = pending(conn, Some(document)).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].hash, hashes[0]);
        // A range acknowledgement of the same log removes the rest.
        assert_eq!(
            acknowledge_range(conn, document, LogKind::Delta, None, 0).unwrap(),
            1
        );
        assert_eq!(pending_count(conn, document).unwrap(), 0);
    }
}
