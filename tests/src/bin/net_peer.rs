//! Test helper: a node that syncs one document with one peer, driven over stdin/stdout, so a
//! test can run it inside a network namespace. Usage:
//! `net_peer DATA_DIR PEER_NODE_HEX PEER_ADDR DOC_ID`.
//!
//! PEER_ADDR may be `-`: the peer is then added later by `connect ADDR` (answers `ok`).
//!
//! Commands (one per line): `write N` pushes N integers to the list "b" (once the document
//! key has arrived) and answers `ok`; `status` answers `status PEER OWN`: the heights of the
//! peer's and of its own delta log (`-` when empty); `json` answers `json HASH`, a hash of
//! the document's JSON (std `DefaultHasher`, the same in every process); `textlen KEY`
//! answers `textlen N`, the length of the text container KEY (0 if absent); `peak` answers
//! `peak KB`, this process's peak resident memory (VmHWM), and `reset-peak` resets it
//! (answers `ok`); `rss` answers `rss KB` (VmRSS); `addr` answers `addr IP:PORT`, where this
//! node listens.

use std::io::{BufRead, Write};

use fieldsync::{AuthorId, NetworkConfig, Node, NodeConfig, PeerAddr, Value};

/// The figure in kB of `field` (e.g. `VmRSS:`) in this process's `/proc/self/status`, or 0.
fn memory_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("data dir");
    if dir == "--rotate-loop" {
        // Issue #24: rotates the store key of the node in the given directory without end,
        // saying each time; the test kills it with SIGKILL at a random moment.
        let dir = args.next().expect("data dir");
        let node = fieldsync::Node::open(fieldsync::NodeConfig::new(&dir)).expect("open");
        println!("ready");
        for i in 0u64.. {
            node.rotate_store_key().expect("rotate");
            println!("rotated {i}");
        }
        return;
    }
    if dir == "--try-open" {
        // Issue #24: opens the node in the given directory once and says what happened.
        let dir = args.next().expect("data dir");
        match fieldsync::Node::open(fieldsync::NodeConfig::new(&dir)) {
            Ok(_) => println!("opened"),
            Err(fieldsync::Error::Store(fieldsync::StoreError::Busy(_))) => println!("busy"),
            Err(e) => println!("error: {e}"),
        }
        return;
    }
    let peer: AuthorId = args.next().expect("peer").parse().expect("peer id");
    let addr = args.next().expect("addr");
    let id = args.next().expect("doc").parse().expect("doc id");
    let node = Node::open(NodeConfig::new(dir)).expect("open");
    let info = node
        .start_network(NetworkConfig::loopback(0))
        .await
        .expect("start network");
    if addr != "-" {
        node.add_peer(PeerAddr {
            node: peer,
            addrs: vec![addr.parse().expect("peer addr")],
            relay: None,
        })
        .await
        .expect("add peer");
    }
    let doc = node.document_or_register(id).expect("register");
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let height = |who: &AuthorId| {
        doc.version()
            .ok()
            .and_then(|vv| vv.get(who))
            .map_or("-".to_string(), |h| h.to_string())
    };
    for line in stdin.lock().lines() {
        let line = line.expect("stdin");
        if let Some(n) = line.strip_prefix("write ") {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while !doc.can_read().expect("can_read") {
                assert!(std::time::Instant::now() < deadline, "never welcomed");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let list = doc.list("b").expect("list");
            for i in 0..n.parse::<i64>().expect("count") {
                list.push(Value::Int(i)).expect("push");
            }
            writeln!(out, "ok").unwrap();
        } else if line == "status" {
            writeln!(out, "status {} {}", height(&peer), height(&node.author())).unwrap();
        } else if let Some(key) = line.strip_prefix("textlen ") {
            let len = doc.text(key).and_then(|t| t.len()).unwrap_or(0);
            writeln!(out, "textlen {len}").unwrap();
        } else if line == "peak" {
            writeln!(out, "peak {}", memory_kb("VmHWM:")).unwrap();
        } else if let Some(addr) = line.strip_prefix("connect ") {
            node.add_peer(PeerAddr {
                node: peer,
                addrs: vec![addr.parse().expect("peer addr")],
                relay: None,
            })
            .await
            .expect("add peer");
            writeln!(out, "ok").unwrap();
        } else if line == "addr" {
            writeln!(out, "addr {}", info.addrs[0]).unwrap();
        } else if line == "rss" {
            writeln!(out, "rss {}", memory_kb("VmRSS:")).unwrap();
        } else if line == "reset-peak" {
            // Linux: writing 5 to clear_refs resets the peak resident set size.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            writeln!(out, "ok").unwrap();
        } else if line == "json" {
            let json = doc.to_json().unwrap_or_default();
            writeln!(out, "json {}", fieldsync_tests::json_hash(&json)).unwrap();
        }
        out.flush().unwrap();
    }
}
