//! Operations that arrived before their predecessors, kept outside the op log until the gap
//! in their author's log closes.

use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;
use crate::wire::operation::FsOperation;

/// How much of the parking area one author may take, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct ParkLimits {
    /// Operations parked in all.
    pub total: u64,
    /// Operations parked per author (identities are free: one key cannot fill the area).
    pub per_author: u64,
    /// Milliseconds after which a parked operation is dropped (a later sync fetches it
    /// again if it is still wanted: parked operations are not in this node's heights).
    pub expiry_ms: i64,
}

/// Parks an operation. Returns false if the parking area (or the author's share of it) is
/// full or it was already parked. Expired operations are dropped first.
pub fn park(conn: &Tx<'_>, op: &FsOperation, limits: ParkLimits) -> Result<bool, StoreError> {
    let now = now_millis();
    conn.prepare_cached("DELETE FROM parked_operations WHERE received_at < ?1")?
        .execute([now.saturating_sub(limits.expiry_ms)])?;
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM parked_operations")?
        .query_row([], |r| r.get(0))?;
    if n as u64 >= limits.total {
        return Ok(false);
    }
    let mine: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM parked_operations WHERE author = ?1")?
        .query_row([op.header.verifying_key.as_bytes()], |r| r.get(0))?;
    if mine as u64 >= limits.per_author {
        return Ok(false);
    }
    let changed = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO parked_operations
             (hash, document, author, kind, seq, header, body, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, fs_seal('parked_operations.body', ?7, ?1), ?8)",
        )?
        .execute(params![
            op.hash.as_bytes(),
            op.header.extensions.document.as_bytes(),
            op.header.verifying_key.as_bytes(),
            op.header.extensions.kind.code(),
            op.header.seq_num,
            op.header.encode(),
            op.body.as_ref().map(|b| b.as_bytes()),
            now,
        ])?;
    Ok(changed == 1)
}

/// The logs of `document` that have parked operations, as (author, kind).
pub fn logs_of(
    conn: &Connection,
    document: DocumentId,
) -> Result<Vec<(AuthorId, LogKind)>, StoreError> {
    Ok(logs(conn)?
        .into_iter()
        .filter(|(_, d, _)| *d == document)
        .map(|(a, _, k)| (a, k))
        .collect())
}

/// The parked control operations of `author` in `document`, as (header, body), newest
/// (highest seq) first.
pub fn control_of(
    conn: &Connection,
    author: &AuthorId,
    document: DocumentId,
) -> Result<Vec<RawParts>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT header, fs_open('parked_operations.body', body, hash) FROM parked_operations
         WHERE author = ?1 AND document = ?2 AND kind = ?3 ORDER BY seq DESC",
    )?;
    let rows = stmt.query_map(
        params![
            author.as_bytes(),
            document.as_bytes(),
            LogKind::Control.code()
        ],
        |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)),
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
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
            "SELECT hash, header, fs_open('parked_operations.body', body, hash)
             FROM parked_operations
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

/// Removes the parked operations of a log from `seq` on. Returns how many.
pub fn delete_from(
    conn: &Tx<'_>,
    author: &AuthorId,
    document: DocumentId,
    kind: LogKind,
    seq: u32,
) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM parked_operations
             WHERE author = ?1 AND document = ?2 AND kind = ?3 AND seq >= ?4",
        )?
        .execute(params![
            author.as_bytes(),
            document.as_bytes(),
            kind.code(),
            seq
        ])?)
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

#[cfg(test)]
mod tests {
    use p2panda_core::SigningKey;

    use super::*;
    use crate::store::test_support::{author, open, write};
    use crate::store::Store;
    use crate::wire::operation::build_operation;

    /// Limits of `total` operations, with no per-author share and no expiry.
    fn total(total: u64) -> ParkLimits {
        ParkLimits {
            total,
            per_author: u64::MAX,
            expiry_ms: i64::MAX,
        }
    }

    /// A limit no test reaches.
    const NO_LIMIT: u64 = 1_000;

    /// `n` chained operations of one log, seq 0 to n - 1, with distinct bodies.
    fn chain(key: &SigningKey, document: DocumentId, kind: LogKind, n: u32) -> Vec<FsOperation> {
        let mut previous = None;
        (0..n)
            .map(|seq| {
                let op = build_operation(key, document, kind, previous, vec![seq as u8]);
                previous = Some((seq, op.hash));
                op
            })
            .collect()
    }

    fn park_one(store: &mut Store, op: &FsOperation, limit: u64) -> bool {
        write(store, |tx| park(tx, op, total(limit)).unwrap())
    }

    fn take_one(
        store: &mut Store,
        author: &AuthorId,
        document: DocumentId,
        kind: LogKind,
        seq: u32,
    ) -> Option<RawParts> {
        write(store, |tx| take(tx, author, document, kind, seq).unwrap())
    }

    fn parts(op: &FsOperation) -> RawParts {
        (op.header.encode(), op.body.as_ref().map(|b| b.to_bytes()))
    }

    #[test]
    fn a_parked_operation_is_taken_back_once_by_its_log_position() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let ops = chain(&key, document, LogKind::Delta, 3);
        assert!(park_one(&mut store, &ops[2], NO_LIMIT));
        assert_eq!(count(store.conn()).unwrap(), 1);
        assert_eq!(
            logs(store.conn()).unwrap(),
            vec![(author(&key), document, LogKind::Delta)]
        );

        let taken = take_one(&mut store, &author(&key), document, LogKind::Delta, 2);
        assert_eq!(taken, Some(parts(&ops[2])));
        assert_eq!(count(store.conn()).unwrap(), 0);
        assert!(logs(store.conn()).unwrap().is_empty());
        assert_eq!(
            take_one(&mut store, &author(&key), document, LogKind::Delta, 2),
            None
        );
    }

    #[test]
    fn take_returns_only_the_requested_seq() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let a = author(&key);
        let ops = chain(&key, document, LogKind::Delta, 4);
        for op in &ops[1..] {
            assert!(park_one(&mut store, op, NO_LIMIT));
        }
        assert_eq!(
            take_one(&mut store, &a, document, LogKind::Delta, 2),
            Some(parts(&ops[2]))
        );
        assert_eq!(count(store.conn()).unwrap(), 2);
        // Positions never parked.
        assert_eq!(take_one(&mut store, &a, document, LogKind::Delta, 0), None);
        assert_eq!(take_one(&mut store, &a, document, LogKind::Delta, 4), None);
        assert_eq!(count(store.conn()).unwrap(), 2);
        assert_eq!(
            take_one(&mut store, &a, document, LogKind::Delta, 3),
            Some(parts(&ops[3]))
        );
        assert_eq!(
            take_one(&mut store, &a, document, LogKind::Delta, 1),
            Some(parts(&ops[1]))
        );
        assert_eq!(count(store.conn()).unwrap(), 0);
    }

    #[test]
    fn take_matches_author_document_and_kind() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let a = author(&key);
        let ops = chain(&key, document, LogKind::Delta, 2);
        assert!(park_one(&mut store, &ops[1], NO_LIMIT));
        let stranger = author(&SigningKey::generate());
        assert_eq!(
            take_one(&mut store, &stranger, document, LogKind::Delta, 1),
            None
        );
        assert_eq!(
            take_one(&mut store, &a, DocumentId::random(), LogKind::Delta, 1),
            None
        );
        assert_eq!(
            take_one(&mut store, &a, document, LogKind::Control, 1),
            None
        );
        assert_eq!(count(store.conn()).unwrap(), 1);
        assert_eq!(
            take_one(&mut store, &a, document, LogKind::Delta, 1),
            Some(parts(&ops[1]))
        );
    }

    #[test]
    fn an_operation_parked_without_its_body_is_taken_without_one() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let mut op = chain(&key, document, LogKind::Control, 2).remove(1);
        op.body = None;
        assert!(park_one(&mut store, &op, NO_LIMIT));
        let taken = take_one(&mut store, &author(&key), document, LogKind::Control, 1);
        assert_eq!(taken, Some((op.header.encode(), None)));
    }

    #[test]
    fn parking_the_same_operation_twice_keeps_one_copy() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let op = chain(&key, document, LogKind::Delta, 2).remove(1);
        assert!(park_one(&mut store, &op, NO_LIMIT));
        assert!(!park_one(&mut store, &op, NO_LIMIT));
        assert_eq!(count(store.conn()).unwrap(), 1);
        assert!(take_one(&mut store, &author(&key), document, LogKind::Delta, 1).is_some());
        assert_eq!(
            take_one(&mut store, &author(&key), document, LogKind::Delta, 1),
            None
        );
    }

    #[test]
    fn parking_beyond_the_limit_is_refused() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let a = author(&key);
        let ops = chain(&key, document, LogKind::Delta, 5);
        assert!(park_one(&mut store, &ops[1], 2));
        assert!(park_one(&mut store, &ops[2], 2));
        // Full: refused without an error, and nothing parked is displaced.
        assert!(!park_one(&mut store, &ops[3], 2));
        assert!(!park_one(&mut store, &ops[1], 2));
        assert_eq!(count(store.conn()).unwrap(), 2);
        assert_eq!(take_one(&mut store, &a, document, LogKind::Delta, 3), None);
        // Taking one frees its place.
        assert!(take_one(&mut store, &a, document, LogKind::Delta, 1).is_some());
        assert!(park_one(&mut store, &ops[3], 2));
        assert_eq!(
            take_one(&mut store, &a, document, LogKind::Delta, 3),
            Some(parts(&ops[3]))
        );
    }

    #[test]
    fn the_limit_counts_operations_of_every_log() {
        let (_dir, mut store) = open();
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        let (one, two) = (DocumentId::random(), DocumentId::random());
        assert!(park_one(
            &mut store,
            &chain(&ka, one, LogKind::Delta, 2)[1],
            2
        ));
        assert!(park_one(
            &mut store,
            &chain(&kb, two, LogKind::Control, 2)[1],
            2
        ));
        assert!(!park_one(
            &mut store,
            &chain(&kb, one, LogKind::Delta, 2)[1],
            2
        ));
    }

    #[test]
    fn a_limit_of_zero_parks_nothing() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let op = chain(&key, document, LogKind::Delta, 2).remove(1);
        assert!(!park_one(&mut store, &op, 0));
        assert_eq!(count(store.conn()).unwrap(), 0);
    }

    #[test]
    fn a_park_in_a_dropped_transaction_leaves_nothing() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let op = chain(&key, document, LogKind::Delta, 2).remove(1);
        {
            let tx = store.transaction().unwrap();
            assert!(park(&tx, &op, total(NO_LIMIT)).unwrap());
        }
        assert_eq!(count(store.conn()).unwrap(), 0);
        assert!(logs(store.conn()).unwrap().is_empty());
    }

    #[test]
    fn a_take_in_a_dropped_transaction_keeps_the_operation_parked() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let op = chain(&key, document, LogKind::Delta, 2).remove(1);
        assert!(park_one(&mut store, &op, NO_LIMIT));
        {
            let tx = store.transaction().unwrap();
            assert!(take(&tx, &author(&key), document, LogKind::Delta, 1)
                .unwrap()
                .is_some());
        }
        assert_eq!(count(store.conn()).unwrap(), 1);
        assert_eq!(
            take_one(&mut store, &author(&key), document, LogKind::Delta, 1),
            Some(parts(&op))
        );
    }

    #[test]
    fn logs_lists_each_log_with_parked_operations_once() {
        let (_dir, mut store) = open();
        let (ka, kb) = (SigningKey::generate(), SigningKey::generate());
        let (one, two) = (DocumentId::random(), DocumentId::random());
        let a_delta = chain(&ka, one, LogKind::Delta, 3);
        for op in &a_delta[1..] {
            assert!(park_one(&mut store, op, NO_LIMIT));
        }
        assert!(park_one(
            &mut store,
            &chain(&ka, one, LogKind::Control, 2)[1],
            NO_LIMIT
        ));
        assert!(park_one(
            &mut store,
            &chain(&kb, two, LogKind::Delta, 4)[3],
            NO_LIMIT
        ));
        let mut found = logs(store.conn()).unwrap();
        found.sort();
        let mut expected = vec![
            (author(&ka), one, LogKind::Delta),
            (author(&ka), one, LogKind::Control),
            (author(&kb), two, LogKind::Delta),
        ];
        expected.sort();
        assert_eq!(found, expected);
    }

    #[test]
    fn forked_operations_at_one_position_are_both_parked_and_taken_one_at_a_time() {
        let (_dir, mut store) = open();
        let (key, document) = (SigningKey::generate(), DocumentId::random());
        let a = author(&key);
        let base = build_operation(&key, document, LogKind::Delta, None, b"base".to_vec());
        let prev = Some((0, base.hash));
        let left = build_operation(&key, document, LogKind::Delta, prev, b"left".to_vec());
        let right = build_operation(&key, document, LogKind::Delta, prev, b"right".to_vec());
        assert!(park_one(&mut store, &left, NO_LIMIT));
        assert!(park_one(&mut store, &right, NO_LIMIT));
        assert_eq!(count(store.conn()).unwrap(), 2);
        let first = take_one(&mut store, &a, document, LogKind::Delta, 1).unwrap();
        assert_eq!(count(store.conn()).unwrap(), 1);
        let second = take_one(&mut store, &a, document, LogKind::Delta, 1).unwrap();
        assert_ne!(first, second);
        let mut both = vec![first, second];
        both.sort();
        let mut expected = vec![parts(&left), parts(&right)];
        expected.sort();
        assert_eq!(both, expected);
        assert_eq!(count(store.conn()).unwrap(), 0);
    }
}
