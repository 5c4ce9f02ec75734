//! Schema migrations: a database created at schema version 1 opens and upgrades cleanly.

use fieldsync::internals::store::migrations::{current_version, migrate, LATEST};
use fieldsync::internals::store::{default_store_key, Store, DB_FILE};
use fieldsync::{Node, NodeConfig, StoreError, Value};
use fieldsync_tests::open_node;

#[test]
fn version_1_database_upgrades_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    // Write data with the current code, then rebuild a v1 database holding the same rows
    // with only the columns version 1 had.
    // Schema 1 had no encryption: write the data with a plain node.
    let (id, json, author, ops, pending) = {
        let node = fieldsync_tests::open_plain_node(dir.path());
        let doc = node.create_document().unwrap();
        doc.text("t").unwrap().insert(0, "from v1").unwrap();
        doc.map("m").unwrap().set("k", Value::Int(1)).unwrap();
        (
            doc.id(),
            doc.to_json().unwrap(),
            node.author(),
            node.operations(doc.id()).unwrap(),
            node.pending(Some(doc.id())).unwrap(),
        )
    };
    // The genesis (roles) and the two writes. (A real version 1 database has no control
    // operations; the copied genesis changes nothing: the document becomes legacy.)
    assert_eq!(
        pending.len(),
        3,
        "no peer acknowledged the three operations"
    );
    let old = tempfile::tempdir().unwrap();
    {
        let mut conn = rusqlite_conn(&old.path().join(DB_FILE));
        migrate(&mut conn, 1).unwrap();
        assert_eq!(current_version(&conn).unwrap(), 1);
        // Read through the store (its values are sealed at rest since schema 9); written to
        // the old database in plaintext, as version 1 kept them.
        let src = Store::open(dir.path(), &default_store_key(dir.path())).unwrap();
        let src = src.conn();
        let key: Vec<u8> = src
            .query_row(
                "SELECT fs_open('meta.value', value, key) FROM meta WHERE key='device_key'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        conn.execute("INSERT INTO meta VALUES ('device_key', ?1)", [key])
            .unwrap();
        conn.execute(
            "INSERT INTO documents (id, created_at) VALUES (?1, 0)",
            [id.as_bytes().to_vec()],
        )
        .unwrap();
        let mut stmt = src
            .prepare(
                "SELECT hash, document, author, kind, seq, header,
                        fs_open('operations.body', body, hash), received_at FROM operations",
            )
            .unwrap();
        let rows: Vec<V1Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for row in rows {
            conn.execute(
                "INSERT INTO operations VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7],
            )
            .unwrap();
        }
        // The outbox of version 1 referenced operations (hash); version 6 rebuilt it.
        for entry in &pending {
            conn.execute(
                "INSERT INTO outbox (hash, document, created_at, attempts, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    entry.hash.as_bytes().to_vec(),
                    entry.document.as_bytes().to_vec(),
                    entry.created_at,
                    entry.attempts,
                    entry.last_error
                ],
            )
            .unwrap();
        }
    }
    // No store key yet for this directory: the first open makes one and seals the values.
    assert!(!old.path().join("store.key").exists());
    let node = open_node(old.path());
    assert_eq!(node.author(), author);
    let doc = node.document(id).unwrap();
    assert_eq!(doc.to_json().unwrap(), json);
    assert_eq!(node.operations(id).unwrap(), ops);
    assert_eq!(node.pending(Some(id)).unwrap(), pending);
    // Held operations are still recognised (found by log position since version 6).
    for op in &ops {
        assert_eq!(
            node.ingest(op).unwrap(),
            fieldsync::IngestOutcome::Duplicate
        );
    }
    // A document held before roles existed is legacy: no roles, no role checks.
    assert!(doc.roles().unwrap().is_empty());
    doc.text("t").unwrap().insert(0, "now v2: ").unwrap();
    assert_eq!(node.pending(Some(id)).unwrap().len(), 4);
    // Deleting the document deletes its outbox entries (no longer by foreign key).
    node.delete_document(id).unwrap();
    assert!(node.pending(Some(id)).unwrap().is_empty());
    drop(node);
    let conn = rusqlite_conn(&old.path().join(DB_FILE));
    assert_eq!(current_version(&conn).unwrap(), LATEST);
    // Sealed at rest: the device key and the operation bodies copied in plaintext above.
    let raw_key: Vec<u8> = conn
        .query_row("SELECT value FROM meta WHERE key='device_key'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(raw_key[0], 0x5E, "the device key is sealed");
    let unsealed: i64 = conn
        .query_row(
            "SELECT count(*) FROM operations WHERE body IS NOT NULL AND substr(body, 1, 1) != X'5E'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unsealed, 0, "every operation body is sealed");
    // No copy of the plaintext stays in freed pages or the WAL: the file was rewritten.
    for entry in std::fs::read_dir(old.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(7).any(|w| w == b"from v1"),
            "{} holds the plaintext",
            path.display()
        );
    }
    let hash_indexes: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_index_list('operations') AS l
             WHERE EXISTS (SELECT 1 FROM pragma_index_info(l.name) WHERE name = 'hash')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hash_indexes, 0, "operation hashes are not indexed");
}

#[test]
fn newer_schema_and_garbage_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    drop(open_node(dir.path()));
    {
        let conn = rusqlite_conn(&dir.path().join(DB_FILE));
        conn.pragma_update(None, "user_version", LATEST + 5)
            .unwrap();
    }
    let err = Node::open(NodeConfig::new(dir.path())).unwrap_err();
    assert!(
        matches!(
            err,
            fieldsync::Error::Store(StoreError::SchemaTooNew { .. })
        ),
        "{err:?}"
    );

    let junk = tempfile::tempdir().unwrap();
    std::fs::write(junk.path().join(DB_FILE), vec![0x5a; 8192]).unwrap();
    let err = Node::open(NodeConfig::new(junk.path())).unwrap_err();
    assert!(
        matches!(err, fieldsync::Error::Store(StoreError::Corrupt(_))),
        "{err:?}"
    );
}

/// An op-log row with the columns schema version 1 had.
type V1Row = (Vec<u8>, Vec<u8>, Vec<u8>, i64, i64, Vec<u8>, Vec<u8>, i64);

fn rusqlite_conn(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// Issue #24: a database of the schema just before at-rest encryption (8), holding an
/// encrypted document shared with a member, its snapshot, group state and key material in
/// plaintext as that version kept them, opens with a key: everything sealed, nothing lost.
#[test]
fn version_8_database_is_sealed_on_its_first_open_and_keeps_everything() {
    use fieldsync::internals::store::{raw_connection, SEALED};
    let (dir, member) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (id, json, author) = {
        let node = open_node(dir.path());
        let other = open_node(member.path());
        let doc = node.create_document().unwrap();
        fieldsync_tests::share(&node, &doc, &other);
        doc.text("t")
            .unwrap()
            .insert(0, "field notes of v8")
            .unwrap();
        doc.map("m").unwrap().set("k", Value::Int(8)).unwrap();
        node.flush().unwrap();
        (doc.id(), doc.to_json().unwrap(), node.author())
    };
    // The same rows in a schema-8 database, sealed columns in plaintext.
    let old = tempfile::tempdir().unwrap();
    {
        let mut conn = rusqlite_conn(&old.path().join(DB_FILE));
        migrate(&mut conn, 8).unwrap();
        drop(conn);
        let src = raw_connection(dir.path());
        src.execute(
            "ATTACH DATABASE ?1 AS old",
            [old.path().join(DB_FILE).to_str().unwrap()],
        )
        .unwrap();
        let tables: Vec<String> = src
            .prepare("SELECT name FROM old.sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut copied = 0;
        for table in &tables {
            let columns: Vec<String> = src
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{table}', 'old')"
                ))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let select: Vec<String> = columns
                .iter()
                .map(
                    |c| match SEALED.iter().find(|s| s.table == table && s.column == c) {
                        Some(s) => format!("fs_open('{}', {c}, {})", s.label, s.keys.join(", ")),
                        None => c.clone(),
                    },
                )
                .collect();
            copied += src
                .execute(
                    &format!(
                        "INSERT INTO old.{table} ({}) SELECT {} FROM main.{table}",
                        columns.join(", "),
                        select.join(", ")
                    ),
                    [],
                )
                .unwrap();
        }
        assert!(copied > 10, "rows copied: {copied}");
        let plain: Vec<u8> = src
            .query_row(
                "SELECT value FROM old.meta WHERE key = 'device_key'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            plain.len(),
            32,
            "the old database holds the key in plaintext"
        );
    }
    assert!(!old.path().join("store.key").exists());
    let holds_text = |dir: &std::path::Path| {
        std::fs::read_dir(dir).unwrap().any(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            bytes.windows(11).any(|w| w == b"field notes")
        })
    };
    assert!(
        holds_text(old.path()),
        "control: the old database holds the text in plaintext"
    );
    let node = open_node(old.path());
    assert_eq!(node.author(), author);
    assert_eq!(node.document(id).unwrap().to_json().unwrap(), json);
    // A fresh replay from the (sealed) op log gives the same document.
    assert_eq!(node.replay_json(id).unwrap(), json);
    drop(node);
    let conn = raw_connection(old.path());
    for c in SEALED {
        let unsealed: i64 = conn
            .query_row(
                &format!(
                    "SELECT count(*) FROM {} WHERE {} IS NOT NULL AND substr({}, 1, 1) != X'5E'",
                    c.table, c.column, c.column
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unsealed, 0, "{} sealed", c.label);
    }
    assert!(!holds_text(old.path()), "no plaintext left in any file");
}
