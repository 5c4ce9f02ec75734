//! Issue #23: a forked log gets one verdict on every replica, whatever branch each saw
//! first. A writer's identity signs two branches of equal length from seq 2 (a cloned
//! device); B holds one, C the other, and neither can tell from its own log. Catch-up
//! compares the heads' hashes, finds the fork, and both freeze the log at seq 2. D, which
//! holds B's branch and meets only B afterwards, gets the proof at the start of that
//! catch-up and freezes the same way. All end with the same document.

use std::time::Duration;

use fieldsync::internals::body::{seal, BodyScheme};
use fieldsync::internals::crypto::DeviceKeys;
use fieldsync::internals::operation::{build_operation, encode_operation, FsOperation, LogKind};
use fieldsync::{AuthorId, DocumentId, Node, PeerAddr, Role};
use fieldsync_tests::{exchange, go_online, json_of, open_plain_node, wait_until};
use p2panda_core::SigningKey;

/// One branch of a writer's log: a Loro document with the writer's peer id, and the
/// operations written so far.
#[derive(Clone)]
struct Branch {
    loro: loro::LoroDoc,
    ops: Vec<FsOperation>,
}

impl Branch {
    fn write(&mut self, key: &SigningKey, doc: DocumentId, text: &str) {
        let before = self.loro.oplog_vv();
        let t = self.loro.get_text("k");
        t.insert(t.len_unicode(), text).unwrap();
        self.loro.commit();
        let update = self
            .loro
            .export(loro::ExportMode::updates(&before))
            .unwrap();
        let previous = self.ops.last().map(|op| (op.header.seq_num, op.hash));
        self.ops.push(build_operation(
            key,
            doc,
            LogKind::Delta,
            previous,
            seal(BodyScheme::Plain, &update),
        ));
    }

    /// A copy whose Loro document and log go on separately (the cloned device).
    fn fork(&self) -> Branch {
        let loro = self.loro.fork();
        // A fork gets a fresh Loro peer id: the clone writes as the same peer.
        loro.set_peer_id(self.loro.peer_id()).unwrap();
        Branch {
            loro,
            ops: self.ops.clone(),
        }
    }
}

fn ingest_all(node: &Node, ops: &[FsOperation]) {
    for op in ops {
        node.ingest(&encode_operation(op)).unwrap();
    }
}

/// The fork seqs `node` holds evidence of, by author.
fn frozen(node: &Node, doc: DocumentId) -> Vec<(AuthorId, u32)> {
    node.forks(doc)
        .unwrap()
        .iter()
        .map(|f| (f.author, f.seq))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_holding_different_branches_freeze_the_same_log() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| open_plain_node(dirs[i].path()));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.text("t").unwrap().insert(0, "shared").unwrap();
    for member in [&b, &c, &d] {
        doc.add_member(&member.key_bundle().unwrap()).unwrap();
    }
    let key = SigningKey::generate();
    let author = AuthorId::from(key.verifying_key());
    let bundle = DeviceKeys::generate(key.verifying_key())
        .unwrap()
        .key_bundle()
        .unwrap()
        .to_bytes()
        .unwrap();
    doc.add_member_as(&bundle, Role::Writer).unwrap();
    for member in [&b, &c, &d] {
        exchange(&a, member, id);
    }

    // The writer's common history, then two branches from seq 2 of equal length.
    let loro = loro::LoroDoc::new();
    loro.set_peer_id(author.loro_peer_id()).unwrap();
    let mut common = Branch {
        loro,
        ops: Vec::new(),
    };
    common.write(&key, id, "k0 ");
    common.write(&key, id, "k1 ");
    let (mut x, mut y) = (common.fork(), common.fork());
    for i in 2..4 {
        x.write(&key, id, &format!("x{i} "));
        y.write(&key, id, &format!("y{i} "));
    }
    ingest_all(&b, &x.ops);
    ingest_all(&c, &y.ops);
    ingest_all(&d, &x.ops);
    assert!(json_of(&b, id).contains("x3"));
    assert!(json_of(&c, id).contains("y3"));
    assert!(frozen(&b, id).is_empty() && frozen(&c, id).is_empty());

    let info_b = go_online(&b).await;
    go_online(&c).await;
    c.add_peer(PeerAddr {
        node: b.author(),
        addrs: info_b.addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    wait_until(
        "B and C both find the fork at seq 2 and agree",
        Duration::from_secs(60),
        || {
            frozen(&b, id) == vec![(author, 2)]
                && frozen(&c, id) == vec![(author, 2)]
                && json_of(&b, id) == json_of(&c, id)
        },
    )
    .await;
    let json = json_of(&b, id);
    assert!(json.contains("k0 k1"), "{json}");
    assert!(!json.contains('x') && !json.contains('y'), "{json}");

    // D holds branch x and meets only B: B's proof freezes the log on D too.
    go_online(&d).await;
    d.add_peer(PeerAddr {
        node: b.author(),
        addrs: info_b.addrs,
        relay: None,
    })
    .await
    .unwrap();
    wait_until(
        "D gets B's proof and freezes the log",
        Duration::from_secs(60),
        || frozen(&d, id) == vec![(author, 2)] && json_of(&d, id) == json_of(&b, id),
    )
    .await;
    for node in [&b, &c, &d] {
        node.stop_network().await.unwrap();
    }
}
