//! Shared helpers for FieldSync's multi-node, fault and tamper tests.

use std::path::Path;

use fieldsync::{Node, NodeConfig};

/// Opens a node in `dir` with default settings.
pub fn open_node(dir: &Path) -> Node {
    Node::open(NodeConfig::new(dir)).expect("open node")
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
