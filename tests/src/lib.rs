//! Shared helpers for FieldSync's multi-node, fault and tamper tests.

use std::path::Path;

use fieldsync::{Node, NodeConfig};

/// Opens a node in `dir` with default settings.
pub fn open_node(dir: &Path) -> Node {
    Node::open(NodeConfig::new(dir)).expect("open node")
}

/// Opens a node in `dir` with encryption off (plain documents), for tests of log mechanics
/// that build unencrypted operations by hand.
pub fn open_plain_node(dir: &Path) -> Node {
    let mut cfg = NodeConfig::new(dir);
    cfg.encrypt = false;
    Node::open(cfg).expect("open node")
}

/// Makes `joiner` a member of `doc` (owned by `owner`) and delivers the control operations.
pub fn share(owner: &Node, doc: &fieldsync::Document, joiner: &Node) {
    doc.add_member(&joiner.key_bundle().expect("key bundle"))
        .expect("add member");
    exchange(owner, joiner, doc.id());
}

/// Delivers every operation of `doc` held by `from` to `to`, ignoring gaps/duplicates.
pub fn exchange(from: &Node, to: &Node, doc: fieldsync::DocumentId) {
    for op in from.operations(doc).expect("operations") {
        match to.ingest(&op) {
            Ok(_) | Err(fieldsync::IngestError::SeqGap { .. }) => {}
            Err(e) => panic!("unexpected ingest error: {e}"),
        }
    }
}
