//! End-to-end encryption and membership (issue 4), exchanging operations in-process with
//! `operations()` / `ingest()`.

use std::path::Path;

use fieldsync::internals::body::{open, seal, BodyScheme};
use fieldsync::internals::operation::{build_operation, encode_operation, LogKind};
use fieldsync::{DocumentError, DocumentId, IngestError, Node};
use fieldsync_tests::{exchange, open_node, open_nodes, share};
use p2panda_core::{Hash, SigningKey};

fn db(dir: &Path) -> rusqlite::Connection {
    fieldsync::internals::store::raw_connection(dir)
}

/// Every stored operation body of a node.
fn stored_bodies(dir: &Path) -> Vec<Vec<u8>> {
    let conn = db(dir);
    let mut stmt = conn
        .prepare(
            "SELECT fs_open('operations.body', body, hash) FROM operations WHERE body IS NOT NULL",
        )
        .unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn signing_key(dir: &Path) -> SigningKey {
    let key: Vec<u8> = db(dir)
        .query_row(
            "SELECT fs_open('meta.value', value, key) FROM meta WHERE key='device_key'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    SigningKey::from_bytes(&key.try_into().unwrap())
}

/// A node's operations of a document, decoded.
fn decode_ops(node: &Node, id: DocumentId) -> Vec<fieldsync::internals::operation::FsOperation> {
    node.operations(id)
        .unwrap()
        .iter()
        .map(|b| {
            fieldsync::internals::operation::decode_operation(b, usize::MAX, u64::MAX).unwrap()
        })
        .collect()
}

fn last_of(
    ops: &[fieldsync::internals::operation::FsOperation],
    author: &fieldsync::AuthorId,
    kind: LogKind,
) -> Option<(u32, Hash)> {
    ops.iter()
        .filter(|o| {
            fieldsync::AuthorId::from(o.header.verifying_key) == *author
                && o.header.extensions.kind == kind
        })
        .map(|o| (o.header.seq_num, o.hash))
        .max_by_key(|(s, _)| *s)
}

#[test]
fn non_member_stores_operations_but_reads_nothing() {
    let (da, dc) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let c = open_node(dc.path());
    let doc = a.create_document().unwrap();
    let secret = "meet at water point 7 at dawn";
    doc.text("notes").unwrap().insert(0, secret).unwrap();
    doc.text("notes")
        .unwrap()
        .push(" -- bring the pump")
        .unwrap();
    exchange(&a, &c, doc.id());

    let doc_c = c.document(doc.id()).unwrap();
    assert_eq!(doc_c.op_count().unwrap(), doc.op_count().unwrap());
    assert_eq!(
        c.operations(doc.id()).unwrap(),
        a.operations(doc.id()).unwrap()
    );
    let json = doc_c.to_json().unwrap();
    assert!(!json.contains("water point"), "non-member read: {json}");
    assert_eq!(c.replay_json(doc.id()).unwrap(), json);
    assert!(!doc_c.can_read().unwrap());
    assert!(doc_c.members().unwrap().is_empty());
    for dir in [da.path(), dc.path()] {
        let bodies = stored_bodies(dir);
        assert!(!bodies.is_empty());
        assert!(bodies.iter().all(|b| !contains(b, b"water point")));
    }
    for op in a.operations(doc.id()).unwrap() {
        assert!(!contains(&op, b"water point"), "plaintext on the wire");
    }
    // It cannot write either: it has no role (checked before the group secret).
    assert!(matches!(
        doc_c.text("notes").unwrap().push("x"),
        Err(DocumentError::NotAllowed(_))
    ));
    // Added later, it reads the whole history from the operations it already stored.
    share(&a, &doc, &c);
    assert!(doc_c.can_read().unwrap());
    assert_eq!(doc_c.to_json().unwrap(), doc.to_json().unwrap());
    assert!(doc_c.to_json().unwrap().contains(secret));
    assert_eq!(c.replay_json(doc.id()).unwrap(), doc.to_json().unwrap());
}

#[test]
fn removed_member_reads_nothing_new_and_the_rest_keep_working() {
    let (dirs, [a, b, c]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    let mut members = vec![a.author(), b.author(), c.author()];
    members.sort();
    assert_eq!(doc.members().unwrap(), members);
    doc.text("t").unwrap().insert(0, "before;").unwrap();
    for n in [&b, &c] {
        exchange(&a, n, id);
    }
    let doc_b = b.document(id).unwrap();
    let doc_c = c.document(id).unwrap();
    assert_eq!(doc_c.text("t").unwrap().get().unwrap(), "before;");

    doc.remove_member(c.author()).unwrap();
    assert!(!doc.members().unwrap().contains(&c.author()));
    doc.text("t").unwrap().push("after-removal;").unwrap();
    for n in [&b, &c] {
        exchange(&a, n, id);
    }
    doc_b.text("t").unwrap().push("b-too;").unwrap();
    exchange(&b, &a, id);
    exchange(&b, &c, id);
    assert_eq!(
        doc.text("t").unwrap().get().unwrap(),
        "before;after-removal;b-too;"
    );
    assert_eq!(doc_b.to_json().unwrap(), doc.to_json().unwrap());
    // c holds every operation but still only sees what was written before its removal.
    assert_eq!(doc_c.op_count().unwrap(), doc.op_count().unwrap());
    assert_eq!(doc_c.text("t").unwrap().get().unwrap(), "before;");
    assert!(!doc_c.can_read().unwrap());
    // Removed: no role any more, so its writes are refused before the group is asked.
    assert!(matches!(
        doc_c.text("t").unwrap().push("c wants in"),
        Err(DocumentError::NotAllowed(_))
    ));
    assert!(matches!(
        doc_c.remove_member(a.author()),
        Err(DocumentError::NotAllowed(_))
    ));
    for body in stored_bodies(dirs[2].path()) {
        assert!(!contains(&body, b"after-removal"));
    }
    // After a restart c still reads nothing new. (A document handle holds its node: both
    // go before the directory can be opened again.)
    drop(doc_c);
    drop(c);
    let c = open_node(dirs[2].path());
    assert_eq!(
        c.document(id).unwrap().to_json().unwrap(),
        "{\"t\":\"before;\"}"
    );
}

#[test]
fn plaintext_sizes_round_trip() {
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let b = open_node(dbb.path());
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    let doc_b = b.document(doc.id()).unwrap();
    // 0 B: an empty insert is no change (no operation); an empty string value is.
    doc.text("t0").unwrap().insert(0, "").unwrap();
    doc.map("m")
        .unwrap()
        .set("empty", fieldsync::Value::from(""))
        .unwrap();
    exchange(&a, &b, doc.id());
    assert_eq!(
        doc_b.map("m").unwrap().get("empty").unwrap(),
        Some(fieldsync::Value::from(""))
    );
    for (i, size) in [1usize, 496, 497, 64 * 1024, 1024 * 1024]
        .into_iter()
        .enumerate()
    {
        let text: String = (0..size).map(|j| (b'a' + (j % 26) as u8) as char).collect();
        let name = format!("t{i}");
        doc.text(&name).unwrap().insert(0, &text).unwrap();
        exchange(&a, &b, doc.id());
        assert_eq!(
            doc_b.text(&name).unwrap().get().unwrap(),
            text,
            "size {size}"
        );
        // The body is ciphertext: the update's text is not in it.
        let ops = decode_ops(&a, doc.id());
        let (_, hash) = last_of(&ops, &a.author(), LogKind::Delta).unwrap();
        let op = ops.iter().find(|o| o.hash == hash).unwrap();
        let body = op.body.as_ref().unwrap().as_bytes();
        assert_eq!(open(body).unwrap().0, BodyScheme::Group);
        if size >= 26 {
            assert!(!contains(body, b"abcdefghijklmnopqrstuvwxyz"));
        }
    }
    assert_eq!(doc_b.to_json().unwrap(), doc.to_json().unwrap());
    assert_eq!(b.replay_json(doc.id()).unwrap(), doc.to_json().unwrap());
}

struct Pair {
    dirs: (tempfile::TempDir, tempfile::TempDir),
    a: Node,
    b: Node,
    id: DocumentId,
}

fn pair() -> Pair {
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(dirs.0.path());
    let b = open_node(dirs.1.path());
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    doc.text("t").unwrap().insert(0, "one;").unwrap();
    exchange(&a, &b, doc.id());
    let id = doc.id();
    Pair { dirs, a, b, id }
}

/// Re-signs `body` as the next operation of `key`'s log of `kind` in `id`.
fn forge(p: &Pair, key: &SigningKey, id: DocumentId, kind: LogKind, body: Vec<u8>) -> Vec<u8> {
    let ops = decode_ops(&p.b, id);
    let prev = last_of(&ops, &fieldsync::AuthorId::from(key.verifying_key()), kind);
    encode_operation(&build_operation(key, id, kind, prev, body))
}

fn last_body(node: &Node, id: DocumentId, kind: LogKind) -> Vec<u8> {
    let ops = decode_ops(node, id);
    let (_, hash) = last_of(&ops, &node.author(), kind).unwrap();
    let op = ops.iter().find(|o| o.hash == hash).unwrap();
    op.body.as_ref().unwrap().as_bytes().to_vec()
}

#[test]
fn tampered_ciphertext_is_rejected_without_poisoning() {
    let p = pair();
    let key_a = signing_key(p.dirs.0.path());
    let mut body = last_body(&p.a, p.id, LogKind::Delta);
    let last = body.len() - 1;
    body[last] ^= 0x01; // inside the Poly1305 tag
                        // Signed by the real author, so only the AEAD can notice.
    let bytes = forge(&p, &key_a, p.id, LogKind::Delta, body.clone());
    assert_rejected_then_healthy_b(&p, &bytes, |e| matches!(e, IngestError::DecryptionFailed));
    // A flipped bit inside the ciphertext proper, by another member.
    let key_b = signing_key(p.dirs.1.path());
    body[last] ^= 0x01;
    body[100] ^= 0x80;
    let bytes = forge(&p, &key_b, p.id, LogKind::Delta, body);
    assert_rejected_then_healthy_b_on_a(&p, &bytes);
}

/// Like [`assert_rejected_then_healthy`] but without the restart probe.
fn assert_rejected_then_healthy_b(p: &Pair, bytes: &[u8], check: impl Fn(&IngestError) -> bool) {
    let before = p.b.operations(p.id).unwrap();
    let err = p.b.ingest(bytes).expect_err("must be rejected");
    assert!(check(&err), "wrong error: {err:?}");
    assert_eq!(p.b.operations(p.id).unwrap(), before, "store changed");
    let doc = p.a.document(p.id).unwrap();
    doc.text("t").unwrap().push("more;").unwrap();
    exchange(&p.a, &p.b, p.id);
    let doc_b = p.b.document(p.id).unwrap();
    assert_eq!(doc_b.to_json().unwrap(), doc.to_json().unwrap());
    doc_b.text("t").unwrap().push("b;").unwrap();
    exchange(&p.b, &p.a, p.id);
    assert_eq!(doc.to_json().unwrap(), doc_b.to_json().unwrap());
}

/// The same, with `a` as the receiver.
fn assert_rejected_then_healthy_b_on_a(p: &Pair, bytes: &[u8]) {
    let before = p.a.operations(p.id).unwrap();
    let err = p.a.ingest(bytes).expect_err("must be rejected");
    assert!(matches!(err, IngestError::DecryptionFailed), "{err:?}");
    assert_eq!(p.a.operations(p.id).unwrap(), before);
    let doc = p.a.document(p.id).unwrap();
    doc.text("t").unwrap().push("again;").unwrap();
    exchange(&p.a, &p.b, p.id);
    assert_eq!(
        p.b.document(p.id).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
}

#[test]
fn op_for_another_group_is_rejected() {
    let p = pair();
    // b is a member of a second document too; its ciphertext is wrapped into the first.
    let other = p.a.create_document().unwrap();
    share(&p.a, &other, &p.b);
    other.text("t").unwrap().insert(0, "other").unwrap();
    let body = last_body(&p.a, other.id(), LogKind::Delta);
    let key_a = signing_key(p.dirs.0.path());
    let bytes = forge(&p, &key_a, p.id, LogKind::Delta, body);
    assert_rejected_then_healthy_b(&p, &bytes, |e| matches!(e, IngestError::WrongGroup));
    // A control message of the other group, too.
    let control = last_body(&p.a, other.id(), LogKind::Control);
    let bytes = forge(&p, &key_a, p.id, LogKind::Control, control);
    assert_rejected_then_healthy_b(&p, &bytes, |e| matches!(e, IngestError::WrongGroup));
}

#[test]
fn replayed_control_message_is_rejected() {
    let p = pair();
    let key_a = signing_key(p.dirs.0.path());
    let key_b = signing_key(p.dirs.1.path());
    // a's "add b" message again, as a new operation of a's control log.
    let control = last_body(&p.a, p.id, LogKind::Control);
    let bytes = forge(&p, &key_a, p.id, LogKind::Control, control.clone());
    assert_rejected_then_healthy_b(&p, &bytes, |e| {
        matches!(e, IngestError::ReplayedControl { .. })
    });
    // The same message replayed by another member: "add" is an admin's change and B is a
    // writer, so it is kept inert (stored so that B's control log still chains, never
    // processed): the group does not change.
    let members_before = p.a.document(p.id).unwrap().members().unwrap();
    let bytes = forge(&p, &key_b, p.id, LogKind::Control, control);
    let out = p.a.ingest(&bytes).unwrap();
    assert!(
        matches!(out, fieldsync::IngestOutcome::Stored { .. }),
        "{out:?}"
    );
    assert_eq!(
        p.a.document(p.id).unwrap().members().unwrap(),
        members_before
    );
    // Replaying the very same operations is idempotent; the one exception is the inert
    // operation forged above with B's key, which B's own store never held.
    let outcomes: Vec<_> =
        p.a.operations(p.id)
            .unwrap()
            .iter()
            .map(|op| p.b.ingest(op).unwrap())
            .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o != fieldsync::IngestOutcome::Duplicate)
            .count(),
        1,
        "{outcomes:?}"
    );
    // That operation is signed with B's key but B never wrote it: B finds its identity in
    // use elsewhere (issue #24) and writes with it no more.
    assert!(p.b.identity_cloned().is_some());
    // Unencrypted bodies are refused for an encrypted document (a fresh pair: the B above
    // no longer writes).
    let p = pair();
    let key_a = signing_key(p.dirs.0.path());
    let plain = seal(BodyScheme::Plain, b"anything");
    let bytes = forge(&p, &key_a, p.id, LogKind::Delta, plain);
    assert_rejected_then_healthy_b(&p, &bytes, |e| matches!(e, IngestError::PlainBodyRejected));
    // Membership changes still work afterwards.
    let doc = p.a.document(p.id).unwrap();
    doc.remove_member(p.b.author()).unwrap();
    doc.text("t").unwrap().push("secret;").unwrap();
    exchange(&p.a, &p.b, p.id);
    assert!(!p
        .b
        .document(p.id)
        .unwrap()
        .to_json()
        .unwrap()
        .contains("secret"));
}

#[test]
fn ops_before_their_key_are_kept_and_applied_later() {
    let (dirs, [a, b, c]) = open_nodes();
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    doc.remove_member(c.author()).unwrap(); // rotates the secret
    doc.text("t").unwrap().insert(0, "new secret").unwrap();
    // b receives the data before the control op carrying the new secret.
    let ops = decode_ops(&a, doc.id());
    let (mut control, delta): (Vec<_>, Vec<_>) = ops
        .into_iter()
        .partition(|o| o.header.extensions.kind == LogKind::Control);
    for op in &delta {
        let out = b.ingest(&encode_operation(op)).unwrap();
        assert!(matches!(out, fieldsync::IngestOutcome::Stored { .. }));
    }
    assert_eq!(b.document(doc.id()).unwrap().to_json().unwrap(), "{}");
    control.sort_by_key(|o| o.header.seq_num);
    // Restart in between: the stored ciphertext waits in the op log.
    drop(b);
    let b = open_node(dirs[1].path());
    let mut applied = false;
    for op in &control {
        if let Ok(fieldsync::IngestOutcome::Applied { .. }) = b.ingest(&encode_operation(op)) {
            applied = true;
        }
    }
    assert!(
        applied,
        "the control op that brought the key applies the data"
    );
    assert_eq!(
        b.document(doc.id()).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
}

/// Snapshot of both replicas: (json of a, json of b, member counts seen by a and b).
type Step = (String, String, Vec<usize>);

fn record(a: &Node, b: &Node, id: DocumentId) -> Step {
    let ja = a.document(id).unwrap().to_json().unwrap();
    let jb = b.document(id).unwrap().to_json().unwrap();
    assert_eq!(a.replay_json(id).unwrap(), ja);
    assert_eq!(b.replay_json(id).unwrap(), jb);
    let members = vec![
        a.document(id).unwrap().members().unwrap().len(),
        b.document(id).unwrap().members().unwrap().len(),
    ];
    (ja, jb, members)
}

/// Closes both nodes and opens them again from disk (when `restart`).
fn bounce(restart: bool, a: &mut Option<Node>, b: &mut Option<Node>, da: &Path, db: &Path) {
    if restart {
        *a = None;
        *b = None;
        *a = Some(open_node(da));
        *b = Some(open_node(db));
    }
}

/// add / edit / remove / edit, optionally restarting both nodes between every step.
fn scenario(restart: bool) -> Vec<Step> {
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (pa, pb) = (da.path(), dbb.path());
    let mut a = Some(open_node(pa));
    let mut b = Some(open_node(pb));
    let id = a.as_ref().unwrap().create_document().unwrap().id();
    let mut out = Vec::new();
    bounce(restart, &mut a, &mut b, pa, pb);
    // add
    {
        let (na, nb) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        share(na, &na.document(id).unwrap(), nb);
    }
    bounce(restart, &mut a, &mut b, pa, pb);
    out.push(record(a.as_ref().unwrap(), b.as_ref().unwrap(), id));
    // edit (both)
    {
        let (na, nb) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        na.document(id)
            .unwrap()
            .text("t")
            .unwrap()
            .insert(0, "a1;")
            .unwrap();
        exchange(na, nb, id);
    }
    bounce(restart, &mut a, &mut b, pa, pb);
    {
        let (na, nb) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        nb.document(id)
            .unwrap()
            .text("t")
            .unwrap()
            .push("b1;")
            .unwrap();
        exchange(nb, na, id);
    }
    bounce(restart, &mut a, &mut b, pa, pb);
    out.push(record(a.as_ref().unwrap(), b.as_ref().unwrap(), id));
    // remove
    {
        let (na, nb) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        na.document(id).unwrap().remove_member(nb.author()).unwrap();
    }
    bounce(restart, &mut a, &mut b, pa, pb);
    exchange(a.as_ref().unwrap(), b.as_ref().unwrap(), id);
    bounce(restart, &mut a, &mut b, pa, pb);
    out.push(record(a.as_ref().unwrap(), b.as_ref().unwrap(), id));
    // edit (a only: b can no longer write)
    {
        let na = a.as_ref().unwrap();
        na.document(id)
            .unwrap()
            .text("t")
            .unwrap()
            .push("a2;")
            .unwrap();
    }
    bounce(restart, &mut a, &mut b, pa, pb);
    exchange(a.as_ref().unwrap(), b.as_ref().unwrap(), id);
    bounce(restart, &mut a, &mut b, pa, pb);
    {
        let nb = b.as_ref().unwrap();
        // Removed: no role any more.
        assert!(matches!(
            nb.document(id).unwrap().text("t").unwrap().push("b2;"),
            Err(DocumentError::NotAllowed(_))
        ));
    }
    out.push(record(a.as_ref().unwrap(), b.as_ref().unwrap(), id));
    out
}

#[test]
fn restart_between_every_step_gives_the_same_results() {
    let plain = scenario(false);
    let restarted = scenario(true);
    assert_eq!(plain, restarted);
    let last = plain.last().unwrap();
    assert_eq!(last.0, "{\"t\":\"a1;b1;a2;\"}");
    assert_eq!(last.1, "{\"t\":\"a1;b1;\"}");
    assert_eq!(last.2, vec![1, 1]);
}

#[test]
fn typed_errors_for_membership_misuse() {
    let p = pair();
    let doc = p.a.document(p.id).unwrap();
    assert!(matches!(
        doc.add_member(b"garbage"),
        Err(DocumentError::Encryption(_))
    ));
    // Adding a member again changes nothing (each step is skipped when done: a call that
    // failed half-way can be repeated).
    let before = doc.op_count().unwrap();
    doc.add_member(&p.b.key_bundle().unwrap()).unwrap();
    assert_eq!(doc.op_count().unwrap(), before);
    // Key bundles announced in the control log let a member add a device by id.
    let dc = tempfile::tempdir().unwrap();
    let c = open_node(dc.path());
    exchange(&p.a, &c, p.id);
    let doc_c = c.document(p.id).unwrap();
    doc_c.announce_key_bundle().unwrap();
    exchange(&c, &p.a, p.id);
    doc.add_announced_member(c.author()).unwrap();
    exchange(&p.a, &c, p.id);
    assert!(doc_c.can_read().unwrap());
    assert_eq!(doc_c.to_json().unwrap(), doc.to_json().unwrap());
}
