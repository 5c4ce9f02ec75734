//! The data model apps build on (issue #25): nested records, JSON in and out at a path,
//! text units, observers with diffs, undo, history, and snapshot export and import.

use fieldsync::{
    ChangeDiff, ChangeItem, Document, Node, NodeConfig, Origin, PathSegment, TextUnit, Value,
};
use fieldsync_tests::{exchange, open_node, share};

fn key(k: &str) -> PathSegment {
    PathSegment::Key(k.into())
}

/// Two nodes A and B, a document of A shared with B: (their directories, A, B, A's and B's
/// handles on it).
fn shared_document() -> ([tempfile::TempDir; 2], Node, Node, Document, Document) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (a, b) = (open_node(dirs[0].path()), open_node(dirs[1].path()));
    let doc_a = a.create_document().unwrap();
    share(&a, &doc_a, &b);
    let doc_b = b.document_or_register(doc_a.id()).unwrap();
    (dirs, a, b, doc_a, doc_b)
}

/// Everything the stream holds now (after its first item).
fn drain(s: &mut fieldsync::ChangeStream) -> Vec<ChangeItem> {
    let mut out = Vec::new();
    while let Some(item) = s.try_next().unwrap() {
        out.push(item);
    }
    out
}

#[test]
fn a_survey_of_nested_records_converges_and_reads_back_as_json() {
    let (_dirs, a, b, doc_a, doc_b) = shared_document();
    let households = doc_a.list("households").unwrap();
    let record = r#"{"name":"Household 1","size":4,"readings":[1.5,2],"visited":false}"#;
    households.push_json(record).unwrap();
    let rec = households.get_map(0).unwrap().expect("a record");
    let notes = rec.insert_text("notes").unwrap();
    notes.insert(0, "Roof leaks").unwrap();
    exchange(&a, &b, doc_a.id());

    // Concurrent edits of the same record on both devices.
    let rec_b = doc_b
        .list("households")
        .unwrap()
        .get_map(0)
        .unwrap()
        .expect("B holds the record");
    rec_b
        .get_list("readings")
        .unwrap()
        .unwrap()
        .push(Value::Double(3.25))
        .unwrap();
    rec_b
        .get_text("notes")
        .unwrap()
        .unwrap()
        .push(" (north side)")
        .unwrap();
    rec.set("visited", Value::Bool(true)).unwrap();
    households
        .push_json(r#"{"name":"Household 2","size":1,"readings":[]}"#)
        .unwrap();
    exchange(&a, &b, doc_a.id());
    exchange(&b, &a, doc_a.id());
    assert_eq!(doc_a.to_json().unwrap(), doc_b.to_json().unwrap());

    let path = [key("households"), PathSegment::Index(0)];
    let json: serde_json::Value =
        serde_json::from_str(&doc_b.get_json(&path).unwrap().unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"name":"Household 1","size":4,"readings":[1.5,2,3.25],
            "visited":true,"notes":"Roof leaks (north side)"})
    );
    // A handle from a path is the same container as one from its parent.
    let fieldsync::Handle::Map(by_path) = doc_b.at(&path).unwrap().unwrap() else {
        panic!("a map at the path");
    };
    assert_eq!(by_path.to_json().unwrap(), rec_b.to_json().unwrap());
    // Writing JSON at a path: one operation, replaces the entry.
    let before = doc_a.op_count().unwrap();
    doc_a
        .set_json(
            &[key("households"), PathSegment::Index(1)],
            r#"{"name":"Household 2","size":2,"readings":[{"kind":"water","ok":true}]}"#,
        )
        .unwrap();
    assert_eq!(doc_a.op_count().unwrap(), before + 1, "one operation");
    assert_eq!(
        doc_a
            .get_json(&[
                key("households"),
                PathSegment::Index(1),
                key("readings"),
                PathSegment::Index(0),
                key("kind")
            ])
            .unwrap()
            .as_deref(),
        Some("\"water\"")
    );
    // Bad input: typed errors, nothing written.
    assert!(doc_a
        .set_json(&[key("households"), PathSegment::Index(9)], "{}")
        .is_err());
    assert!(doc_a
        .set_json(&[key("households"), PathSegment::Index(0)], "{not json")
        .is_err());
    assert!(doc_a.set_json(&[PathSegment::Index(0)], "{}").is_err());
    assert_eq!(doc_a.op_count().unwrap(), before + 1);
}

#[test]
fn concurrent_edits_inside_a_deleted_record_stay_invisible() {
    let (_dirs, a, b, doc_a, doc_b) = shared_document();
    doc_a
        .list("households")
        .unwrap()
        .push_json(r#"{"name":"x"}"#)
        .unwrap();
    exchange(&a, &b, doc_a.id());
    let rec_b = doc_b
        .list("households")
        .unwrap()
        .get_map(0)
        .unwrap()
        .unwrap();
    doc_a.list("households").unwrap().delete(0, 1).unwrap();
    rec_b.set("size", Value::Int(3)).unwrap();
    exchange(&a, &b, doc_a.id());
    exchange(&b, &a, doc_a.id());
    assert_eq!(doc_a.to_json().unwrap(), doc_b.to_json().unwrap());
    assert_eq!(doc_b.list("households").unwrap().len().unwrap(), 0);
    assert!(matches!(
        rec_b.set("size", Value::Int(4)),
        Err(fieldsync::DocumentError::ContainerDeleted)
    ));
    assert_eq!(rec_b.to_json().unwrap(), "null");
}

#[test]
fn text_positions_count_in_the_unit_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path());
    config.text_unit = TextUnit::Utf16;
    let node = Node::open(config).unwrap();
    let doc = node.create_document().unwrap();
    let text = doc.text("t").unwrap();
    assert_eq!(text.unit(), TextUnit::Utf16);
    text.insert(0, "a😀e\u{301}").unwrap();
    // After the emoji: UTF-16 index 3 (a String's index in Kotlin and Swift's utf16 view).
    text.insert(3, "X").unwrap();
    assert_eq!(text.get().unwrap(), "a😀Xe\u{301}");
    assert_eq!(text.len().unwrap(), 6);
    assert!(
        matches!(
            text.insert(2, "!"),
            Err(fieldsync::DocumentError::InvalidArgument(_))
        ),
        "inside the surrogate pair"
    );
    text.delete(1, 2).unwrap();
    assert_eq!(text.get().unwrap(), "aXe\u{301}");
    let scalars = text.with_unit(TextUnit::Unicode);
    scalars.insert(4, "!").unwrap();
    assert_eq!(text.get().unwrap(), "aXe\u{301}!");
    let bytes = text.with_unit(TextUnit::Utf8);
    assert_eq!(bytes.len().unwrap(), 6);
    assert!(
        bytes.insert(4, "?").is_err(),
        "inside the combining mark's bytes"
    );
    assert_eq!(
        text.get().unwrap(),
        "aXe\u{301}!",
        "a refused edit changes nothing"
    );
}

#[tokio::test]
async fn a_path_observer_sees_exactly_the_remote_changes_under_its_path() {
    let (_dirs, a, b, doc_a, doc_b) = shared_document();
    let households = doc_a.list("households").unwrap();
    households
        .push_json(r#"{"name":"one","readings":[]}"#)
        .unwrap();
    households
        .push_json(r#"{"name":"two","readings":[]}"#)
        .unwrap();
    exchange(&a, &b, doc_a.id());

    let path = [key("households"), PathSegment::Index(1)];
    let mut record_obs = doc_b.observe_path(&path).unwrap();
    let mut doc_obs = doc_b.observe().unwrap();
    let first = record_obs.next().await.unwrap();
    assert_eq!(
        first,
        ChangeItem::Current {
            json: r#"{"name":"two","readings":[]}"#.into()
        },
        "the first item is the current value"
    );
    assert!(matches!(
        doc_obs.next().await.unwrap(),
        ChangeItem::Current { .. }
    ));

    // Remote edits: one under the observed record, one in the other record, one elsewhere.
    let two = households.get_map(1).unwrap().unwrap();
    two.get_list("readings")
        .unwrap()
        .unwrap()
        .push(Value::Int(7))
        .unwrap();
    households
        .get_map(0)
        .unwrap()
        .unwrap()
        .set("name", Value::from("uno"))
        .unwrap();
    doc_a.map("meta").unwrap().set("v", Value::Int(1)).unwrap();
    exchange(&a, &b, doc_a.id());

    let items = drain(&mut record_obs);
    let changes: Vec<_> = items
        .iter()
        .flat_map(|i| match i {
            ChangeItem::Changes(batch) => {
                assert_eq!(batch.origin, Origin::Remote(a.author()));
                batch.changes.clone()
            }
            other => panic!("unexpected item {other:?}"),
        })
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "only the change under the path: {changes:?}"
    );
    assert_eq!(
        changes[0].path,
        vec![key("households"), PathSegment::Index(1), key("readings")]
    );
    assert_eq!(
        changes[0].diff,
        ChangeDiff::ListInsert {
            index: 0,
            values: vec!["7".into()]
        }
    );
    // The document observer saw all three.
    let all: usize = drain(&mut doc_obs)
        .iter()
        .map(|i| match i {
            ChangeItem::Changes(b) => b.changes.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(all, 3);

    // A record inserted before the observed one: the observer follows its record.
    households.insert_json(0, r#"{"name":"zero"}"#).unwrap();
    exchange(&a, &b, doc_a.id());
    assert!(
        drain(&mut record_obs).is_empty(),
        "nothing changed under the record"
    );
    households
        .get_map(2)
        .unwrap()
        .unwrap()
        .set("name", Value::from("dos"))
        .unwrap();
    exchange(&a, &b, doc_a.id());
    let items = drain(&mut record_obs);
    let ChangeItem::Changes(batch) = &items[0] else {
        panic!("a change: {items:?}");
    };
    assert_eq!(
        batch.changes[0].path,
        vec![key("households"), PathSegment::Index(2)]
    );
    // A local edit on B is Local.
    doc_b
        .at(&[key("households"), PathSegment::Index(2)])
        .unwrap()
        .and_then(|h| match h {
            fieldsync::Handle::Map(m) => Some(m),
            _ => None,
        })
        .unwrap()
        .set("size", Value::Int(2))
        .unwrap();
    let items = drain(&mut record_obs);
    assert!(matches!(&items[..], [ChangeItem::Changes(b)] if b.origin == Origin::Local));
}

#[test]
fn an_observer_that_falls_behind_is_told_to_re_read() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let doc = node.create_document().unwrap();
    let mut obs = doc.observe().unwrap();
    assert!(matches!(
        obs.try_next().unwrap(),
        Some(ChangeItem::Current { .. })
    ));
    let counter = doc.counter("c").unwrap();
    for _ in 0..300 {
        counter.increment(1.0).unwrap();
    }
    let items = drain(&mut obs);
    // The 257th batch found the queue full: it was emptied, and what followed is in the
    // value the lagged item carries (read when it is taken).
    assert_eq!(items.len(), 1, "one lagged item: {items:?}");
    let ChangeItem::Lagged { json } = &items[0] else {
        panic!("lagged: {:?}", items[0]);
    };
    assert_eq!(json, r#"{"c":300.0}"#);
    counter.increment(-1.0).unwrap();
    assert_eq!(
        drain(&mut obs),
        vec![ChangeItem::Changes(fieldsync::ChangeBatch {
            origin: Origin::Local,
            changes: vec![fieldsync::Change {
                path: vec![key("c")],
                diff: ChangeDiff::Counter { delta: -1.0 }
            }]
        })],
        "changes flow again after the re-read"
    );
}

#[test]
fn undo_of_a_local_edit_keeps_the_remote_edit_on_both_replicas() {
    let (_dirs, a, b, doc_a, doc_b) = shared_document();
    let text_a = doc_a.text("notes").unwrap();
    text_a.insert(0, "hello").unwrap();
    exchange(&a, &b, doc_a.id());
    doc_b.text("notes").unwrap().push(" world").unwrap();
    exchange(&b, &a, doc_a.id());
    assert_eq!(text_a.get().unwrap(), "hello world");
    assert!(doc_a.can_undo().unwrap());
    assert!(doc_a.undo().unwrap());
    assert_eq!(text_a.get().unwrap(), " world", "A's edit undone, B's kept");
    exchange(&a, &b, doc_a.id());
    assert_eq!(doc_b.text("notes").unwrap().get().unwrap(), " world");
    assert!(!doc_a.undo().unwrap(), "nothing more to undo");
    assert!(doc_a.can_redo().unwrap());
    assert!(doc_a.redo().unwrap());
    exchange(&a, &b, doc_a.id());
    assert_eq!(doc_b.text("notes").unwrap().get().unwrap(), "hello world");
    assert_eq!(doc_a.to_json().unwrap(), doc_b.to_json().unwrap());
}

#[test]
fn history_views_and_diffs() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let doc = node.create_document().unwrap();
    let map = doc.map("m").unwrap();
    map.set("a", Value::Int(1)).unwrap();
    let v1 = doc.current_version().unwrap();
    map.set("b", Value::Int(2)).unwrap();
    let v2 = doc.current_version().unwrap();
    assert_eq!(doc.json_at(&v1).unwrap(), r#"{"m":{"a":1}}"#);
    assert_eq!(doc.json_at(&v2).unwrap(), r#"{"m":{"a":1,"b":2}}"#);
    let history = doc.history(10).unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[0].entry.version, v2, "newest first");
    assert!(history.iter().all(|h| h.author == Some(node.author())));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(history[0]
        .entry
        .timestamp
        .is_some_and(|t| (now - t).abs() < 60));
    let diff = doc.diff(&v1, &v2).unwrap();
    assert_eq!(diff.len(), 1);
    assert_eq!(
        diff[0].diff,
        ChangeDiff::MapSet {
            key: "b".into(),
            value: Some("2".into())
        }
    );
    let round = fieldsync::Version::from_bytes(v1.as_bytes()).unwrap();
    assert_eq!(round, v1);
    assert!(fieldsync::Version::from_bytes(b"\xff\xff garbage").is_err());
}

#[test]
fn a_snapshot_opens_in_plain_loro_and_imports_as_this_devices_own_document() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (a, b) = (open_node(dirs[0].path()), open_node(dirs[1].path()));
    let doc = a.create_document().unwrap();
    doc.list("households")
        .unwrap()
        .push_json(r#"{"name":"one","readings":[1,2]}"#)
        .unwrap();
    let rec = doc.list("households").unwrap().get_map(0).unwrap().unwrap();
    rec.insert_text("notes").unwrap().insert(0, "n 😀").unwrap();
    doc.counter("visits").unwrap().increment(3.0).unwrap();
    let snapshot = doc.export_snapshot().unwrap();

    // A plain Loro program.
    let plain = loro::LoroDoc::new();
    plain.import(&snapshot).unwrap();
    let json = serde_json::to_string(&plain.get_deep_value()).unwrap();
    let ours: serde_json::Value = serde_json::from_str(&doc.to_json().unwrap()).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        ours
    );

    // B imports it: a new document, written by B alone.
    let copy = b.import_snapshot(&snapshot).unwrap();
    assert_ne!(copy.id(), doc.id());
    assert_eq!(copy.to_json().unwrap(), doc.to_json().unwrap());
    let authors: Vec<_> = copy.version().unwrap().iter().map(|(a, _)| *a).collect();
    assert_eq!(authors, vec![b.author()], "only B's operations");
    assert_eq!(b.replay_json(copy.id()).unwrap(), copy.to_json().unwrap());
    assert!(b.import_snapshot(b"not a snapshot").is_err());
    let update = loro::LoroDoc::new();
    update.get_text("t").insert(0, "x").unwrap();
    let bytes = update.export(loro::ExportMode::all_updates()).unwrap();
    assert!(
        b.import_snapshot(&bytes).is_err(),
        "updates are not a snapshot"
    );
}

#[test]
fn observers_see_each_change_once_and_re_read_after_a_failed_edit() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let doc = node.create_document().unwrap();
    doc.map("root").unwrap().set("a", Value::Int(1)).unwrap();
    let mut obs = doc.observe().unwrap();
    // An edit between subscribing and the first read: in the changes, not in the first value.
    doc.list("households")
        .unwrap()
        .push_json(r#"{"readings":[1,2]}"#)
        .unwrap();
    let items = drain(&mut obs);
    assert_eq!(
        items[0],
        ChangeItem::Current {
            json: r#"{"root":{"a":1}}"#.into()
        }
    );
    let ChangeItem::Changes(batch) = &items[1] else {
        panic!("{items:?}");
    };
    // The record and its list arrive once: as the record's JSON, not again as the list's
    // own insert.
    assert_eq!(
        batch.changes,
        vec![fieldsync::Change {
            path: vec![key("households")],
            diff: ChangeDiff::ListInsert {
                index: 0,
                values: vec![r#"{"readings":[1,2]}"#.into()]
            }
        }],
        "{items:?}"
    );
    assert_eq!(items.len(), 2);

    // A write that fails part-way (the root is cleared before the too-deep value is
    // refused) leaves nothing, and observers re-read.
    let ops = doc.op_count().unwrap();
    let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let err = doc
        .set_json(&[key("root")], &format!(r#"{{"deep":{deep}}}"#))
        .unwrap_err();
    assert!(
        matches!(err, fieldsync::DocumentError::InvalidArgument(_)),
        "{err}"
    );
    assert_eq!(doc.op_count().unwrap(), ops, "nothing written");
    assert!(doc.to_json().unwrap().contains(r#""root":{"a":1}"#));
    let items = drain(&mut obs);
    assert!(
        matches!(items.last(), Some(ChangeItem::Lagged { json }) if json.contains(r#""root":{"a":1}"#)),
        "{items:?}"
    );
}

#[test]
fn undo_survives_a_batch_of_remote_operations() {
    let (_dirs, a, b, doc_a, doc_b) = shared_document();
    doc_a.text("t").unwrap().insert(0, "mine").unwrap();
    let notes = doc_b.text("n").unwrap();
    for i in 0..5 {
        notes.push(&format!("theirs {i} ")).unwrap();
    }
    let ops = b.operations(doc_a.id()).unwrap();
    for r in a.ingest_batch(&ops) {
        r.expect("ingest");
    }
    assert!(doc_a.text("n").unwrap().get().unwrap().contains("theirs 4"));
    assert!(
        doc_a.can_undo().unwrap(),
        "a batch of remote operations kept the undo stack"
    );
    assert!(doc_a.undo().unwrap());
    assert_eq!(doc_a.text("t").unwrap().get().unwrap(), "");
    assert!(doc_a.text("n").unwrap().get().unwrap().contains("theirs 4"));
}
