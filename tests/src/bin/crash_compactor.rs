//! Test helper: commits edits and, every 150 of them, publishes a snapshot and compacts the
//! document (keeping only what follows the snapshot), reporting each step on stdout until it
//! is killed. Usage: `crash_compactor DATA_DIR [DOC_ID]`.

use std::io::Write;

use fieldsync::{Node, NodeConfig, Retention, Value};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("data dir");
    let mut config = NodeConfig::new(dir);
    config.publish_snapshot_every = 0;
    let node = Node::open(config).expect("open");
    let doc = match args.next() {
        Some(id) => node.document(id.parse().expect("doc id")).expect("doc"),
        None => node.create_document().expect("create"),
    };
    let list = doc.list("log").expect("list");
    let mut out = std::io::stdout().lock();
    writeln!(out, "doc {}", doc.id()).unwrap();
    let mut i = list.len().expect("len") as i64;
    loop {
        list.push(Value::Int(i)).expect("push");
        // Only reported after the commit returned: the parent may rely on it.
        writeln!(out, "committed {i}").unwrap();
        out.flush().unwrap();
        i += 1;
        if i % 150 == 0 {
            doc.publish_snapshot().expect("publish");
            let pruned = doc.compact(Retention::KeepSinceSnapshot).expect("compact");
            writeln!(out, "compacted {pruned}").unwrap();
            out.flush().unwrap();
        }
    }
}
