//! Test helper: commits edits in a loop and reports each committed one on stdout, until it
//! is killed. Usage: `crash_writer DATA_DIR [DOC_ID]`.

use std::io::Write;

use fieldsync::{Node, NodeConfig, Value};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("data dir");
    let node = Node::open(NodeConfig::new(dir)).expect("open");
    let doc = match args.next() {
        Some(id) => node.document(id.parse().expect("doc id")).expect("doc"),
        None => node.create_document().expect("create"),
    };
    let list = doc.list("log").expect("list");
    let text = doc.text("text").expect("text");
    let mut out = std::io::stdout().lock();
    writeln!(out, "doc {}", doc.id()).unwrap();
    let mut i = list.len().expect("len") as i64;
    loop {
        list.push(Value::Int(i)).expect("push");
        if i % 3 == 0 {
            text.push("x").expect("text");
        }
        // Only reported after the commit returned: the parent may rely on it.
        writeln!(out, "committed {i}").unwrap();
        out.flush().unwrap();
        i += 1;
    }
}
