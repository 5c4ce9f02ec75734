//! A node whose last handle is dropped while thread-locals are destroyed (held in a
//! thread-local of a thread that exits) must not abort the process. Found by fuzzing: the
//! snapshot saved on drop goes through Loro, whose thread-locals may already be gone.
//! Its own test binary, since failing means the process aborts.

use std::cell::RefCell;

use fieldsync::{Node, Value};

thread_local! {
    static HELD: RefCell<Option<Node>> = const { RefCell::new(None) };
}

#[test]
fn node_dropped_during_thread_local_destruction_does_not_abort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (id, json) = std::thread::spawn(move || {
        // Touch the slot first: thread-locals are destroyed in reverse order of first use,
        // so Loro's (used below) are gone when this one drops the node.
        HELD.with(|h| h.borrow().is_none());
        let node = fieldsync_tests::open_node(&path);
        let doc = node.create_document().unwrap();
        // Unsnapshotted edits: dropping the node saves a snapshot.
        doc.list("l").unwrap().push(Value::Int(1)).unwrap();
        let out = (doc.id(), doc.to_json().unwrap());
        drop(doc);
        HELD.with(|h| *h.borrow_mut() = Some(node));
        out
    })
    .join()
    .expect("thread exits cleanly");
    let node = fieldsync_tests::open_node(dir.path());
    assert_eq!(node.document(id).unwrap().to_json().unwrap(), json);
}
