//! Direct device-to-device messages (2SM ratchet sessions) and joining by invite, without a
//! network: envelopes are carried by hand, so every fault can be injected precisely.

use fieldsync::internals::direct::Envelope;
use fieldsync::DirectError;
use fieldsync::DirectPayload as Payload;
use fieldsync::{Invite, Node};
use fieldsync_tests::{exchange, json_of, open_node, open_nodes};

fn reopen(dir: &std::path::Path, node: Node) -> Node {
    drop(node);
    open_node(dir)
}

/// B joins A's document with an invite only: the join request travels as a direct message.
fn join_by_invite(a: &Node, b: &Node, doc: &fieldsync::Document) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let invite = rt.block_on(doc.invite()).unwrap();
    rt.block_on(b.join(&invite)).unwrap();
    let queued = b.pending_direct(a.author()).unwrap();
    assert_eq!(queued.len(), 1, "one join request queued");
    let received = a.receive_direct(&queued[0]).unwrap();
    assert_eq!(received.from, b.author());
    assert!(matches!(received.payload, Payload::JoinRequest { .. }));
    assert_eq!(received.admitted, Some(doc.id()));
    b.acknowledge_direct(a.author(), received.counter).unwrap();
    exchange(a, b, doc.id());
}

#[test]
fn an_invite_carries_what_joining_needs_and_the_joiner_reads_after_admission() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open_node(da.path()), open_node(db.path()));
    let doc = a.create_document().unwrap();
    doc.text("t").unwrap().insert(0, "water point 7").unwrap();
    join_by_invite(&a, &b, &doc);
    assert_eq!(json_of(&b, doc.id()), doc.to_json().unwrap());
    assert!(doc.members().unwrap().contains(&b.author()));
    // A second join request with the same invite changes nothing.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let invite = rt.block_on(doc.invite()).unwrap();
    let before = doc.op_count().unwrap();
    rt.block_on(b.join(&invite)).unwrap();
    // B already reads the document, so it does not ask again.
    assert!(b.pending_direct(a.author()).unwrap().is_empty());
    assert_eq!(doc.op_count().unwrap(), before);
}

#[test]
fn forged_or_revoked_invite_tokens_are_refused() {
    let (da, db, dc) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, b, c) = (
        open_node(da.path()),
        open_node(db.path()),
        open_node(dc.path()),
    );
    let doc = a.create_document().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut invite = Invite::parse(&rt.block_on(doc.invite()).unwrap()).unwrap();
    invite.token = Some(vec![0xAB; fieldsync::internals::direct::TOKEN_LEN]);
    rt.block_on(b.join(&invite.encode())).unwrap();
    let env = b.pending_direct(a.author()).unwrap().remove(0);
    assert!(matches!(
        a.receive_direct(&env),
        Err(DirectError::UnknownInvite(id)) if id == doc.id()
    ));
    assert!(!doc.members().unwrap().contains(&b.author()));
    // The refused request was consumed: it is not opened twice, and B's next message is not
    // blocked behind it.
    assert!(matches!(
        a.receive_direct(&env),
        Err(DirectError::Replayed { counter: 1, .. })
    ));
    b.acknowledge_direct(a.author(), 1).unwrap();
    b.send_direct(a.author(), b"still talking").unwrap();
    let next = b.pending_direct(a.author()).unwrap().remove(0);
    assert_eq!(
        a.receive_direct(&next).unwrap().payload,
        Payload::App(b"still talking".to_vec())
    );

    let real = rt.block_on(doc.invite()).unwrap();
    assert!(a.revoke_invites(doc.id()).unwrap() >= 1);
    rt.block_on(c.join(&real)).unwrap();
    let env = c.pending_direct(a.author()).unwrap().remove(0);
    assert!(matches!(
        a.receive_direct(&env),
        Err(DirectError::InviteRevoked(_))
    ));
    assert!(!doc.members().unwrap().contains(&c.author()));
}

#[test]
fn tampered_replayed_misaddressed_and_rewrapped_messages_are_refused_without_harm() {
    let (_dirs, [a, b, m]) = open_nodes();
    let doc = a.create_document().unwrap();
    join_by_invite(&a, &b, &doc);
    // B now holds A's key bundle (from the invite); A holds B's (from the join request).
    b.send_direct(a.author(), b"first").unwrap();
    b.send_direct(a.author(), b"second").unwrap();
    let queued = b.pending_direct(a.author()).unwrap();
    assert_eq!(queued.len(), 2, "the join request was acknowledged");
    let (first, second) = (&queued[0], &queued[1]);

    // Out of order: the second cannot be opened before the first.
    assert!(matches!(
        a.receive_direct(second),
        Err(DirectError::OutOfOrder {
            counter: 3,
            expected: 2,
            ..
        })
    ));
    // Every single-bit flip is refused (signature, structure or decryption).
    for i in (0..first.len()).step_by(7) {
        let mut t = first.clone();
        t[i] ^= 0x10;
        assert!(a.receive_direct(&t).is_err(), "flip at byte {i} accepted");
    }
    // Addressed to another device.
    assert!(matches!(
        m.receive_direct(first),
        Err(DirectError::NotForUs(to)) if to == a.author()
    ));
    // M re-wraps B's ciphertext in an envelope signed by M: the content names B.
    let env = Envelope::open(first).unwrap();
    let m_key = p2panda_core::SigningKey::from_bytes(&[7; 32]);
    let forged = Envelope {
        from: fieldsync::AuthorId::from(m_key.verifying_key()),
        counter: 1,
        ..env
    }
    .seal(&m_key);
    assert!(matches!(
        a.receive_direct(&forged),
        Err(DirectError::Misbound | DirectError::Decryption(_))
    ));
    // Garbage.
    assert!(matches!(
        a.receive_direct(b"not cbor"),
        Err(DirectError::Malformed(_))
    ));

    // None of that poisoned the session: both open in order, then a replay is refused.
    let r1 = a.receive_direct(first).unwrap();
    assert_eq!(r1.payload, Payload::App(b"first".to_vec()));
    let r2 = a.receive_direct(second).unwrap();
    assert_eq!(r2.payload, Payload::App(b"second".to_vec()));
    assert!(matches!(
        a.receive_direct(first),
        Err(DirectError::Replayed {
            counter: 2,
            last: 3,
            ..
        })
    ));
    // Self-addressed sends and unknown peers are typed errors.
    assert!(matches!(
        a.send_direct(a.author(), b"me"),
        Err(DirectError::NotForUs(_))
    ));
    assert!(matches!(
        a.send_direct(m.author(), b"who?"),
        Err(DirectError::NoKeyBundle(_))
    ));
}

#[test]
fn sessions_ratchet_across_restarts_in_both_directions() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, mut b) = (open_node(da.path()), open_node(db.path()));
    let doc = a.create_document().unwrap();
    join_by_invite(&a, &b, &doc);
    drop(doc);
    for round in 0..6u8 {
        // Alternate directions, several messages in flight, restart both between steps.
        let (from, to) = if round % 2 == 0 { (&b, &a) } else { (&a, &b) };
        for k in 0..=round % 3 {
            from.send_direct(to.author(), &[round, k]).unwrap();
        }
        a = reopen(da.path(), a);
        b = reopen(db.path(), b);
        let (from, to) = if round % 2 == 0 { (&b, &a) } else { (&a, &b) };
        let queued = from.pending_direct(to.author()).unwrap();
        assert_eq!(queued.len(), usize::from(round % 3) + 1);
        for (k, env) in queued.iter().enumerate() {
            let got = to.receive_direct(env).unwrap();
            assert_eq!(got.payload, Payload::App(vec![round, k as u8]));
            from.acknowledge_direct(to.author(), got.counter).unwrap();
        }
        a = reopen(da.path(), a);
        b = reopen(db.path(), b);
    }
    assert!(a.pending_direct(b.author()).unwrap().is_empty());
    assert!(b.pending_direct(a.author()).unwrap().is_empty());
}
