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
        .prepare_cached(
            "SELECT fs_open('snapshots.snapshot', snapshot, document), vv FROM snapshots
             WHERE document = ?1",
        )?
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
        "INSERT INTO snapshots (document, snapshot, vv)
         VALUES (?1, fs_seal('snapshots.snapshot', ?2, ?1), ?3)
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

/// True if the document predates roles (see schema migration 7): no role checks.
pub fn is_legacy(conn: &Connection, id: DocumentId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT legacy FROM documents WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| r.get::<_, bool>(0))
        .optional()?
        .unwrap_or(false))
}

/// Drops the cached snapshot of a document (it is rebuilt from the op log).
pub fn clear_snapshot(conn: &Tx<'_>, id: DocumentId) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM snapshots WHERE document = ?1")?
        .execute([id.as_bytes()])?;
    Ok(())
}

/// Sets the `plain` flag of a document (see [`is_plain`]).
pub fn set_plain(conn: &Tx<'_>, id: DocumentId, plain: bool) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE documents SET plain = ?2 WHERE id = ?1",
        params![id.as_bytes(), plain],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use p2panda_core::SigningKey;

    use super::*;
    use crate::base::ids::AuthorId;
    use crate::store::keys;
    use crate::store::test_support::{open, write};
    use crate::store::Store;

    fn registered(store: &mut Store) -> DocumentId {
        let id = DocumentId::random();
        assert!(write(store, |tx| ensure(tx, id).unwrap()));
        id
    }

    fn vector(entries: &[u32]) -> VersionVector {
        let mut vv = VersionVector::new();
        for seq in entries {
            vv.set(AuthorId::from(SigningKey::generate().verifying_key()), *seq);
        }
        vv
    }

    #[test]
    fn a_document_never_seen_is_unknown() {
        let (_dir, store) = open();
        let id = DocumentId::random();
        let conn = store.conn();
        assert_eq!(state(conn, id).unwrap(), DocumentState::Unknown);
        assert!(list(conn).unwrap().is_empty());
        assert!(!is_plain(conn, id).unwrap());
        assert!(snapshot(conn, id).unwrap().is_none());
    }

    #[test]
    fn ensure_registers_a_live_document_once() {
        let (_dir, mut store) = open();
        let id = DocumentId::random();
        assert!(write(&mut store, |tx| ensure(tx, id).unwrap()));
        assert!(!write(&mut store, |tx| ensure(tx, id).unwrap()));
        assert_eq!(state(store.conn(), id).unwrap(), DocumentState::Live);
        assert_eq!(list(store.conn()).unwrap(), vec![id]);
    }

    #[test]
    fn ensure_in_a_dropped_transaction_leaves_the_document_unknown() {
        let (_dir, mut store) = open();
        let id = DocumentId::random();
        {
            let tx = store.transaction().unwrap();
            assert!(ensure(&tx, id).unwrap());
        }
        assert_eq!(state(store.conn(), id).unwrap(), DocumentState::Unknown);
        assert!(list(store.conn()).unwrap().is_empty());
    }

    #[test]
    fn list_returns_live_documents_oldest_first() {
        let (_dir, mut store) = open();
        // Registered within the same millisecond, mostly: insertion order breaks the tie.
        let ids: Vec<DocumentId> = (0..5).map(|_| registered(&mut store)).collect();
        assert_eq!(list(store.conn()).unwrap(), ids);
    }

    #[test]
    fn a_deleted_document_keeps_a_tombstone_and_leaves_the_list() {
        let (_dir, mut store) = open();
        let (gone, kept) = (registered(&mut store), registered(&mut store));
        write(&mut store, |tx| mark_deleted(tx, gone).unwrap());
        assert_eq!(state(store.conn(), gone).unwrap(), DocumentState::Deleted);
        assert_eq!(state(store.conn(), kept).unwrap(), DocumentState::Live);
        assert_eq!(list(store.conn()).unwrap(), vec![kept]);
        // Registering it again does not bring it back.
        assert!(!write(&mut store, |tx| ensure(tx, gone).unwrap()));
        assert_eq!(state(store.conn(), gone).unwrap(), DocumentState::Deleted);
        assert_eq!(list(store.conn()).unwrap(), vec![kept]);
    }

    #[test]
    fn deleting_a_document_drops_its_snapshot_and_group_state_only() {
        let (_dir, mut store) = open();
        let (gone, kept) = (registered(&mut store), registered(&mut store));
        let vv = vector(&[3]);
        write(&mut store, |tx| {
            for id in [gone, kept] {
                save_snapshot(tx, id, b"snapshot", &vv).unwrap();
                keys::save_group_state(tx, id, b"group secrets").unwrap();
            }
        });
        write(&mut store, |tx| mark_deleted(tx, gone).unwrap());
        let conn = store.conn();
        assert!(snapshot(conn, gone).unwrap().is_none());
        assert_eq!(keys::group_state(conn, gone).unwrap(), None);
        assert_eq!(
            snapshot(conn, kept).unwrap(),
            Some((b"snapshot".to_vec(), vv))
        );
        assert_eq!(
            keys::group_state(conn, kept).unwrap(),
            Some(b"group secrets".to_vec())
        );
    }

    #[test]
    fn deleting_an_unknown_document_records_no_tombstone() {
        let (_dir, mut store) = open();
        let id = DocumentId::random();
        write(&mut store, |tx| mark_deleted(tx, id).unwrap());
        assert_eq!(state(store.conn(), id).unwrap(), DocumentState::Unknown);
    }

    #[test]
    fn a_snapshot_round_trips_with_its_version_vector() {
        let (_dir, mut store) = open();
        let id = registered(&mut store);
        let vv = vector(&[0, 41, u32::MAX]);
        let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        write(&mut store, |tx| save_snapshot(tx, id, &bytes, &vv).unwrap());
        assert_eq!(snapshot(store.conn(), id).unwrap(), Some((bytes, vv)));
    }

    #[test]
    fn an_empty_snapshot_with_an_empty_vector_round_trips() {
        let (_dir, mut store) = open();
        let id = registered(&mut store);
        write(&mut store, |tx| {
            save_snapshot(tx, id, &[], &VersionVector::new()).unwrap()
        });
        assert_eq!(
            snapshot(store.conn(), id).unwrap(),
            Some((Vec::new(), VersionVector::new()))
        );
    }

    #[test]
    fn saving_a_snapshot_replaces_the_previous_one() {
        let (_dir, mut store) = open();
        let (id, other) = (registered(&mut store), registered(&mut store));
        let (old, new) = (vector(&[1]), vector(&[2, 5]));
        write(&mut store, |tx| {
            save_snapshot(tx, id, b"old", &old).unwrap();
            save_snapshot(tx, other, b"other", &old).unwrap();
        });
        write(&mut store, |tx| {
            save_snapshot(tx, id, b"new", &new).unwrap()
        });
        assert_eq!(
            snapshot(store.conn(), id).unwrap(),
            Some((b"new".to_vec(), new))
        );
        assert_eq!(
            snapshot(store.conn(), other).unwrap(),
            Some((b"other".to_vec(), old))
        );
    }

    #[test]
    fn a_snapshot_of_an_unregistered_document_is_refused() {
        let (_dir, mut store) = open();
        let id = DocumentId::random();
        let tx = store.transaction().unwrap();
        assert!(save_snapshot(&tx, id, b"orphan", &vector(&[1])).is_err());
        drop(tx);
        assert!(snapshot(store.conn(), id).unwrap().is_none());
    }

    #[test]
    fn a_malformed_snapshot_vector_is_reported_corrupt() {
        let (_dir, mut store) = open();
        let id = registered(&mut store);
        write(&mut store, |tx| {
            tx.execute(
                "INSERT INTO snapshots (document, snapshot, vv)
                 VALUES (?1, fs_seal('snapshots.snapshot', ?2, ?1), ?3)",
                params![id.as_bytes(), b"snapshot".as_slice(), [0u8; 35].as_slice()],
            )
            .unwrap()
        });
        assert!(matches!(
            snapshot(store.conn(), id),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn the_plain_flag_is_off_by_default_and_can_be_set_and_cleared() {
        let (_dir, mut store) = open();
        let (id, other) = (registered(&mut store), registered(&mut store));
        assert!(!is_plain(store.conn(), id).unwrap());
        write(&mut store, |tx| set_plain(tx, id, true).unwrap());
        assert!(is_plain(store.conn(), id).unwrap());
        assert!(!is_plain(store.conn(), other).unwrap());
        write(&mut store, |tx| set_plain(tx, id, false).unwrap());
        assert!(!is_plain(store.conn(), id).unwrap());
    }

    #[test]
    fn setting_the_plain_flag_of_an_unknown_document_registers_nothing() {
        let (_dir, mut store) = open();
        let id = DocumentId::random();
        write(&mut store, |tx| set_plain(tx, id, true).unwrap());
        assert!(!is_plain(store.conn(), id).unwrap());
        assert_eq!(state(store.conn(), id).unwrap(), DocumentState::Unknown);
    }
}
