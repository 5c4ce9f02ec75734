//! A damaged database file (truncated at any offset, or with flipped bits in any page) never
//! panics: opening the node returns a typed store error, or, when SQLite cannot see the
//! damage at open, every later read reports a typed error instead of wrong data.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use fieldsync::internals::store::{raw_connection, DB_FILE};
use fieldsync::{DocumentId, Error, Node, NodeConfig, StoreError, Value};

const PAGE: usize = 4096;

/// A node database with one plain document of a few hundred operations, checkpointed into
/// the main file (no WAL left). Returns the file bytes, the document and its JSON.
fn healthy_database(dir: &Path) -> (Vec<u8>, DocumentId, String) {
    let (id, json) = {
        let mut cfg = NodeConfig::new(dir);
        cfg.encrypt = false;
        cfg.key_store = Some(std::sync::Arc::new(fieldsync_tests::FixedKeys));
        let node = Node::open(cfg).unwrap();
        let doc = node.create_document().unwrap();
        let list = doc.list("items").unwrap();
        for i in 0..300 {
            list.push(Value::from(format!("survey point {i}").as_str()))
                .unwrap();
        }
        node.flush().unwrap();
        (doc.id(), doc.to_json().unwrap())
    };
    let path = dir.join(DB_FILE);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    drop(conn);
    (std::fs::read(&path).unwrap(), id, json)
}

/// What opening and reading a damaged copy did.
#[derive(Debug)]
enum Outcome {
    /// Node::open returned this error.
    OpenFailed(Error),
    /// The node opened; the document read back equal to the original.
    Intact,
    /// The node opened; reading failed with a typed error (or integrity_check reported).
    ReadFailed(String),
}

fn open_damaged(bytes: &[u8], id: DocumentId, json: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE), bytes).unwrap();
    let mut cfg = NodeConfig::new(dir.path());
    cfg.encrypt = false;
    // The keys the healthy database was made with: damage, not a missing key, is tested.
    cfg.key_store = Some(std::sync::Arc::new(fieldsync_tests::FixedKeys));
    let node = match Node::open(cfg) {
        Ok(n) => n,
        Err(e) => return Outcome::OpenFailed(e),
    };
    let read = (|| -> fieldsync::Result<String> {
        let report = node.integrity_check()?;
        if report != ["ok"] {
            return Err(Error::Store(StoreError::Corrupt(report.join("; "))));
        }
        Ok(node.document(id)?.to_json()?)
    })();
    match read {
        Ok(j) if j == json => Outcome::Intact,
        Ok(j) => panic!("damaged database read back different content without error: {j:.200}"),
        Err(e) => Outcome::ReadFailed(e.to_string()),
    }
}

fn check(label: &str, bytes: &[u8], id: DocumentId, json: &str) -> Outcome {
    let outcome = catch_unwind(AssertUnwindSafe(|| open_damaged(bytes, id, json)))
        .unwrap_or_else(|_| panic!("{label}: panicked"));
    if let Outcome::OpenFailed(e) = &outcome {
        assert!(
            matches!(e, Error::Store(_)),
            "{label}: open failed with a non-store error: {e:?}"
        );
    }
    if let Outcome::ReadFailed(message) = &outcome {
        assert!(!message.is_empty(), "{label}: error without a message");
    }
    eprintln!("{label}: {outcome:?}");
    outcome
}

#[test]
fn truncated_database_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, id, json) = healthy_database(dir.path());
    assert!(bytes.len() > 8 * PAGE, "need a multi-page database");
    let cuts = [
        1,
        10,
        50,
        99,
        100,
        PAGE - 1,
        PAGE,
        PAGE + 1,
        2 * PAGE,
        bytes.len() / 2,
        bytes.len() - PAGE,
        bytes.len() - 1,
    ];
    for cut in cuts {
        let outcome = check(&format!("truncated to {cut}"), &bytes[..cut], id, &json);
        // Cut inside the header or the page table: refused at open. Only a cut in the free
        // tail of the last page may leave the data intact.
        if cut <= bytes.len() / 2 {
            assert!(
                matches!(
                    outcome,
                    Outcome::OpenFailed(Error::Store(StoreError::Corrupt(_)))
                ),
                "truncated to {cut}: {outcome:?}"
            );
        }
    }
}

#[test]
fn bit_flips_in_every_page_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, id, json) = healthy_database(dir.path());
    let pages = bytes.len() / PAGE;
    let mut rng = rand::thread_rng();
    for page in 0..pages {
        for _ in 0..3 {
            use rand::Rng;
            let mut damaged = bytes.clone();
            let at = page * PAGE + rng.gen_range(0..PAGE);
            damaged[at] ^= 1 << rng.gen_range(0..8);
            check(&format!("page {page}, byte {at}"), &damaged, id, &json);
        }
    }
}

/// Flips one bit at up to `samples` evenly spread positions of the blob `column` of `table`
/// (one row) in copies of the database at `src`, opening and reading each copy.
fn flip_blob(src: &Path, table: &str, column: &str, id: DocumentId, samples: usize) -> usize {
    let bytes = std::fs::read(src.join(DB_FILE)).unwrap();
    let read_blob = |conn: &rusqlite::Connection| -> Vec<u8> {
        conn.query_row(&format!("SELECT {column} FROM {table} LIMIT 1"), [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let len = read_blob(&rusqlite::Connection::open(src.join(DB_FILE)).unwrap()).len();
    let step = (len / samples).max(1);
    let mut errors = 0;
    for at in (0..len).step_by(step) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), &bytes).unwrap();
        std::fs::copy(src.join("store.key"), dir.path().join("store.key")).unwrap();
        {
            let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
            let mut blob = read_blob(&conn);
            blob[at] ^= 1 << (at % 8);
            conn.execute(&format!("UPDATE {table} SET {column} = ?1"), [blob])
                .unwrap();
        }
        let label = format!("{table}.{column} byte {at}/{len}");
        let result = catch_unwind(AssertUnwindSafe(|| {
            let node = Node::open(NodeConfig::new(dir.path()))?;
            let doc = node.document(id)?;
            doc.can_read()?;
            doc.to_json()
        }))
        .unwrap_or_else(|_| panic!("{label}: panicked"));
        if result.is_err() {
            errors += 1;
        }
    }
    errors
}

#[test]
fn damaged_key_material_and_group_state_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let node = fieldsync_tests::open_node(dir.path());
        let doc = node.create_document().unwrap();
        doc.text("t").unwrap().insert(0, "site 4").unwrap();
        doc.id()
    };
    let key_errors = flip_blob(dir.path(), "device_keys", "keys", id, 200);
    let group_errors = flip_blob(dir.path(), "groups", "state", id, 200);
    eprintln!("typed errors: {key_errors} for device keys, {group_errors} for group state");
    assert!(key_errors > 0, "damaged key material must be reported");
}

#[test]
fn key_material_of_another_device_is_reported_as_corruption() {
    let (mine, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    drop(fieldsync_tests::open_node(mine.path()));
    drop(fieldsync_tests::open_node(theirs.path()));
    // Plaintext key material, read and written through each database's own data key.
    let read_keys = |dir: &Path| -> Vec<u8> {
        raw_connection(dir)
            .query_row(
                "SELECT fs_open('device_keys.keys', keys, id) FROM device_keys WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let write_keys = |dir: &Path, keys: &[u8]| {
        raw_connection(dir)
            .execute(
                "UPDATE device_keys SET keys = fs_seal('device_keys.keys', ?1, id) WHERE id = 1",
                [keys],
            )
            .unwrap();
    };
    let own = read_keys(mine.path());
    // Another device's key material under this node's identity: a mixed-up database.
    write_keys(mine.path(), &read_keys(theirs.path()));
    match Node::open(NodeConfig::new(mine.path())) {
        Err(Error::Store(StoreError::Corrupt(reason))) => {
            assert!(reason.contains("belongs to"), "{reason}")
        }
        Err(other) => panic!("expected a corrupt store, got {other:?}"),
        Ok(_) => panic!("opened with another device's key material"),
    }
    // Key material that does not decode at all.
    write_keys(mine.path(), &own[..own.len() / 2]);
    match Node::open(NodeConfig::new(mine.path())) {
        Err(Error::Store(StoreError::Corrupt(reason))) => {
            assert!(reason.contains("device key material"), "{reason}")
        }
        Err(other) => panic!("expected a corrupt store, got {other:?}"),
        Ok(_) => panic!("opened with truncated key material"),
    }
    // The original bytes back: the node opens again, nothing was overwritten.
    write_keys(mine.path(), &own);
    Node::open(NodeConfig::new(mine.path())).expect("own key material opens");
}
