//! Issue #24: a lost phone reveals nothing. Every file of a node's data directory (database,
//! WAL, shared memory) is scanned after a demo-like run for the secrets and the content it
//! held; a wrong store key is a typed error that damages nothing; a second open of a data
//! directory is `Busy`; a database from before at-rest encryption is sealed on its first
//! open with a key; a store-key rotation keeps everything.

use std::path::Path;
use std::time::Duration;

use fieldsync::internals::store::{default_store_key, Store, DB_FILE, LOCK_FILE};
use fieldsync::{Error, FileKeyStore, Node, NodeConfig, StoreError};
use fieldsync_tests::{go_online, json_of, open_node, wait_until};

const T: Duration = Duration::from_secs(60);

/// Every byte of every database file (and its WAL and shared memory) in `dir`.
fn database_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(DB_FILE))
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The plaintext of every sealed value of the database in `dir` (opened with its default
/// store key): device key material, group states, ratchet sessions, snapshots, bodies.
fn sealed_plaintexts(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let store = Store::open(dir, &default_store_key(dir)).unwrap();
    let mut out = Vec::new();
    for c in fieldsync::internals::store::SEALED {
        let sql = format!(
            "SELECT fs_open('{}', {}, {}) FROM {} WHERE {} IS NOT NULL",
            c.label,
            c.column,
            c.keys.join(", "),
            c.table,
            c.column
        );
        let mut stmt = store.conn().prepare(&sql).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(Result::unwrap);
        out.extend(rows.map(|v| (c.label.to_string(), v)));
    }
    out
}

/// Every stored value of a sealed column starts with the seal's version byte and opens
/// with the key only: read without `fs_open`, none is plaintext.
fn assert_all_sealed(dir: &Path) {
    let store = Store::open(dir, &default_store_key(dir)).unwrap();
    for c in fieldsync::internals::store::SEALED {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} IS NOT NULL",
            c.column, c.table, c.column
        );
        let mut stmt = store.conn().prepare(&sql).unwrap();
        for raw in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap() {
            let raw = raw.unwrap();
            assert_eq!(
                raw.first(),
                Some(&0x5E),
                "{}: a value is not sealed",
                c.label
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_data_directory_reveals_no_secret_and_no_content() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open_node(da.path()), open_node(db.path()));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    // Unique markers in every kind of content: text, map values, list values.
    doc.text("t")
        .unwrap()
        .insert(0, "MARKER-TEXT-a1b2c3 survey of well 7")
        .unwrap();
    doc.map("m")
        .unwrap()
        .set("k", fieldsync::Value::String("MARKER-MAP-d4e5f6".into()))
        .unwrap();
    go_online(&a).await;
    go_online(&b).await;
    let invite = doc.invite().await.unwrap();
    let token = fieldsync::Invite::parse(&invite).unwrap().token.unwrap();
    let doc_b = b.join(&invite).await.unwrap();
    wait_until("B is admitted and reads the document", T, || {
        json_of(&b, id) == doc.to_json().unwrap()
    })
    .await;
    doc_b
        .list("l")
        .unwrap()
        .push(fieldsync::Value::String("MARKER-LIST-g7h8i9".into()))
        .unwrap();
    wait_until("A reads B's edit", T, || {
        doc.to_json().unwrap() == doc_b.to_json().unwrap()
    })
    .await;
    a.send_direct(b.author(), b"MARKER-DIRECT-j0k1l2").unwrap();
    let mut b_events = b.subscribe();
    tokio::time::timeout(T, async {
        loop {
            if let Some(fieldsync::Event::DirectMessage { .. }) = b_events.next().await {
                break;
            }
        }
    })
    .await
    .expect("B receives A's direct message");
    // Snapshots are written too (the cache a plain Loro program could read before).
    a.flush().unwrap();
    b.flush().unwrap();
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
    drop((doc, doc_b));
    // Scanned while the nodes are open (WAL and shared memory present) and after.
    let markers: Vec<&[u8]> = vec![
        b"MARKER-TEXT",
        b"survey of well",
        b"MARKER-MAP",
        b"MARKER-LIST",
        b"MARKER-DIRECT",
    ];
    let mut scanned = 0;
    for (node, dir) in [(a, da.path()), (b, db.path())] {
        let files_open = database_files(dir);
        drop(node);
        let files_closed = database_files(dir);
        let plaintexts = sealed_plaintexts(dir);
        assert!(
            plaintexts.iter().any(|(l, _)| l == "device_keys.keys")
                && plaintexts.iter().any(|(l, _)| l == "groups.state")
                && plaintexts.iter().any(|(l, _)| l == "meta.value")
                && plaintexts.iter().any(|(l, _)| l == "snapshots.snapshot"),
            "the run stored key material, group state, the device key and snapshots"
        );
        let device_key = Store::open(dir, &default_store_key(dir))
            .unwrap()
            .meta_get("device_key")
            .unwrap()
            .expect("the device key is kept in the database");
        assert_eq!(device_key.len(), 32);
        for (name, bytes) in files_open.iter().chain(&files_closed) {
            scanned += bytes.len();
            assert!(!find(bytes, &device_key), "{name} holds the device key");
            assert!(!find(bytes, &token), "{name} holds the invite token");
            for m in &markers {
                assert!(
                    !find(bytes, m),
                    "{name} holds {:?}",
                    String::from_utf8_lossy(m)
                );
            }
            // No sealed value's plaintext (key material, group and ratchet state, Loro
            // snapshots and updates) appears whole.
            for (label, plain) in &plaintexts {
                if plain.len() >= 16 {
                    assert!(!find(bytes, plain), "{name} holds a {label} plaintext");
                }
            }
        }
        assert_all_sealed(dir);
    }
    eprintln!(
        "scanned {} KiB of database, WAL and shared-memory files",
        scanned >> 10
    );
}

#[test]
fn a_wrong_store_key_is_a_typed_error_and_the_right_key_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let text = {
        let node = open_node(dir.path());
        let doc = node.create_document().unwrap();
        doc.text("t").unwrap().insert(0, "kept").unwrap();
        doc.to_json().unwrap()
    };
    let right = std::fs::read(dir.path().join("store.key")).unwrap();
    std::fs::write(dir.path().join("store.key"), [0x42u8; 32]).unwrap();
    let before = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    match Node::open(NodeConfig::new(dir.path())) {
        Err(Error::Store(StoreError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {:?}", other.map(|_| ())),
    }
    assert_eq!(std::fs::read(dir.path().join(DB_FILE)).unwrap(), before);
    // A key store that lost the key: the same error, and no new key is saved over it.
    std::fs::remove_file(dir.path().join("store.key")).unwrap();
    match Node::open(NodeConfig::new(dir.path())) {
        Err(Error::Store(StoreError::WrongKey)) => {}
        other => panic!("expected WrongKey, got {:?}", other.map(|_| ())),
    }
    assert!(!dir.path().join("store.key").exists());
    std::fs::write(dir.path().join("store.key"), &right).unwrap();
    let node = open_node(dir.path());
    let id = node.documents().unwrap()[0];
    assert_eq!(json_of(&node, id), text);
}

#[test]
fn a_second_open_of_a_data_directory_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    match Node::open(NodeConfig::new(dir.path())) {
        Err(Error::Store(StoreError::Busy(path))) => assert_eq!(path, dir.path()),
        other => panic!("expected Busy, got {:?}", other.map(|_| ())),
    }
    // Another process: the helper binary tries to open the same directory.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_net_peer"))
        .args(["--try-open", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("busy"), "another process: {stdout}");
    drop(node);
    // Released with the node: a new one opens.
    drop(open_node(dir.path()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dir.path()), 0o700, "data directory");
        for name in [DB_FILE, LOCK_FILE, "store.key"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
    }
}

#[test]
fn a_rotated_store_key_keeps_everything_and_the_old_key_no_longer_opens() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let doc = node.create_document().unwrap();
    doc.text("t").unwrap().insert(0, "before rotation").unwrap();
    node.flush().unwrap();
    let old = std::fs::read(dir.path().join("store.key")).unwrap();
    node.rotate_store_key().unwrap();
    doc.text("t").unwrap().insert(0, "after, ").unwrap();
    let json = doc.to_json().unwrap();
    drop(doc);
    drop(node);
    let new = std::fs::read(dir.path().join("store.key")).unwrap();
    assert_ne!(old, new);
    let node = open_node(dir.path());
    let id = node.documents().unwrap()[0];
    assert_eq!(json_of(&node, id), json);
    drop(node);
    std::fs::write(dir.path().join("store.key"), &old).unwrap();
    assert!(matches!(
        Node::open(NodeConfig::new(dir.path())),
        Err(Error::Store(StoreError::WrongKey))
    ));
    // An app key store elsewhere than the data directory works the same way.
    let other = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(other.path().join("data"));
    config.key_store = Some(std::sync::Arc::new(FileKeyStore::new(
        other.path().join("keys/store.key"),
    )));
    let node = Node::open(config).unwrap();
    node.create_document().unwrap();
    assert!(other.path().join("keys/store.key").exists());
    assert!(!other.path().join("data/store.key").exists());
}

/// Copies the node files of `from` (database, WAL, key file; not the lock) into `to`.
fn copy_node_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        if name != LOCK_FILE && path.is_file() {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

/// Ingests every operation of `doc` held by `from` into `to`, whatever the verdicts.
fn deliver(from: &Node, to: &Node, doc: fieldsync::DocumentId) -> Vec<fieldsync::IngestError> {
    from.operations(doc)
        .unwrap()
        .iter()
        .filter_map(|op| to.ingest(op).err())
        .collect()
}

fn clone_events(events: &mut fieldsync::EventStream) -> Vec<fieldsync::Event> {
    std::iter::from_fn(|| events.try_next())
        .filter(|e| {
            matches!(
                e,
                fieldsync::Event::IdentityCloned { .. } | fieldsync::Event::ForkDetected { .. }
            )
        })
        .collect()
}

#[test]
fn a_copied_data_directory_used_as_a_second_device_is_detected() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (da, db, da_clone, da_old) = (
        dirs[0].path(),
        dirs[1].path(),
        dirs[2].path(),
        dirs[3].path(),
    );
    let id = {
        let a = open_node(da);
        let b = open_node(db);
        let doc = a.create_document().unwrap();
        fieldsync_tests::share(&a, &doc, &b);
        doc.text("t").unwrap().insert(0, "one").unwrap();
        fieldsync_tests::exchange(&a, &b, doc.id());
        doc.id()
    };
    // An old backup, then one more edit, then a copy of the whole directory.
    copy_node_dir(da, da_old);
    {
        let a = open_node(da);
        a.document(id)
            .unwrap()
            .text("t")
            .unwrap()
            .push(" two")
            .unwrap();
    }
    copy_node_dir(da, da_clone);
    let (a, b, clone) = (open_node(da), open_node(db), open_node(da_clone));
    assert_eq!(a.author(), clone.author(), "the copy has A's identity");
    let (mut ev_a, mut ev_b, mut ev_clone) = (a.subscribe(), b.subscribe(), clone.subscribe());
    // Both devices write the next position of the same log.
    a.document(id)
        .unwrap()
        .text("t")
        .unwrap()
        .push(" from A")
        .unwrap();
    clone
        .document(id)
        .unwrap()
        .text("t")
        .unwrap()
        .push(" from the copy")
        .unwrap();

    // A peer receiving both sees A's log fork and freezes it.
    deliver(&a, &b, id);
    deliver(&clone, &b, id);
    assert!(
        b.forks(id).unwrap().iter().any(|f| f.author == a.author()),
        "B holds the proof"
    );
    assert!(clone_events(&mut ev_b).iter().any(
        |e| matches!(e, fieldsync::Event::ForkDetected { author, .. } if *author == a.author())
    ));
    assert_eq!(
        b.identity_cloned(),
        None,
        "B's own identity is not concerned"
    );

    // Each of the two devices, receiving the other's operation, finds it signed with its
    // own key: both stop writing with the identity and say so. (Taken before either
    // ingests: the fork freezes each one's log, removing its branch.)
    let (ops_a, ops_clone) = (a.operations(id).unwrap(), clone.operations(id).unwrap());
    for (node, events, ops) in [(&clone, &mut ev_clone, &ops_a), (&a, &mut ev_a, &ops_clone)] {
        for op in ops {
            let _ = node.ingest(op);
        }
        let (document, _) = node.identity_cloned().expect("the clone is detected");
        assert_eq!(document, id);
        assert!(clone_events(events).iter().any(
            |e| matches!(e, fieldsync::Event::IdentityCloned { document, .. } if *document == id)
        ));
        assert!(matches!(
            node.document(id).unwrap().text("t").unwrap().push(" more"),
            Err(fieldsync::DocumentError::IdentityCloned(d)) if d == id
        ));
    }
    drop((a, clone));
    // Remembered across a restart.
    let clone = open_node(da_clone);
    assert!(clone.identity_cloned().is_some());
    drop(clone);

    // An old backup restored: a peer's copy of its own log runs ahead of it.
    let old = open_node(da_old);
    let mut ev_old = old.subscribe();
    let a = open_node(da);
    deliver(&a, &old, id);
    assert!(
        old.identity_cloned().is_some(),
        "behind its own log: detected"
    );
    assert!(clone_events(&mut ev_old)
        .iter()
        .any(|e| matches!(e, fieldsync::Event::IdentityCloned { .. })));
}

/// kill -9 during store-key rotations, ten times at random moments: the node opens every
/// time with the key its key file holds, loses nothing, and keeps exactly one wrap of its
/// data key.
#[test]
fn killed_during_store_key_rotation_the_node_opens_with_one_key_and_loses_nothing() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let json = {
        let node = open_node(dir.path());
        let doc = node.create_document().unwrap();
        let list = doc.list("l").unwrap();
        for i in 0..2_000 {
            list.push(fieldsync::Value::Int(i)).unwrap();
        }
        doc.text("t")
            .unwrap()
            .insert(0, "kept through every kill")
            .unwrap();
        node.flush().unwrap();
        doc.to_json().unwrap()
    };
    let mut rotations_seen = 0;
    for round in 0..10 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_net_peer"))
            .args(["--rotate-loop", dir.path().to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        // A random moment within the next rotations (each takes tens of milliseconds).
        let wait = Duration::from_micros(rand::random::<u64>() % 400_000);
        std::thread::sleep(wait);
        child.kill().unwrap();
        child.wait().unwrap();
        rotations_seen += lines.map_while(Result::ok).count();
        let wraps = || -> i64 {
            rusqlite::Connection::open(dir.path().join(DB_FILE))
                .unwrap()
                .query_row("SELECT count(*) FROM store_keys", [], |r| r.get(0))
                .unwrap()
        };
        // Two wraps only when killed between a rotation's commit and the key file's
        // replacement; the open removes the one of the key the file does not hold.
        let after_kill = wraps();
        assert!(
            (1..=2).contains(&after_kill),
            "round {round}: {after_kill} wraps"
        );
        let node = open_node(dir.path());
        let id = node.documents().unwrap()[0];
        assert_eq!(
            json_of(&node, id),
            json,
            "round {round}: content after the kill"
        );
        drop(node);
        assert_eq!(wraps(), 1, "round {round}: one key opens the database");
    }
    eprintln!("10 kills during rotations ({rotations_seen} rotations completed in all)");
    assert!(rotations_seen > 0, "rotations ran between the kills");
}
