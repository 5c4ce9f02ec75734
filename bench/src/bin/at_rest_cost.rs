//! The cost of at-rest encryption (issue #24): local writes and catch-up, through the public
//! API only, so the same program builds against a FieldSync from before the change and one
//! after it (`scripts/at-rest-cost.sh` runs both side by side and prints the figures that go
//! into BENCHMARKS.md).
//!
//! Usage: `at_rest_cost [ROUNDS]`. Prints one line per measure, the median of ROUNDS (5):
//! `local_writes_per_s`, `ingest_ops_per_s` (a member ingesting another's 20,000 operations
//! in batches of 1,000, in process) and `catchup_ops_per_s` (the same 20,000 over QUIC on
//! 127.0.0.1, from connect to the last operation applied).

use std::time::{Duration, Instant};

use fieldsync::{Node, NodeConfig, Value};

const LOCAL: usize = 5_000;
/// Operations of the ingest and catch-up measures (`AT_REST_COST_OPS` overrides, for a
/// smoke run).
fn ops() -> usize {
    std::env::var("AT_REST_COST_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn open(dir: &std::path::Path) -> Node {
    Node::open(NodeConfig::new(dir)).expect("open node")
}

/// Edits per second: LOCAL list pushes, each a signed, encrypted, stored operation.
fn local_writes() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path());
    let doc = node.create_document().unwrap();
    let list = doc.list("l").unwrap();
    let t = Instant::now();
    for i in 0..LOCAL {
        list.push(Value::Int(i as i64)).unwrap();
    }
    LOCAL as f64 / t.elapsed().as_secs_f64()
}

/// A writer with OPS operations and a member that holds none of them yet.
fn writer_and_member() -> (Vec<tempfile::TempDir>, Node, Node, fieldsync::DocumentId) {
    let dirs = vec![tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (a, b) = (open(dirs[0].path()), open(dirs[1].path()));
    let doc = a.create_document().unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    // B knows the document (its network syncs it), as after scanning an invite.
    b.document_or_register(doc.id()).unwrap();
    let list = doc.list("l").unwrap();
    for i in 0..ops() {
        list.push(Value::Int(i as i64)).unwrap();
    }
    let id = doc.id();
    (dirs, a, b, id)
}

/// Operations per second a member ingests, in batches of 1,000, in process.
fn ingest() -> f64 {
    let (_dirs, a, b, id) = writer_and_member();
    let ops = a.operations(id).unwrap();
    let t = Instant::now();
    for chunk in ops.chunks(1000) {
        for r in b.ingest_batch(chunk) {
            r.expect("ingest");
        }
    }
    ops.len() as f64 / t.elapsed().as_secs_f64()
}

/// Operations per second of a catch-up over QUIC on 127.0.0.1.
fn catch_up(rt: &tokio::runtime::Runtime) -> f64 {
    let (_dirs, a, b, id) = writer_and_member();
    let total = ops();
    let doc = b.document_or_register(id).unwrap();
    let list = doc.list("l").unwrap();
    rt.block_on(async {
        let info = a
            .start_network(fieldsync::NetworkConfig::loopback(0))
            .await
            .unwrap();
        b.start_network(fieldsync::NetworkConfig::loopback(0))
            .await
            .unwrap();
        let t = Instant::now();
        b.add_peer(fieldsync::PeerAddr {
            node: a.author(),
            addrs: info.addrs,
            relay: None,
        })
        .await
        .unwrap();
        let deadline = t + Duration::from_secs(120);
        // Progress is read from B's in-memory document (the list's length), which opens no
        // stored body, so the check does not compete with the catch-up it measures.
        while list.len().unwrap_or(0) < total {
            assert!(
                Instant::now() < deadline,
                "catch-up did not finish in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let rate = total as f64 / t.elapsed().as_secs_f64();
        a.stop_network().await.unwrap();
        b.stop_network().await.unwrap();
        rate
    })
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let local = median((0..rounds).map(|_| local_writes()).collect());
    println!("local_writes_per_s {local:.0}");
    let ingested = median((0..rounds).map(|_| ingest()).collect());
    println!("ingest_ops_per_s {ingested:.0}");
    let caught = median((0..rounds).map(|_| catch_up(&rt)).collect());
    println!("catchup_ops_per_s {caught:.0}");
}
