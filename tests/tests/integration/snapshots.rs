//! Snapshot operations, joins by snapshot and compaction (see `core/src/replica/snapshot.rs`):
//! a pruned node and an unpruned one serve a joiner (and a device at an old version) the
//! snapshot and what follows it; a
//! forged or inconsistent snapshot is refused with a typed error; SIGKILL during compaction
//! loses nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync::internals::body::{seal, BodyScheme};
use fieldsync::internals::operation::{build_operation, encode_operation, LogKind};
use fieldsync::internals::snapshot;
use fieldsync::{Event, IngestError, Node, NodeConfig, PeerAddr, Retention, Role, Value};
use fieldsync_tests::{exchange, go_online, json_of, open_node, wait_until, FixedKeys};
use rand::Rng;

const CONNECT: Duration = Duration::from_secs(30);

fn fill(doc: &fieldsync::Document, from: i64, n: i64) {
    let list = doc.list("items").unwrap();
    for i in from..from + n {
        list.push(Value::Int(i)).unwrap();
    }
}

/// Operations `peer` announced it would send `node` in catch-ups so far.
fn incoming_from(events: &mut fieldsync::EventStream, peer: fieldsync::AuthorId) -> u64 {
    let mut total = 0;
    while let Some(e) = events.try_next() {
        if let Event::SyncStarted {
            peer: p,
            incoming_ops,
            ..
        } = e
        {
            if p == peer {
                total += incoming_ops;
            }
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_and_an_unpruned_node_converge_with_a_third_that_joins_by_snapshot() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b, c, d) = (
        open_node(dirs[0].path()),
        open_node(dirs[1].path()),
        open_node(dirs[2].path()),
        open_node(dirs[3].path()),
    );
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    doc.add_member(&c.key_bundle().unwrap()).unwrap();
    doc.add_member(&d.key_bundle().unwrap()).unwrap();
    fill(&doc, 0, 1500);
    exchange(&a, &b, id);
    // D holds an old version: the control operations and the first 400 updates.
    for op in a.operations(id).unwrap() {
        let decoded =
            fieldsync::internals::operation::decode_operation(&op, 1 << 24, 1 << 24).unwrap();
        let kind = decoded.header.extensions.kind;
        if kind == LogKind::Control || (kind == LogKind::Delta && decoded.header.seq_num < 400) {
            d.ingest(&op).unwrap();
        }
    }
    let old_version = d.document(id).unwrap().to_json().unwrap();
    assert!(old_version.contains("399") && !old_version.contains("400"));
    let seq = doc.publish_snapshot().unwrap();
    assert_eq!(seq, Some(0), "A's first snapshot");
    fill(&doc, 1500, 20);
    // B holds the whole history, accepts the snapshot (checking it against what it holds),
    // and prunes what the snapshot covers.
    exchange(&a, &b, id);
    let doc_b = b.document(id).unwrap();
    assert_eq!(doc_b.to_json().unwrap(), doc.to_json().unwrap());
    let pruned = doc_b.compact(Retention::KeepSinceSnapshot).unwrap();
    assert!(pruned >= 1500, "B pruned {pruned} operations");
    assert_eq!(doc_b.compact(Retention::KeepSinceSnapshot).unwrap(), 0);
    b.reclaim_space().unwrap();
    // The pruned node rebuilds the same state from its store alone.
    assert_eq!(b.replay_json(id).unwrap(), doc.to_json().unwrap());
    drop(doc_b);

    // C joins from the pruned node only: it gets the control operations, the snapshot and
    // the 20 operations after it, not the 1,500 it covers.
    let mut events_c = c.subscribe();
    let info_b = go_online(&b).await;
    go_online(&c).await;
    c.document_or_register(id).unwrap();
    c.add_peer(PeerAddr {
        node: b.author(),
        addrs: info_b.addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    let want = doc.to_json().unwrap();
    wait_until("C converges with B by snapshot", CONNECT, || {
        json_of(&c, id) == want
    })
    .await;
    let received = incoming_from(&mut events_c, b.author());
    assert!(
        received < 200,
        "C was sent {received} operations; the snapshot covers 1,500"
    );
    let doc_c = c.document(id).unwrap();
    assert_eq!(c.replay_json(id).unwrap(), want);
    // D, at an old version, catches up from the pruned node too.
    go_online(&d).await;
    d.add_peer(PeerAddr {
        node: b.author(),
        addrs: info_b.addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    wait_until("D catches up from the pruned node", CONNECT, || {
        json_of(&d, id) == want
    })
    .await;
    assert_eq!(d.replay_json(id).unwrap(), want);

    // All three edit; the unpruned node joins; everyone converges.
    let info_a = go_online(&a).await;
    for n in [&b, &c] {
        n.add_peer(PeerAddr {
            node: a.author(),
            addrs: info_a.addrs.clone(),
            relay: None,
        })
        .await
        .unwrap();
    }
    doc.text("t").unwrap().insert(0, "[a]").unwrap();
    b.document(id)
        .unwrap()
        .text("t")
        .unwrap()
        .insert(0, "[b]")
        .unwrap();
    doc_c.text("t").unwrap().insert(0, "[c]").unwrap();
    fill(&doc_c, 5000, 5);
    wait_until("A, B and C converge", CONNECT, || {
        let first = json_of(&a, id);
        ["[a]", "[b]", "[c]"].iter().all(|m| first.contains(m))
            && json_of(&b, id) == first
            && json_of(&c, id) == first
    })
    .await;
    for n in [&a, &b, &c, &d] {
        n.stop_network().await.unwrap();
    }
}

/// A plain node with the fixed device key of [`FixedKeys`] (so the test can sign as it).
fn open_fixed_plain(dir: &std::path::Path) -> Node {
    let mut cfg = NodeConfig::new(dir);
    cfg.encrypt = false;
    cfg.key_store = Some(Arc::new(FixedKeys));
    Node::open(cfg).unwrap()
}

fn open_plain(dir: &std::path::Path) -> Node {
    let mut cfg = NodeConfig::new(dir);
    cfg.encrypt = false;
    Node::open(cfg).unwrap()
}

/// A snapshot operation at `seq` signed by the [`FixedKeys`] device for `doc`.
fn crafted_at(
    doc: fieldsync::DocumentId,
    seq: u32,
    prev: Option<(u32, p2panda_core::Hash)>,
    covers: &[snapshot::Cover],
    state: &[u8],
) -> (Vec<u8>, p2panda_core::Hash) {
    let key = p2panda_core::SigningKey::from_bytes(&[0x11; 32]);
    let body = snapshot::encode(covers, &seal(BodyScheme::Plain, state));
    let op = build_operation(&key, doc, LogKind::Snapshot, prev, body);
    assert_eq!(op.header.seq_num, seq);
    (encode_operation(&op), op.hash)
}

/// A snapshot operation at seq 0 signed by the [`FixedKeys`] device for `doc`.
fn crafted(doc: fieldsync::DocumentId, covers: &[snapshot::Cover], state: &[u8]) -> Vec<u8> {
    crafted_at(doc, 0, None, covers, state).0
}

/// The cover of a delta operation `key` signs at `seq` of its log of `doc`.
fn cover_by(
    key: &p2panda_core::SigningKey,
    doc: fieldsync::DocumentId,
    seq: u32,
) -> snapshot::Cover {
    let prev = (seq > 0).then(|| (seq - 1, p2panda_core::Hash::digest(b"whatever came before")));
    let op = build_operation(key, doc, LogKind::Delta, prev, b"x".to_vec());
    snapshot::Cover::from_header(&op.header.encode()).unwrap()
}

#[test]
fn a_forged_or_inconsistent_snapshot_is_refused_with_a_typed_error() {
    let (da, dm) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_plain(da.path());
    let m = open_fixed_plain(dm.path());
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.text("t").unwrap().insert(0, "the real").unwrap();
    doc.text("t").unwrap().insert(8, " text").unwrap();
    let head = *doc.version().unwrap().iter().next().unwrap().1;
    // A's own snapshot names A's head: its signed header is what a faithful snapshot covers.
    doc.publish_snapshot().unwrap().unwrap();
    let ops = a.operations(id).unwrap();
    let own = ops
        .iter()
        .map(|b| fieldsync::internals::operation::decode_operation(b, 1 << 24, 1 << 24).unwrap())
        .find(|op| op.header.extensions.kind == LogKind::Snapshot)
        .unwrap();
    let faithful = snapshot::decode(own.body.as_ref().unwrap().as_bytes(), id).unwrap();
    assert_eq!(faithful.covers.len(), 1);
    assert_eq!(faithful.covers[0].seq, head);

    // A reader may not publish snapshots.
    doc.add_member_as(&m.key_bundle().unwrap(), Role::Reader)
        .unwrap();
    let forged_state = {
        let scratch = loro::LoroDoc::new();
        scratch.get_text("t").insert(0, "forged").unwrap();
        scratch.export(loro::ExportMode::Snapshot).unwrap()
    };
    let real_state = doc.export_snapshot().unwrap();
    let by_reader = crafted(id, &faithful.covers, &real_state);
    assert!(
        matches!(a.ingest(&by_reader), Err(IngestError::Unauthorized(_))),
        "a reader's snapshot is refused"
    );
    // A tampered byte breaks the payload hash.
    let mut tampered = by_reader.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(
        a.ingest(&tampered).is_err(),
        "a tampered snapshot is refused"
    );

    // A writer's snapshot that disagrees with what A holds is refused, whatever it claims.
    let member = m.author();
    doc.set_role(member, Role::Writer).unwrap();
    let forged_cover = {
        let mut c = faithful.covers[0].clone();
        let last = c.header.len() - 1;
        c.header[last] ^= 1; // inside the signature
        c
    };
    let stranger = p2panda_core::SigningKey::from_bytes(&[0x42; 32]);
    let empty_state = loro::LoroDoc::new()
        .export(loro::ExportMode::Snapshot)
        .unwrap();
    let older_state = {
        // A's document after its first edit ("the real", counters 0..8) only.
        let scratch = loro::LoroDoc::new();
        scratch.import(&real_state).unwrap();
        let peer = scratch.oplog_frontiers().iter().next().unwrap().peer;
        let first = loro::Frontiers::from_id(loro::ID::new(peer, 7));
        let older = scratch.fork_at(&first).unwrap();
        older.export(loro::ExportMode::Snapshot).unwrap()
    };
    for (what, bytes) in [
        (
            "a cover whose signature does not hold",
            crafted(id, &[forged_cover], &real_state),
        ),
        (
            "a cover of an author without a role",
            crafted(
                id,
                &[faithful.covers[0].clone(), cover_by(&stranger, id, 1 << 20)],
                &real_state,
            ),
        ),
        (
            "a state it does not hold",
            crafted(id, &faithful.covers, &forged_state),
        ),
        (
            "a state lacking every covered change",
            crafted(id, &faithful.covers, &empty_state),
        ),
        (
            "a state lacking the last covered operation",
            crafted(id, &faithful.covers, &older_state),
        ),
        (
            "bytes that are no snapshot",
            crafted(id, &faithful.covers, b"garbage"),
        ),
    ] {
        match a.ingest(&bytes) {
            Err(IngestError::InconsistentSnapshot { author, .. }) => assert_eq!(author, member),
            Err(IngestError::InvalidUpdate(_)) if what == "bytes that are no snapshot" => {}
            Err(_) if what == "a cover whose signature does not hold" => {}
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
        assert_eq!(
            doc.to_json().unwrap(),
            r#"{"t":"the real text"}"#,
            "{what}: nothing applied"
        );
    }
    // The same writer's faithful snapshot is accepted.
    let (good, good_hash) = crafted_at(id, 0, None, &faithful.covers, &real_state);
    assert!(a.ingest(&good).is_ok());
    assert_eq!(doc.to_json().unwrap(), r#"{"t":"the real text"}"#);
    // Another snapshot signed for the same position is a fork of the member's snapshot
    // log: proven, frozen, refused (and its later snapshots with it).
    let twin = crafted(id, &[], &real_state);
    match a.ingest(&twin) {
        Err(IngestError::ForkedLog { author, seq: 0 }) => assert_eq!(author, member),
        other => panic!("two snapshots at one seq: {other:?}"),
    }
    let forks = a.forks(id).unwrap();
    assert_eq!(forks.len(), 1);
    assert_eq!(
        (forks[0].author, forks[0].kind),
        (member, LogKind::Snapshot)
    );
    let (later, _) = crafted_at(id, 1, Some((0, good_hash)), &faithful.covers, &real_state);
    assert!(matches!(
        a.ingest(&later),
        Err(IngestError::FrozenLog { .. })
    ));
    assert_eq!(doc.to_json().unwrap(), r#"{"t":"the real text"}"#);
    drop(m);
}

#[test]
fn sigkill_during_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc_id: Option<String> = None;
    let mut rng = rand::thread_rng();
    let mut last_reported: Option<i64> = None;
    let mut compactions = 0;
    for round in 0..6 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crash_compactor"));
        cmd.arg(dir.path()).stdout(Stdio::piped());
        if let Some(id) = &doc_id {
            cmd.arg(id);
        }
        let mut child = cmd.spawn().expect("spawn compactor");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let target = rng.gen_range(100..400);
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = 0;
        while seen < target {
            assert!(
                Instant::now() < deadline,
                "compactor too slow in round {round}"
            );
            let line = lines.next().expect("compactor ended early").unwrap();
            if let Some(id) = line.strip_prefix("doc ") {
                doc_id.get_or_insert_with(|| id.to_string());
            } else if let Some(n) = line.strip_prefix("committed ") {
                last_reported = Some(n.parse().unwrap());
                seen += 1;
            } else if line.starts_with("compacted ") {
                compactions += 1;
            }
        }
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();

        let node = open_node(dir.path());
        assert_eq!(node.integrity_check().unwrap(), vec!["ok".to_string()]);
        let id = doc_id.as_ref().unwrap().parse().unwrap();
        let doc = node.document(id).unwrap();
        let items = doc.list("log").unwrap();
        let len = items.len().unwrap() as i64;
        let last = last_reported.unwrap();
        assert!(len > last, "round {round}: reported {last}, {len} survived");
        for i in 0..len as usize {
            assert_eq!(
                items.get(i).unwrap(),
                Some(Value::Int(i as i64)),
                "item {i}"
            );
        }
        // The state rebuilt from the store alone (snapshot operations and what follows).
        assert_eq!(node.replay_json(id).unwrap(), doc.to_json().unwrap());
    }
    assert!(compactions > 0, "compactions ran before the kills");
}
