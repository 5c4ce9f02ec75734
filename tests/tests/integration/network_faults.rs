//! Multi-node sync over QUIC on 127.0.0.1: catch-up after offline, store-and-forward through a
//! third node, partitions that heal, restarts mid-sync, and hostile peers.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fieldsync::{Document, Event, Node, PeerAddr, Role, Value};
// These tests exercise the sync layer with plain (unencrypted) documents; encrypted sync is
// covered by `network_encryption.rs`.
use fieldsync_tests::{
    go_online, json_of, open_nodes_with, open_plain_node as open_node, wait_until,
};

const CONNECT: Duration = Duration::from_secs(45);

fn fill(doc: &Document, from: i64, n: i64) {
    let list = doc.list("items").unwrap();
    for i in from..from + n {
        list.push(Value::Int(i)).unwrap();
    }
}

fn op_count(node: &Node, doc: fieldsync::DocumentId) -> u64 {
    node.document(doc)
        .and_then(|d| Ok(d.op_count()?))
        .unwrap_or(0)
}

/// Gives `member` the writer role in `doc` (the caller's device is its admin). Since roles,
/// peers sync a document only with devices its roles name.
fn add_writer(doc: &Document, member: &Node) {
    doc.add_member(&member.key_bundle().unwrap()).unwrap();
}

/// Delivers every operation `from` holds of `doc` to `to` by hand (out of band).
fn hand_over(from: &Node, to: &Node, doc: fieldsync::DocumentId) {
    for op in from.operations(doc).unwrap() {
        to.ingest(&op).unwrap();
    }
}

/// Waits until `node` holds the writer role in `doc` (its local edits are refused before).
async fn has_writer_role(node: &Node, doc: fieldsync::DocumentId) {
    wait_until("the writer role arrives", CONNECT, || {
        node.document(doc)
            .and_then(|d| Ok(d.my_role()?))
            .is_ok_and(|r| r == Some(Role::Writer))
    })
    .await;
}

async fn converged(nodes: &[&Node], doc: fieldsync::DocumentId, timeout: Duration, what: &str) {
    wait_until(what, timeout, || {
        let first = json_of(nodes[0], doc);
        !first.is_empty() && nodes.iter().all(|n| json_of(n, doc) == first)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_5000_ops_written_while_peer_was_stopped() {
    let (_dirs, [a, b]) = open_nodes_with(open_node);
    let doc = a.create_document().unwrap();
    let id = doc.id();
    go_online(&a).await;
    go_online(&b).await;
    b.join(&doc.invite().await.unwrap()).await.unwrap();
    doc.text("title").unwrap().insert(0, "survey").unwrap();
    converged(&[&a, &b], id, CONNECT, "first sync").await;
    b.stop_network().await.unwrap();

    let t0 = Instant::now();
    fill(&doc, 0, 5000);
    eprintln!("A wrote 5000 ops in {:?}", t0.elapsed());
    let t1 = Instant::now();
    // B restarts its network: it re-dials A (remembered from the invite) by itself.
    go_online(&b).await;
    converged(
        &[&a, &b],
        id,
        Duration::from_secs(120),
        "B catches up 5000 ops",
    )
    .await;
    eprintln!("B caught up in {:?}", t1.elapsed());
    assert_eq!(op_count(&a, id), op_count(&b, id));
    assert_eq!(op_count(&b, id), 5001);
    assert_eq!(b.replay_json(id).unwrap(), doc.to_json().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_forward_through_a_third_node() {
    let (_dirs, [a, b, c]) = open_nodes_with(open_node);
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.text("t").unwrap().insert(0, "from A").unwrap();
    // A, the only admin, names B and C before it leaves: the roles (control operations)
    // reach C through B like A's edit. A and C still never sync directly.
    add_writer(&doc, &b);
    add_writer(&doc, &c);
    go_online(&a).await;
    go_online(&b).await;
    let doc_b = b.join(&doc.invite().await.unwrap()).await.unwrap();
    converged(&[&a, &b], id, CONNECT, "A -> B").await;
    // A leaves; C only ever meets B.
    a.stop_network().await.unwrap();
    go_online(&c).await;
    let doc_c = c.join(&doc_b.invite().await.unwrap()).await.unwrap();
    converged(&[&b, &c], id, CONNECT, "A's edit reaches C through B").await;
    has_writer_role(&c, id).await;
    doc_c
        .map("m")
        .unwrap()
        .set("from", Value::from("C"))
        .unwrap();
    converged(&[&b, &c], id, CONNECT, "C -> B").await;
    c.stop_network().await.unwrap();
    go_online(&a).await;
    converged(&[&a, &b, &c], id, CONNECT, "C's edit reaches A through B").await;
    let known_by_a = a.sync_status(id).await.unwrap().known_peers;
    let known_by_c = c.sync_status(id).await.unwrap().known_peers;
    assert!(
        !known_by_a.contains(&c.author()),
        "A and C must never have synced directly"
    );
    assert!(
        !known_by_c.contains(&a.author()),
        "C and A must never have synced directly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_heals_and_four_nodes_converge() {
    let (_dirs, nodes) = open_nodes_with::<4>(open_node);
    let [a, b, c, d] = &nodes;
    let doc_a = a.create_document().unwrap();
    let id = doc_a.id();
    // Roles come first: A (the admin) makes B, C and D writers, and C gets A's control log
    // out of band (the partition keeps C and D from ever reaching A or B before healing).
    for n in [b, c, d] {
        add_writer(&doc_a, n);
    }
    c.document_or_register(id).unwrap();
    hand_over(a, c, id);
    let mut infos = Vec::new();
    for n in &nodes {
        infos.push(go_online(n).await);
    }
    // Partition {A,B} | {C,D}: each side only knows its own members.
    let doc_b = b.join(&doc_a.invite().await.unwrap()).await.unwrap();
    let doc_c = c.document_or_register(id).unwrap();
    let doc_d = d.join(&doc_c.invite().await.unwrap()).await.unwrap();
    // B and D learn their roles from their side's first sync before they may edit.
    has_writer_role(b, id).await;
    has_writer_role(d, id).await;
    for (i, doc) in [&doc_a, &doc_b, &doc_c, &doc_d].iter().enumerate() {
        let t = doc.text("shared").unwrap();
        t.insert(0, &format!("[{i}]")).unwrap();
        fill(doc, (i as i64) * 100, 20);
    }
    converged(&[a, b], id, CONNECT, "{A,B} converge").await;
    converged(&[c, d], id, CONNECT, "{C,D} converge").await;
    assert_ne!(
        json_of(a, id),
        json_of(c, id),
        "sides must differ while partitioned"
    );
    // Heal: B learns C's address.
    b.add_peer(PeerAddr {
        node: c.author(),
        addrs: infos[2].addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    converged(
        &[a, b, c, d],
        id,
        Duration::from_secs(60),
        "all four converge after healing",
    )
    .await;
    let json = json_of(a, id);
    for i in 0..4 {
        assert!(
            json.contains(&format!("[{i}]")),
            "edit of node {i} survived: {json}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_catch_up_of_20000_ops_duplicates_nothing() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // No snapshots: this is about a catch-up of 20,000 operations (with one, B would fetch
    // the snapshot instead; see `snapshots::`).
    let mut config = fieldsync::NodeConfig::new(da.path());
    config.publish_snapshot_every = 0;
    let a = fieldsync::Node::open(config).unwrap();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    let t0 = Instant::now();
    fill(&doc, 0, 20_000);
    eprintln!("A wrote 20000 ops in {:?}", t0.elapsed());
    let info = go_online(&a).await;
    let b = open_node(db.path());
    // B joins without an invite: A names it (a reader) itself, or A would refuse to sync.
    doc.add_member_as(&b.key_bundle().unwrap(), Role::Reader)
        .unwrap();
    b.add_peer(PeerAddr {
        node: a.author(),
        addrs: info.addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    b.document_or_register(id).unwrap();
    go_online(&b).await;
    wait_until("B is partway through", CONNECT, || op_count(&b, id) > 500).await;
    let partial = op_count(&b, id);
    b.stop_network().await.unwrap();
    drop(b);
    assert!(
        partial < 20_000,
        "stop must interrupt the catch-up (got {partial})"
    );
    // Restart the whole node from disk, then its network.
    let b = open_node(db.path());
    assert!(op_count(&b, id) >= partial);
    go_online(&b).await;
    converged(
        &[&a, &b],
        id,
        Duration::from_secs(180),
        "B finishes catching up",
    )
    .await;
    eprintln!("interrupted at {partial} ops; total {:?}", t0.elapsed());
    assert_eq!(op_count(&b, id), 20_000);
    let list = b.document(id).unwrap().list("items").unwrap();
    assert_eq!(list.len().unwrap(), 20_000);
    let distinct: BTreeSet<_> = (0..20_000)
        .map(|i| format!("{:?}", list.get(i).unwrap()))
        .collect();
    assert_eq!(distinct.len(), 20_000, "no duplicated item");
    assert_eq!(b.replay_json(id).unwrap(), json_of(&a, id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peer_cannot_stop_good_operations() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = open_node(dirs[0].path());
    let e = open_node(dirs[1].path());
    let m = open_node(dirs[2].path());
    let b = open_node(dirs[3].path());
    let doc = a.create_document().unwrap();
    let id = doc.id();
    // Roles: E writes, M relays (stores and forwards), B reads; E gets them by hand. Without
    // them B would refuse E's operations and nobody would sync with M or B at all.
    add_writer(&doc, &e);
    doc.add_relay(m.author()).unwrap();
    doc.add_member_as(&b.key_bundle().unwrap(), Role::Reader)
        .unwrap();
    fill(&doc, 0, 10);
    let doc_e = e.document_or_register(id).unwrap();
    hand_over(&a, &e, id);
    fill(&doc_e, 1000, 10);
    // M holds everything, then its database is tampered with behind its back.
    for op in a
        .operations(id)
        .unwrap()
        .into_iter()
        .chain(e.operations(id).unwrap())
    {
        m.ingest(&op).unwrap();
    }
    drop(m);
    {
        // The body itself is changed (it no longer matches the signed hash), sealed again.
        let conn = fieldsync::internals::store::raw_connection(dirs[2].path());
        let n = conn
            .execute(
                "UPDATE operations SET body = fs_seal('operations.body',
                     CAST(fs_open('operations.body', body, hash) || x'00' AS BLOB), hash)
                 WHERE author = ?1 AND seq = 3",
                [e.author().as_bytes().to_vec()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let m = open_node(dirs[2].path());
    let info = go_online(&m).await;
    let mut events = b.subscribe();
    go_online(&b).await;
    b.add_peer(PeerAddr {
        node: m.author(),
        addrs: info.addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    b.document_or_register(id).unwrap();
    // All of A's log and E's log up to the forged op arrive.
    wait_until("good ops arrive from the hostile peer", CONNECT, || {
        b.document(id)
            .and_then(|d| Ok(d.version()?))
            .is_ok_and(|vv| vv.get(&a.author()) == Some(9) && vv.get(&e.author()) == Some(2))
    })
    .await;
    wait_until("the forged op is reported", CONNECT, || {
        std::iter::from_fn(|| events.try_next()).any(
            |ev| matches!(ev, Event::OperationsRejected { peer: Some(p), .. } if p == m.author()),
        )
    })
    .await;
    let status = b.sync_status(id).await.unwrap();
    assert!(status.rejected_ops >= 1);
    let items = b
        .document(id)
        .unwrap()
        .list("items")
        .unwrap()
        .len()
        .unwrap();
    assert_eq!(items, 13, "10 of A + 3 good of E");
    // The real author later delivers the genuine op: the log continues.
    go_online(&e).await;
    e.add_peer(PeerAddr {
        node: b.author(),
        addrs: b.network_info().await.unwrap().addrs,
        relay: None,
    })
    .await
    .unwrap();
    wait_until("genuine ops from E repair the gap", CONNECT, || {
        b.document(id)
            .and_then(|d| Ok(d.version()?))
            .is_ok_and(|vv| vv.get(&e.author()) == Some(9))
    })
    .await;
}
