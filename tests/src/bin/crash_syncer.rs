//! Test helper: a node that syncs a document from a peer over QUIC on 127.0.0.1 while it
//! commits its own edits, reporting each committed one on stdout, until it is killed.
//! Usage: `crash_syncer DATA_DIR INVITE`. Its edits are the integers 0, 1, 2, ... pushed to
//! the list "b" (continuing after a restart), one every 2 ms, once the document's key has
//! arrived; "online" is printed then.

use std::io::Write;
use std::time::Duration;

use fieldsync::{NetworkConfig, Node, NodeConfig, Value};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("data dir");
    let invite = args.next().expect("invite");
    let node = Node::open(NodeConfig::new(dir)).expect("open");
    node.start_network(NetworkConfig::loopback(0))
        .await
        .expect("start network");
    let doc = node.join(&invite).await.expect("join");
    // Writing needs the group key, which arrives with the first catch-up.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !doc.can_read().expect("can_read") {
        assert!(std::time::Instant::now() < deadline, "never welcomed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let list = doc.list("b").expect("list");
    let mut out = std::io::stdout().lock();
    writeln!(out, "online").unwrap();
    out.flush().unwrap();
    let mut i = list.len().expect("len") as i64;
    loop {
        list.push(Value::Int(i)).expect("push");
        // Only reported after the commit returned: the parent may rely on it.
        writeln!(out, "committed {i}").unwrap();
        out.flush().unwrap();
        i += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
