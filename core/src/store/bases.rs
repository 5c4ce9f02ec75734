//! Log bases (migration 11): where the held part of a log starts when the operations before
//! it are not held. A base is the (seq, hash) of the last operation a snapshot covers: set
//! when a snapshot is accepted (the operations it covers need not be fetched) or when
//! compaction prunes them. Reads of a log's head, of an operation's hash and of version
//! vectors (see `oplog.rs`) see a base as if its operation were held, so catch-up, ingest
//! and chaining work unchanged on a pruned log.

use p2panda_core::Hash;
use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::store::tx::Tx;
use crate::store::StoreError;

fn hash_of(bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::try_from(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The base (seq, hash) of an author's log, if it has one.
pub fn get(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
) -> Result<Option<(u32, Hash)>, StoreError> {
    conn.prepare_cached(
        "SELECT seq, hash FROM log_bases WHERE document = ?1 AND kind = ?2 AND author = ?3",
    )?
    .query_row(
        params![document.as_bytes(), kind.code(), author.as_bytes()],
        |r| Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?)),
    )
    .optional()?
    .map(|(seq, h)| hash_of(&h).map(|h| (seq, h)))
    .transpose()
}

/// Every base of one kind of log of a document: author -> (seq, hash).
pub fn of_document(
    conn: &Connection,
    document: DocumentId,
    kind: LogKind,
) -> Result<Vec<(AuthorId, u32, Hash)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT author, seq, hash FROM log_bases WHERE document = ?1 AND kind = ?2
         ORDER BY author",
    )?;
    let rows = stmt.query_map(params![document.as_bytes(), kind.code()], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, u32>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        ))
    })?;
    rows.map(|row| {
        let (a, seq, h) = row?;
        let author = AuthorId::from_slice(&a).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok((author, seq, hash_of(&h)?))
    })
    .collect()
}

/// Raises the base of a log to (seq, hash); a base at or above `seq` is kept. Returns true
/// if the base changed.
pub fn raise(
    tx: &Tx<'_>,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
    hash: Hash,
) -> Result<bool, StoreError> {
    if get(tx, author, document, kind)?.is_some_and(|(s, _)| s >= seq) {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO log_bases (document, kind, author, seq, hash)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        document.as_bytes(),
        kind.code(),
        author.as_bytes(),
        seq,
        hash.as_bytes()
    ])?;
    Ok(true)
}

/// Deletes every base of a document.
pub fn delete_document(tx: &Tx<'_>, document: DocumentId) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM log_bases WHERE document = ?1",
        [document.as_bytes()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::{author, open};

    #[test]
    fn a_base_is_only_ever_raised() {
        let (_dir, mut store) = open();
        let doc = DocumentId::from(Hash::digest(b"doc"));
        let a = author(&p2panda_core::SigningKey::generate());
        let tx = store.transaction().unwrap();
        assert!(raise(&tx, &a, doc, LogKind::Delta, 10, Hash::digest(b"10")).unwrap());
        assert!(!raise(&tx, &a, doc, LogKind::Delta, 5, Hash::digest(b"5")).unwrap());
        assert!(raise(&tx, &a, doc, LogKind::Delta, 20, Hash::digest(b"20")).unwrap());
        tx.commit().unwrap();
        assert_eq!(
            get(store.conn(), &a, doc, LogKind::Delta).unwrap(),
            Some((20, Hash::digest(b"20")))
        );
        assert_eq!(get(store.conn(), &a, doc, LogKind::Control).unwrap(), None);
        assert_eq!(
            of_document(store.conn(), doc, LogKind::Delta)
                .unwrap()
                .len(),
            1
        );
        let tx = store.transaction().unwrap();
        delete_document(&tx, doc).unwrap();
        tx.commit().unwrap();
        assert_eq!(get(store.conn(), &a, doc, LogKind::Delta).unwrap(), None);
    }
}
