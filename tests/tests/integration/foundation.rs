//! Foundation behaviour: documents, persistence, outbox, events, version vectors.

use fieldsync::{Event, Origin, Value, VersionOrdering};
use fieldsync_tests::{exchange, open_node, open_plain_node, share};

#[test]
fn edits_persist_across_reopen_with_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (id, json, author) = {
        let node = open_node(dir.path());
        let doc = node.create_document().unwrap();
        doc.text("notes").unwrap().insert(0, "héllo wörld").unwrap();
        doc.map("meta")
            .unwrap()
            .set("site", Value::from("well 7"))
            .unwrap();
        doc.map("meta")
            .unwrap()
            .set("count", Value::Int(3))
            .unwrap();
        doc.list("items").unwrap().push(Value::Bool(true)).unwrap();
        doc.list("items")
            .unwrap()
            .insert(0, Value::Double(1.5))
            .unwrap();
        doc.text("notes").unwrap().delete(0, 1).unwrap();
        (doc.id(), doc.to_json().unwrap(), node.author())
    };
    let node = open_node(dir.path());
    assert_eq!(
        node.author(),
        author,
        "identity must be loaded, not regenerated"
    );
    assert_eq!(node.documents().unwrap(), vec![id]);
    let doc = node.document(id).unwrap();
    assert_eq!(doc.to_json().unwrap(), json);
    assert_eq!(doc.text("notes").unwrap().get().unwrap(), "éllo wörld");
    assert_eq!(
        doc.map("meta").unwrap().get("count").unwrap(),
        Some(Value::Int(3))
    );
    assert_eq!(doc.list("items").unwrap().len().unwrap(), 2);
    assert_eq!(node.replay_json(id).unwrap(), json);
    assert_eq!(doc.op_count().unwrap(), 6);
}

#[test]
fn out_of_bounds_and_unknown_ids_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let doc = node.create_document().unwrap();
    let t = doc.text("t").unwrap();
    assert!(matches!(
        t.insert(5, "x"),
        Err(fieldsync::DocumentError::OutOfBounds { index: 5, len: 0 })
    ));
    assert!(matches!(
        t.delete(0, 1),
        Err(fieldsync::DocumentError::OutOfBounds { .. })
    ));
    assert!(doc.text("").is_err());
    assert!(doc.map("m").unwrap().set("", Value::Null).is_err());
    assert!(doc
        .map("m")
        .unwrap()
        .set("k", Value::Double(f64::NAN))
        .is_err());
    assert_eq!(
        doc.op_count().unwrap(),
        0,
        "rejected edits must not produce operations"
    );
    let other = fieldsync::DocumentId::random();
    assert!(matches!(
        node.document(other),
        Err(fieldsync::Error::Document(
            fieldsync::DocumentError::NotFound(_)
        ))
    ));
    assert!("not-hex".parse::<fieldsync::DocumentId>().is_err());
}

#[test]
fn delete_removes_document_and_blocks_resync() {
    let dir = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = open_node(dir.path());
    let b = open_node(dir_b.path());
    let doc = a.create_document().unwrap();
    doc.text("t").unwrap().insert(0, "x").unwrap();
    let ops = a.operations(doc.id()).unwrap();
    a.delete_document(doc.id()).unwrap();
    assert!(a.documents().unwrap().is_empty());
    assert!(a.document(doc.id()).is_err());
    assert!(matches!(
        a.ingest(&ops[0]),
        Err(fieldsync::IngestError::DeletedDocument(_)) | Ok(_)
    ));
    // A node that never deleted it accepts the ops.
    b.ingest(&ops[0]).unwrap();
    assert_eq!(b.documents().unwrap(), vec![doc.id()]);
}

#[test]
fn outbox_tracks_unacknowledged_local_ops() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_node(dir.path());
    let doc = node.create_document().unwrap();
    for i in 0..5 {
        doc.list("l").unwrap().push(Value::Int(i)).unwrap();
    }
    // Five edits plus the two control operations that created the document: its genesis
    // (roles) and its group.
    let pending = node.pending(Some(doc.id())).unwrap();
    assert_eq!(pending.len(), 7);
    assert_eq!(doc.pending_ops().unwrap(), 7);
    assert!(pending
        .windows(2)
        .all(|w| w[0].created_at <= w[1].created_at));
    node.record_delivery_failure(&[pending[0].hash], "peer vanished")
        .unwrap();
    let again = node.pending(None).unwrap();
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("peer vanished"));
    let acked = node
        .acknowledge(&pending[..3].iter().map(|e| e.hash).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(acked, 3);
    assert_eq!(node.pending(None).unwrap().len(), 4);
    // Remote ops never enter the outbox.
    let dir_b = tempfile::tempdir().unwrap();
    let b = open_node(dir_b.path());
    exchange(&node, &b, doc.id());
    assert!(b.pending(None).unwrap().is_empty());
}

#[test]
fn events_report_local_and_remote_changes() {
    let da = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let a = open_node(da.path());
    let b = open_node(db.path());
    let mut events_a = a.subscribe();
    let mut events_b = b.subscribe();
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    assert_eq!(
        events_b.try_next(),
        None,
        "membership alone changes no content"
    );
    doc.text("t").unwrap().insert(0, "hi").unwrap();
    assert_eq!(
        events_a.try_next(),
        Some(Event::DocumentChanged {
            document: doc.id(),
            origin: Origin::Local
        })
    );
    exchange(&a, &b, doc.id());
    assert_eq!(
        events_b.try_next(),
        Some(Event::DocumentChanged {
            document: doc.id(),
            origin: Origin::Remote(a.author())
        })
    );
    assert_eq!(events_b.try_next(), None);
    // Duplicates change nothing and emit nothing.
    exchange(&a, &b, doc.id());
    assert_eq!(events_b.try_next(), None);
}

#[test]
fn version_vectors_compare_replicas() {
    let da = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let a = open_node(da.path());
    let b = open_node(db.path());
    let doc_a = a.create_document().unwrap();
    share(&a, &doc_a, &b);
    doc_a.text("t").unwrap().insert(0, "a").unwrap();
    exchange(&a, &b, doc_a.id());
    let doc_b = b.document(doc_a.id()).unwrap();
    assert_eq!(
        doc_a.version().unwrap().compare(&doc_b.version().unwrap()),
        VersionOrdering::Equal
    );
    doc_a.text("t").unwrap().insert(0, "b").unwrap();
    assert_eq!(
        doc_a.version().unwrap().compare(&doc_b.version().unwrap()),
        VersionOrdering::Ahead
    );
    doc_b.text("t").unwrap().insert(0, "c").unwrap();
    assert_eq!(
        doc_a.version().unwrap().compare(&doc_b.version().unwrap()),
        VersionOrdering::Concurrent
    );
    exchange(&a, &b, doc_a.id());
    assert_eq!(
        doc_b.version().unwrap().compare(&doc_a.version().unwrap()),
        VersionOrdering::Ahead
    );
    exchange(&b, &a, doc_a.id());
    assert_eq!(doc_a.to_json().unwrap(), doc_b.to_json().unwrap());
    assert_eq!(
        doc_a.version().unwrap().compare(&doc_b.version().unwrap()),
        VersionOrdering::Equal
    );
}

#[test]
fn out_of_order_delivery_parks_then_applies() {
    let da = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    // Plain nodes: the genesis is the only control operation; B gets it first, then the
    // delta log reversed gives a pure gap scenario.
    let a = open_plain_node(da.path());
    let b = open_plain_node(db.path());
    let doc = a.create_document().unwrap();
    for i in 0..10 {
        doc.list("l").unwrap().push(Value::Int(i)).unwrap();
    }
    let mut ops = a.operations(doc.id()).unwrap();
    let genesis = ops.remove(0);
    b.ingest(&genesis).unwrap();
    assert_eq!(ops.len(), 10);
    ops.reverse();
    for op in &ops[..9] {
        assert!(matches!(
            b.ingest(op),
            Err(fieldsync::IngestError::SeqGap { expected: 0, .. })
        ));
    }
    assert_eq!(b.parked_count().unwrap(), 9);
    let out = b.ingest(&ops[9]).unwrap();
    assert_eq!(
        out,
        fieldsync::IngestOutcome::Applied {
            document: doc.id(),
            unparked: 9
        }
    );
    assert_eq!(b.parked_count().unwrap(), 0);
    assert_eq!(
        b.document(doc.id()).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
}
