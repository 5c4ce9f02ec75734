//! Coalesced local edits (`NodeConfig::coalesce_window`): consecutive edits within the
//! window become one signed operation; `Node::flush` makes them durable; received
//! operations never get mixed into this device's operations.

use std::time::Duration;

use fieldsync::{Node, NodeConfig, Value};
use fieldsync_tests::{exchange, open_node, share, wait_until};

fn open_coalescing(dir: &std::path::Path, window: Duration) -> Node {
    let mut cfg = NodeConfig::new(dir);
    cfg.coalesce_window = window;
    Node::open(cfg).unwrap()
}

#[test]
fn edits_in_a_window_become_one_operation_and_flush_makes_them_durable() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let a = open_coalescing(dir.path(), Duration::from_secs(60));
        let doc = a.create_document().unwrap();
        let list = doc.list("l").unwrap();
        for i in 0..100 {
            list.push(Value::Int(i)).unwrap();
        }
        // Visible at once, not signed yet.
        assert_eq!(list.len().unwrap(), 100);
        assert_eq!(
            doc.op_count().unwrap(),
            0,
            "nothing signed inside the window"
        );
        a.flush().unwrap();
        assert_eq!(doc.op_count().unwrap(), 1, "one operation for the window");
        list.push(Value::Int(100)).unwrap();
        doc.id()
        // Dropped with an open window: closing signs it.
    };
    let a = open_node(dir.path());
    let doc = a.document(id).unwrap();
    assert_eq!(doc.list("l").unwrap().len().unwrap(), 101);
    assert_eq!(doc.op_count().unwrap(), 2);
    assert_eq!(a.replay_json(id).unwrap(), doc.to_json().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_closes_by_itself_and_reaches_other_devices() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_coalescing(da.path(), Duration::from_millis(50));
    let b = open_node(db.path());
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    let text = doc.text("t").unwrap();
    for c in ["h", "e", "l", "l", "o"] {
        text.push(c).unwrap();
    }
    wait_until("the window is signed", Duration::from_secs(5), || {
        doc.op_count().unwrap() >= 1
    })
    .await;
    assert!(doc.op_count().unwrap() <= 5);
    exchange(&a, &b, doc.id());
    assert_eq!(
        b.document(doc.id()).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
}

#[test]
fn a_received_operation_is_never_signed_as_part_of_a_window() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_coalescing(da.path(), Duration::from_secs(60));
    let b = open_node(db.path());
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    let id = doc.id();
    doc.text("t").unwrap().push("a1 ").unwrap();
    // B writes; A receives it while its window is open (the window is signed first).
    let doc_b = b.document(id).unwrap();
    doc_b.text("t").unwrap().push("b1 ").unwrap();
    exchange(&b, &a, id);
    doc.text("t").unwrap().push("a2 ").unwrap();
    doc.undo().unwrap();
    doc.text("t").unwrap().push("a3").unwrap();
    a.flush().unwrap();
    // B takes every operation of A: each holds only A's own changes (B checks).
    for op in a.operations(id).unwrap() {
        match b.ingest(&op) {
            Ok(_) => {}
            Err(e) => panic!("B refused one of A's operations: {e}"),
        }
    }
    assert_eq!(doc_b.to_json().unwrap(), doc.to_json().unwrap());
    assert!(doc.to_json().unwrap().contains("a3"));
    assert!(!doc.to_json().unwrap().contains("a2"));
}
