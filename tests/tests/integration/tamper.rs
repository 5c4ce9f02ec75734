//! Hostile input: every kind of bad operation is rejected with its own typed error and
//! leaves the store unchanged.

use fieldsync::internals::body::{seal, BodyScheme};
use fieldsync::internals::crypto::DeviceKeys;
use fieldsync::internals::operation::{
    build_operation, decode_operation, decode_wire, encode_operation, encode_wire, LogKind,
};
use fieldsync::{AuthorId, DocumentId, IngestError, Node, NodeConfig, Role};
use fieldsync_tests::{json_of, open_plain_node};
use p2panda_core::SigningKey;

/// A Loro update authored by the Loro peer derived from `key`.
fn loro_update(key: &SigningKey, text: &str) -> Vec<u8> {
    let doc = loro::LoroDoc::new();
    doc.set_peer_id(AuthorId::from(key.verifying_key()).loro_peer_id())
        .unwrap();
    doc.get_text("t").insert(0, text).unwrap();
    doc.commit();
    doc.export(loro::ExportMode::all_updates()).unwrap()
}

#[derive(Debug, PartialEq)]
struct Fingerprint {
    docs: Vec<DocumentId>,
    per_doc: Vec<(u64, String, Vec<u8>)>,
}

fn fingerprint(node: &Node) -> Fingerprint {
    let docs = node.documents().unwrap();
    let per_doc = docs
        .iter()
        .map(|d| {
            let doc = node.document(*d).unwrap();
            (
                doc.op_count().unwrap(),
                doc.to_json().unwrap(),
                doc.version().unwrap().to_bytes(),
            )
        })
        .collect();
    Fingerprint { docs, per_doc }
}

struct Setup {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    a: Node,
    b: Node,
    doc: DocumentId,
    /// A's two document updates (delta log), in order; B holds the first.
    ops: Vec<Vec<u8>>,
}

/// The log kind of an encoded operation.
fn kind_of(bytes: &[u8]) -> LogKind {
    decode_operation(bytes, usize::MAX, u64::MAX)
        .unwrap()
        .header
        .extensions
        .kind
}

/// The operations `node` holds of `doc` in logs of `kind`: control (the genesis auth
/// operation, role grants) or delta (document updates).
fn ops_of(node: &Node, doc: DocumentId, kind: LogKind) -> Vec<Vec<u8>> {
    let ops = node.operations(doc).unwrap();
    ops.into_iter().filter(|op| kind_of(op) == kind).collect()
}

/// Gives the bare signing key `key` the writer role in the setup's document (A is its
/// admin) and delivers A's control log to B, so B checks `key`'s operations for what the
/// test targets instead of quarantining them as coming from an author without a role.
fn grant_writer(s: &Setup, key: &SigningKey) {
    let bundle = DeviceKeys::generate(key.verifying_key())
        .unwrap()
        .key_bundle()
        .unwrap()
        .to_bytes()
        .unwrap();
    s.a.document(s.doc)
        .unwrap()
        .add_member_as(&bundle, Role::Writer)
        .unwrap();
    for op in ops_of(&s.a, s.doc, LogKind::Control) {
        s.b.ingest(&op).unwrap();
    }
    assert_eq!(
        s.b.document(s.doc).unwrap().roles().unwrap(),
        s.a.document(s.doc).unwrap().roles().unwrap(),
        "B holds A's roles"
    );
}

/// A writes two ops; B holds the first one (and the document's genesis auth operation,
/// which every document now starts with in its control log).
fn setup() -> Setup {
    let da = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    // Plain nodes: these tests build unencrypted operations by hand and target the log
    // checks; the encrypted equivalents live in encryption.rs.
    let a = open_plain_node(da.path());
    let mut cfg = NodeConfig::new(db.path());
    cfg.encrypt = false;
    cfg.max_body_bytes = 64 * 1024;
    cfg.max_operation_bytes = 80 * 1024;
    let b = Node::open(cfg).unwrap();
    let doc = a.create_document().unwrap();
    doc.text("t").unwrap().insert(0, "hello").unwrap();
    doc.text("t").unwrap().insert(5, " world").unwrap();
    for op in ops_of(&a, doc.id(), LogKind::Control) {
        b.ingest(&op).unwrap();
    }
    let ops = ops_of(&a, doc.id(), LogKind::Delta);
    assert_eq!(ops.len(), 2);
    b.ingest(&ops[0]).unwrap();
    Setup {
        _dirs: (da, db),
        a,
        b,
        doc: doc.id(),
        ops,
    }
}

fn assert_rejected(s: &Setup, bytes: &[u8], check: impl Fn(&IngestError) -> bool) {
    let before = fingerprint(&s.b);
    let parked = s.b.parked_count().unwrap();
    let err = s.b.ingest(bytes).expect_err("must be rejected");
    eprintln!("rejected {} bytes: {err}", bytes.len());
    assert!(check(&err), "wrong error kind: {err:?}");
    assert_eq!(fingerprint(&s.b), before, "store changed after {err:?}");
    assert_eq!(s.b.parked_count().unwrap(), parked, "{err:?} must not park");
}

#[test]
fn tampered_signature() {
    let s = setup();
    let (mut header, body) = decode_wire(&s.ops[1]).unwrap();
    header[40] ^= 0x01; // inside the 64-byte signature
    assert_rejected(&s, &encode_wire(&header, body.as_deref()), |e| {
        matches!(e, IngestError::InvalidSignature)
    });
    // A valid signature over a header whose author key was swapped does not verify either.
    let (mut header, body) = decode_wire(&s.ops[1]).unwrap();
    header[10] ^= 0x01; // inside the verifying key
    assert_rejected(&s, &encode_wire(&header, body.as_deref()), |e| {
        matches!(
            e,
            IngestError::InvalidSignature | IngestError::MalformedHeader(_)
        )
    });
}

#[test]
fn wrong_payload_hash() {
    let s = setup();
    let (header, body) = decode_wire(&s.ops[1]).unwrap();
    let mut body = body.unwrap();
    let last = body.len() - 1;
    body[last] ^= 0xff;
    assert_rejected(&s, &encode_wire(&header, Some(&body)), |e| {
        matches!(e, IngestError::PayloadHashMismatch)
    });
}

#[test]
fn truncated_and_garbage_cbor() {
    let s = setup();
    let op = &s.ops[1];
    for cut in [0, 1, 5, op.len() / 2, op.len() - 1] {
        assert_rejected(&s, &op[..cut], |e| matches!(e, IngestError::Malformed(_)));
    }
    assert_rejected(&s, b"\xff\x00garbage", |e| {
        matches!(e, IngestError::Malformed(_))
    });
    // Trailing bytes after a valid envelope.
    let mut trailing = op.clone();
    trailing.push(0);
    assert_rejected(&s, &trailing, |e| matches!(e, IngestError::Malformed(_)));
    // A well-formed envelope around a garbage header.
    assert_rejected(&s, &encode_wire(b"\x83\x01\x02", Some(b"x")), |e| {
        matches!(e, IngestError::MalformedHeader(_))
    });
    // Deeply nested CBOR is refused without recursion blow-up.
    let nested = vec![0x81u8; 60_000];
    assert_rejected(&s, &nested, |e| matches!(e, IngestError::Malformed(_)));
}

#[test]
fn seq_gap_is_parked_not_applied() {
    let s = setup();
    let doc = s.a.document(s.doc).unwrap();
    doc.text("t").unwrap().insert(0, ">").unwrap();
    // A's three updates (its control log, which B holds, comes first in `operations`).
    let ops = ops_of(&s.a, s.doc, LogKind::Delta);
    assert_eq!(ops.len(), 3);
    let before = fingerprint(&s.b);
    let err = s.b.ingest(&ops[2]).unwrap_err();
    assert!(matches!(
        err,
        IngestError::SeqGap {
            expected: 1,
            got: 2,
            ..
        }
    ));
    assert_eq!(
        fingerprint(&s.b),
        before,
        "a gap must not change the op log"
    );
    assert_eq!(s.b.parked_count().unwrap(), 1);
    s.b.ingest(&ops[1]).unwrap();
    assert_eq!(
        s.b.document(s.doc).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
}

/// ForkDetected events seen on `events` since the last call, as (author, seq).
fn forks_reported(events: &mut fieldsync::EventStream) -> Vec<(AuthorId, u32)> {
    std::iter::from_fn(|| events.try_next())
        .filter_map(|e| match e {
            fieldsync::Event::ForkDetected { author, seq, .. } => Some((author, seq)),
            _ => None,
        })
        .collect()
}

/// The operations of `key`'s delta log held by `node`.
fn held_of(node: &Node, doc: DocumentId, key: &SigningKey) -> usize {
    ops_of(node, doc, LogKind::Delta)
        .iter()
        .filter(|op| {
            decode_operation(op, usize::MAX, u64::MAX)
                .unwrap()
                .header
                .verifying_key
                == key.verifying_key()
        })
        .count()
}

#[test]
fn forked_log_and_backlink_mismatch() {
    let s = setup();
    let key = SigningKey::generate();
    // A writer's log: an author without a role would be quarantined before the log checks.
    grant_writer(&s, &key);
    let loro = loro::LoroDoc::new();
    loro.set_peer_id(AuthorId::from(key.verifying_key()).loro_peer_id())
        .unwrap();
    let update = |text: &str| {
        let before = loro.oplog_vv();
        let len = loro.get_text("k").len_unicode();
        loro.get_text("k").insert(len, text).unwrap();
        loro.commit();
        seal(
            BodyScheme::Plain,
            &loro.export(loro::ExportMode::updates(&before)).unwrap(),
        )
    };
    let op0 = build_operation(&key, s.doc, LogKind::Delta, None, update("x"));
    let op1 = build_operation(
        &key,
        s.doc,
        LogKind::Delta,
        Some((0, op0.hash)),
        update("z"),
    );
    let fork0 = build_operation(
        &key,
        s.doc,
        LogKind::Delta,
        None,
        seal(BodyScheme::Plain, &loro_update(&key, "y")),
    );
    s.b.ingest(&encode_operation(&op0)).unwrap();
    s.b.ingest(&encode_operation(&op1)).unwrap();
    assert!(json_of(&s.b, s.doc).contains("xz"));
    let author = AuthorId::from(key.verifying_key());
    let mut events = s.b.subscribe();
    let err = s.b.ingest(&encode_operation(&fork0)).unwrap_err();
    assert!(
        matches!(err, IngestError::ForkedLog { seq: 0, author: a } if a == author),
        "{err:?}"
    );
    // The equivocation is kept as evidence (both signed headers) and reported once.
    let evidence = s.b.forks(s.doc).unwrap();
    assert_eq!(evidence.len(), 1);
    let fork = &evidence[0];
    assert_eq!(
        (fork.author, fork.seq, fork.kind),
        (author, 0, fieldsync::LogKind::Delta)
    );
    assert_eq!(fork.kept, op0.header.encode());
    assert_eq!(fork.refused, fork0.header.encode());
    assert_eq!(forks_reported(&mut events), vec![(author, 0)]);
    // The log is frozen at seq 0 on this replica, as on every replica that learns of the
    // fork: the branch it held is gone too, and the document shows what remains.
    assert_eq!(held_of(&s.b, s.doc, &key), 0);
    let json = json_of(&s.b, s.doc);
    assert!(!json.contains('x') && !json.contains('y'), "{json}");
    assert!(json.contains("hello"), "{json}");
    // Either branch again, or a successor: refused, nothing changes, no new report.
    for op in [&fork0, &op0, &op1] {
        assert_rejected(&s, &encode_operation(op), |e| {
            matches!(e, IngestError::FrozenLog { forked_at: 0, .. })
        });
    }
    assert_eq!(s.b.forks(s.doc).unwrap().len(), 1);
    assert!(forks_reported(&mut events).is_empty());

    // A second writer whose seq 1 is chained to another seq 0 than the one held: a fork
    // at 0 proven by a backlink. Here: first a fork at seq 1 (same shape one step later),
    // then the proof of a fork at 0 lowers the freeze.
    let key2 = SigningKey::generate();
    grant_writer(&s, &key2);
    let author2 = AuthorId::from(key2.verifying_key());
    let body = |t: &str| seal(BodyScheme::Plain, &loro_update(&key2, t));
    let k0 = build_operation(&key2, s.doc, LogKind::Delta, None, body("a"));
    let k1 = build_operation(&key2, s.doc, LogKind::Delta, Some((0, k0.hash)), body("b"));
    let other1 = build_operation(&key2, s.doc, LogKind::Delta, Some((0, k0.hash)), body("c"));
    let on_other1 = build_operation(
        &key2,
        s.doc,
        LogKind::Delta,
        Some((1, other1.hash)),
        body("d"),
    );
    s.b.ingest(&encode_operation(&k0)).unwrap();
    s.b.ingest(&encode_operation(&k1)).unwrap();
    let err = s.b.ingest(&encode_operation(&on_other1)).unwrap_err();
    assert!(
        matches!(err, IngestError::BacklinkMismatch { seq: 2, .. }),
        "{err:?}"
    );
    assert_eq!(forks_reported(&mut events), vec![(author2, 1)]);
    assert_eq!(
        held_of(&s.b, s.doc, &key2),
        1,
        "seq 0 stays, seq 1 is removed"
    );
    let other0 = build_operation(&key2, s.doc, LogKind::Delta, None, body("e"));
    let err = s.b.ingest(&encode_operation(&other0)).unwrap_err();
    assert!(
        matches!(err, IngestError::ForkedLog { seq: 0, .. }),
        "{err:?}"
    );
    assert_eq!(forks_reported(&mut events), vec![(author2, 0)]);
    assert_eq!(held_of(&s.b, s.doc, &key2), 0);
    let lowered = s.b.forks(s.doc).unwrap();
    assert_eq!(lowered.len(), 2);
    assert!(lowered.iter().any(|f| f.author == author2 && f.seq == 0));
    // The evidence and the freeze survive a restart.
    drop(events);
    let Setup { _dirs, b, doc, .. } = s;
    drop(b);
    let b = open_plain_node(_dirs.1.path());
    assert_eq!(b.forks(doc).unwrap().len(), 2);
    let err = b.ingest(&encode_operation(&k0)).unwrap_err();
    assert!(
        matches!(err, IngestError::FrozenLog { forked_at: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn oversize_payload_and_operation() {
    let s = setup();
    let key = SigningKey::generate();
    let big = "x".repeat(70 * 1024);
    let op = build_operation(
        &key,
        s.doc,
        LogKind::Delta,
        None,
        seal(BodyScheme::Plain, &loro_update(&key, &big)),
    );
    assert_rejected(&s, &encode_operation(&op), |e| {
        matches!(e, IngestError::PayloadTooLarge { .. })
    });
    let huge = vec![0u8; 100 * 1024];
    assert_rejected(&s, &huge, |e| {
        matches!(e, IngestError::OversizeOperation { .. })
    });
}

#[test]
fn invalid_or_impersonating_updates() {
    let s = setup();
    let key = SigningKey::generate();
    // Mallory is a writer, so B checks the update itself (an author without a role would be
    // quarantined before that).
    grant_writer(&s, &key);
    let garbage = build_operation(
        &key,
        s.doc,
        LogKind::Delta,
        None,
        seal(BodyScheme::Plain, b"not a loro update"),
    );
    assert_rejected(&s, &encode_operation(&garbage), |e| {
        matches!(e, IngestError::InvalidUpdate(_))
    });
    // Mallory signs an update that claims to be written by another Loro peer.
    let victim = SigningKey::generate();
    let forged = build_operation(
        &key,
        s.doc,
        LogKind::Delta,
        None,
        seal(BodyScheme::Plain, &loro_update(&victim, "fake")),
    );
    assert_rejected(&s, &encode_operation(&forged), |e| {
        matches!(e, IngestError::InvalidUpdate(_))
    });
    let unknown_scheme = build_operation(&key, s.doc, LogKind::Delta, None, vec![9, 1, 2]);
    assert_rejected(&s, &encode_operation(&unknown_scheme), |e| {
        matches!(e, IngestError::InvalidUpdate(_))
    });
    // Good ops keep flowing after all of that.
    s.b.ingest(&s.ops[1]).unwrap();
    assert_eq!(
        s.b.document(s.doc).unwrap().to_json().unwrap(),
        s.a.document(s.doc).unwrap().to_json().unwrap()
    );
}
