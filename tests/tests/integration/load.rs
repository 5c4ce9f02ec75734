//! Load: five nodes on 127.0.0.1 each write operations concurrently to one encrypted document
//! and converge over QUIC (gossip push plus catch-up). Prints the time taken.
//!
//! The full figure of issue #7 (2,000 operations per node) takes minutes in a debug build, so
//! it is `#[ignore]`d and runs in release with `make reliability`; `make test` runs the same
//! scenario with 200 operations per node.

use std::time::{Duration, Instant};

use fieldsync::{DocumentId, Node, Value};
use fieldsync_tests::{go_online, open_node, wait_until};

const NODES: usize = 5;

/// Whether `node` holds `ops` operations of every writer's log of `id`.
fn complete(node: &Node, id: DocumentId, writers: &[fieldsync::AuthorId], ops: i64) -> bool {
    node.document(id)
        .and_then(|d| Ok(d.version()?))
        .is_ok_and(|vv| writers.iter().all(|w| vv.get(w) == Some(ops as u32 - 1)))
}

/// Polls every 250 ms (the version vector query is not free at 10,000 operations).
async fn poll_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn five_nodes_write_concurrently_and_converge(ops_per_node: i64, deadline: Duration) {
    let dirs: Vec<_> = (0..NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Node> = dirs.iter().map(|d| open_node(d.path())).collect();
    let doc = nodes[0].create_document().unwrap();
    let id = doc.id();
    for n in &nodes[1..] {
        doc.add_member(&n.key_bundle().unwrap()).unwrap();
    }
    for n in &nodes {
        go_online(n).await;
    }
    let invite = doc.invite().await.unwrap();
    for n in &nodes[1..] {
        n.join(&invite).await.unwrap();
    }
    wait_until("every node holds the key", Duration::from_secs(60), || {
        nodes.iter().all(|n| {
            n.document(id)
                .and_then(|d| Ok(d.can_read()?))
                .unwrap_or(false)
        })
    })
    .await;

    let t0 = Instant::now();
    let writers: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let list = n.document(id).unwrap().list("items").unwrap();
            std::thread::spawn(move || {
                for i in 0..ops_per_node {
                    list.push(Value::Int(k as i64 * 1_000_000 + i)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer thread");
    }
    let written = t0.elapsed();
    let authors: Vec<_> = nodes.iter().map(|n| n.author()).collect();
    poll_until("all five nodes hold every operation", deadline, || {
        nodes
            .iter()
            .all(|n| complete(n, id, &authors, ops_per_node))
    })
    .await;
    let converged = t0.elapsed();
    let json = nodes[0].document(id).unwrap().to_json().unwrap();
    for (k, n) in nodes.iter().enumerate() {
        assert_eq!(n.document(id).unwrap().to_json().unwrap(), json, "node {k}");
    }
    let items = nodes[0].document(id).unwrap().list("items").unwrap();
    assert_eq!(items.len().unwrap(), NODES * ops_per_node as usize);
    eprintln!(
        "load: {NODES} nodes x {ops_per_node} ops written concurrently in {written:?}, \
         converged over QUIC after {converged:?}"
    );
    for n in &nodes {
        n.stop_network().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_200_ops_each_converge() {
    five_nodes_write_concurrently_and_converge(200, Duration::from_secs(120)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes in a debug build: run in release with `make reliability`"]
async fn five_nodes_2000_ops_each_converge() {
    five_nodes_write_concurrently_and_converge(2_000, Duration::from_secs(600)).await;
}
