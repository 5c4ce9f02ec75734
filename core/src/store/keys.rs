//! Encryption key state (migration 3): this device's key material, the group state of each
//! document and the key bundles other devices announced.
//!
//! All blobs are CBOR produced by the crypto layer (`crate::crypto`). Device keys and group states contain
//! secrets and are stored as they are: protect the database file (platform file encryption
//! or SQLCipher) if the device may be compromised at rest.

use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;

/// This device's serialized [`crate::crypto::DeviceKeys`], if created.
pub fn device_keys(conn: &Connection) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT fs_open('device_keys.keys', keys, id) FROM device_keys WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Stores this device's serialized key material.
pub fn save_device_keys(conn: &Tx<'_>, keys: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO device_keys (id, keys, updated_at)
         VALUES (1, fs_seal('device_keys.keys', ?1, 1), ?2)
         ON CONFLICT(id) DO UPDATE SET keys = excluded.keys, updated_at = excluded.updated_at",
        params![keys, now_millis()],
    )?;
    Ok(())
}

/// Serialized [`crate::crypto::DocumentGroup`] of a document, if any.
pub fn group_state(conn: &Connection, document: DocumentId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT fs_open('groups.state', state, document) FROM groups WHERE document = ?1",
        )?
        .query_row([document.as_bytes()], |r| r.get(0))
        .optional()?)
}

/// Stores the group state of a document (after every change).
pub fn save_group_state(
    conn: &Tx<'_>,
    document: DocumentId,
    state: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO groups (document, state, updated_at)
         VALUES (?1, fs_seal('groups.state', ?2, ?1), ?3)
         ON CONFLICT(document) DO UPDATE SET state = excluded.state,
                                             updated_at = excluded.updated_at",
    )?
    .execute(params![document.as_bytes(), state, now_millis()])?;
    Ok(())
}

/// The latest key bundle announced by `author`, if any.
pub fn key_bundle(conn: &Connection, author: &AuthorId) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT bundle FROM key_bundles WHERE author = ?1")?
        .query_row([author.as_bytes()], |r| r.get(0))
        .optional()?)
}

/// Stores (replaces) the key bundle announced by `author`.
pub fn save_key_bundle(conn: &Tx<'_>, author: &AuthorId, bundle: &[u8]) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO key_bundles (author, bundle, received_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(author) DO UPDATE SET bundle = excluded.bundle,
                                           received_at = excluded.received_at",
    )?
    .execute(params![author.as_bytes(), bundle, now_millis()])?;
    Ok(())
}

/// Documents in whose control log `author` announced a key bundle (control operations whose
/// body starts with the key-bundle tag).
pub fn announced_documents(
    conn: &Connection,
    author: &AuthorId,
) -> Result<Vec<DocumentId>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT document FROM operations
         WHERE author = ?1 AND kind = 1
           AND substr(fs_open('operations.body', body, hash), 1, 1) = X'01'",
    )?;
    let rows = stmt.query_map([author.as_bytes()], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|r| {
        DocumentId::from_slice(&r?).map_err(|e| StoreError::Corrupt(format!("document id: {e}")))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use p2panda_core::SigningKey;

    use super::*;
    use crate::base::log::LogKind;
    use crate::store::oplog;
    use crate::store::test_support::{author, open, write};
    use crate::store::Store;
    use crate::wire::body::CONTROL_KEY_BUNDLE;
    use crate::wire::operation::build_operation;

    /// Stores the first operation of `key`'s `kind` log of `document`, with `body`.
    fn log_first(
        store: &mut Store,
        key: &SigningKey,
        document: DocumentId,
        kind: LogKind,
        body: &[u8],
    ) {
        let op = build_operation(key, document, kind, None, body.to_vec());
        write(store, |tx| {
            assert!(oplog::insert(tx, document, &op, &op.header.encode(), true).unwrap())
        });
    }

    #[test]
    fn device_keys_are_absent_until_saved_then_round_trip() {
        let (_dir, mut store) = open();
        assert_eq!(device_keys(store.conn()).unwrap(), None);
        write(&mut store, |tx| {
            save_device_keys(tx, b"device keys").unwrap()
        });
        assert_eq!(
            device_keys(store.conn()).unwrap(),
            Some(b"device keys".to_vec())
        );
    }

    #[test]
    fn saving_device_keys_again_replaces_the_single_row() {
        let (_dir, mut store) = open();
        write(&mut store, |tx| save_device_keys(tx, b"first").unwrap());
        write(&mut store, |tx| save_device_keys(tx, b"second").unwrap());
        assert_eq!(device_keys(store.conn()).unwrap(), Some(b"second".to_vec()));
        let rows: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM device_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn device_keys_saved_in_a_dropped_transaction_are_not_kept() {
        let (_dir, mut store) = open();
        write(&mut store, |tx| save_device_keys(tx, b"kept").unwrap());
        {
            let tx = store.transaction().unwrap();
            save_device_keys(&tx, b"discarded").unwrap();
        }
        assert_eq!(device_keys(store.conn()).unwrap(), Some(b"kept".to_vec()));
    }

    #[test]
    fn group_states_are_kept_per_document_and_replaced() {
        let (_dir, mut store) = open();
        let (one, two) = (DocumentId::random(), DocumentId::random());
        assert_eq!(group_state(store.conn(), one).unwrap(), None);
        write(&mut store, |tx| {
            save_group_state(tx, one, b"one v1").unwrap();
            save_group_state(tx, two, b"two v1").unwrap();
        });
        write(&mut store, |tx| {
            save_group_state(tx, one, b"one v2").unwrap()
        });
        let conn = store.conn();
        assert_eq!(group_state(conn, one).unwrap(), Some(b"one v2".to_vec()));
        assert_eq!(group_state(conn, two).unwrap(), Some(b"two v1".to_vec()));
        assert_eq!(group_state(conn, DocumentId::random()).unwrap(), None);
    }

    #[test]
    fn key_bundles_are_kept_per_author_and_replaced() {
        let (_dir, mut store) = open();
        let (a, b) = (
            author(&SigningKey::generate()),
            author(&SigningKey::generate()),
        );
        assert_eq!(key_bundle(store.conn(), &a).unwrap(), None);
        write(&mut store, |tx| {
            save_key_bundle(tx, &a, b"a v1").unwrap();
            save_key_bundle(tx, &b, b"b v1").unwrap();
        });
        write(&mut store, |tx| save_key_bundle(tx, &a, b"a v2").unwrap());
        let conn = store.conn();
        assert_eq!(key_bundle(conn, &a).unwrap(), Some(b"a v2".to_vec()));
        assert_eq!(key_bundle(conn, &b).unwrap(), Some(b"b v1".to_vec()));
        assert_eq!(
            key_bundle(conn, &author(&SigningKey::generate())).unwrap(),
            None
        );
    }

    #[test]
    fn announced_documents_are_those_whose_control_log_holds_an_author_key_bundle() {
        let (_dir, mut store) = open();
        let (key, other) = (SigningKey::generate(), SigningKey::generate());
        let [announced, other_tag, delta_only, others_doc, empty_body] =
            [(); 5].map(|_| DocumentId::random());
        let bundle = [CONTROL_KEY_BUNDLE, 7, 7];
        // Announced twice in one document: listed once.
        log_first(&mut store, &key, announced, LogKind::Control, &bundle);
        let second = build_operation(
            &key,
            announced,
            LogKind::Control,
            oplog::latest(store.conn(), &author(&key), announced, LogKind::Control).unwrap(),
            bundle.to_vec(),
        );
        write(&mut store, |tx| {
            assert!(oplog::insert(tx, announced, &second, &second.header.encode(), true).unwrap())
        });
        // Not announcements: another control message, a delta that happens to start with
        // the tag, another author's bundle, an empty control body.
        log_first(
            &mut store,
            &key,
            other_tag,
            LogKind::Control,
            &[CONTROL_KEY_BUNDLE + 1, 7],
        );
        log_first(&mut store, &key, delta_only, LogKind::Delta, &bundle);
        log_first(&mut store, &other, others_doc, LogKind::Control, &bundle);
        log_first(&mut store, &key, empty_body, LogKind::Control, &[]);

        assert_eq!(
            announced_documents(store.conn(), &author(&key)).unwrap(),
            vec![announced]
        );
        assert_eq!(
            announced_documents(store.conn(), &author(&other)).unwrap(),
            vec![others_doc]
        );
        assert!(
            announced_documents(store.conn(), &author(&SigningKey::generate()))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_deleted_document_log_no_longer_counts_as_announced() {
        let (_dir, mut store) = open();
        let key = SigningKey::generate();
        let (gone, kept) = (DocumentId::random(), DocumentId::random());
        log_first(
            &mut store,
            &key,
            gone,
            LogKind::Control,
            &[CONTROL_KEY_BUNDLE],
        );
        log_first(
            &mut store,
            &key,
            kept,
            LogKind::Control,
            &[CONTROL_KEY_BUNDLE],
        );
        write(&mut store, |tx| oplog::delete_document(tx, gone).unwrap());
        assert_eq!(
            announced_documents(store.conn(), &author(&key)).unwrap(),
            vec![kept]
        );
    }
}
