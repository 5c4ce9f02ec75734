//! Log bases (migration 11): where the held part of a log starts when the operations before
//! it are not held. A base is the (seq, hash) of the last operation a snapshot covers: set
//! when a snapshot is accepted (the operations it covers need not be fetched) or when
//! compaction prunes them. Each base keeps its operation's signed header (schema 13), which
//! a snapshot published later names as its cover of the log. Reads of a log's head, of an operation's hash and of version
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

/// The signed header of the operation at a log's base, if the base is at `seq` and its
/// header is kept.
pub fn header_at(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT header FROM log_bases
             WHERE document = ?1 AND kind = ?2 AND author = ?3 AND seq = ?4",
        )?
        .query_row(
            params![document.as_bytes(), kind.code(), author.as_bytes(), seq],
            |r| r.get::<_, Option<Vec<u8>>>(0),
        )
        .optional()?
        .flatten())
}

/// The signed header of the operation at `seq` of a log: held, or kept with its base.
pub fn header_held_or_base(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
) -> Result<Option<Vec<u8>>, StoreError> {
    match crate::store::oplog::header_at(conn, author, document, kind, seq)? {
        Some(h) => Ok(Some(h)),
        None => header_at(conn, author, document, kind, seq),
    }
}

/// Raises the base of a log to (seq, hash), keeping the operation's signed `header`; a
/// base at or above `seq` is kept. Returns true if the base changed.
pub fn raise(
    tx: &Tx<'_>,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
    hash: Hash,
    header: &[u8],
) -> Result<bool, StoreError> {
    if get(tx, author, document, kind)?.is_some_and(|(s, _)| s >= seq) {
        return Ok(false);
    }
    set(tx, author, document, kind, seq, hash, header)?;
    Ok(true)
}

/// Sets the base of a log to (seq, hash, header), lower or higher than before.
pub fn set(
    tx: &Tx<'_>,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
    hash: Hash,
    header: &[u8],
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO log_bases (document, kind, author, seq, hash, header)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        document.as_bytes(),
        kind.code(),
        author.as_bytes(),
        seq,
        hash.as_bytes(),
        header
    ])?;
    Ok(())
}

/// Removes the base of a log (its held part then starts at seq 0).
pub fn remove(
    tx: &Tx<'_>,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM log_bases WHERE document = ?1 AND kind = ?2 AND author = ?3")?
        .execute(params![document.as_bytes(), kind.code(), author.as_bytes()])?;
    Ok(())
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
        assert!(raise(
            &tx,
            &a,
            doc,
            LogKind::Delta,
            10,
            Hash::digest(b"10"),
            b"h10"
        )
        .unwrap());
        assert!(!raise(&tx, &a, doc, LogKind::Delta, 5, Hash::digest(b"5"), b"h5").unwrap());
        assert!(raise(
            &tx,
            &a,
            doc,
            LogKind::Delta,
            20,
            Hash::digest(b"20"),
            b"h20"
        )
        .unwrap());
        tx.commit().unwrap();
        assert_eq!(
            get(store.conn(), &a, doc, LogKind::Delta).unwrap(),
            Some((20, Hash::digest(b"20")))
        );
        assert_eq!(get(store.conn(), &a, doc, LogKind::Control).unwrap(), None);
        assert_eq!(
            header_at(store.conn(), &a, doc, LogKind::Delta, 20).unwrap(),
            Some(b"h20".to_vec())
        );
        assert_eq!(
            header_at(store.conn(), &a, doc, LogKind::Delta, 10).unwrap(),
            None
        );
        let tx = store.transaction().unwrap();
        set(&tx, &a, doc, LogKind::Delta, 3, Hash::digest(b"3"), b"h3").unwrap();
        tx.commit().unwrap();
        assert_eq!(
            get(store.conn(), &a, doc, LogKind::Delta).unwrap(),
            Some((3, Hash::digest(b"3")))
        );
        let tx = store.transaction().unwrap();
        remove(&tx, &a, doc, LogKind::Delta).unwrap();
        set(
            &tx,
            &a,
            doc,
            LogKind::Delta,
            20,
            Hash::digest(b"20"),
            b"h20",
        )
        .unwrap();
        tx.commit().unwrap();
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
