//! End-to-end encryption over real QUIC sync: members read, non-members relay ciphertext,
//! removed members read nothing new, large plaintexts travel through catch-up.

use std::time::Duration;

use fieldsync::Value;
use fieldsync_tests::{go_online, json_of, open_node, open_nodes, wait_until};

const T: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_read_non_members_relay_and_removed_members_read_nothing_new() {
    let (dirs, [a, b, c]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.text("t")
        .unwrap()
        .insert(0, "secret site coordinates")
        .unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    // C is a relay: it syncs the document (roles name it) but holds no group secret.
    doc.add_relay(c.author()).unwrap();
    // 1 MiB and 497 B plaintexts: beyond gossip size, they travel by catch-up.
    doc.map("m")
        .unwrap()
        .set("big", Value::from("x".repeat(1 << 20)))
        .unwrap();
    doc.map("m")
        .unwrap()
        .set("edge", Value::from("y".repeat(497)))
        .unwrap();
    go_online(&a).await;
    go_online(&b).await;
    go_online(&c).await;
    let invite = doc.invite().await.unwrap();
    b.join(&invite).await.unwrap();
    // C learns where the document is from an invite stripped of its key bundle and token
    // (it does not ask to be admitted: it already is a relay).
    let mut bare = fieldsync::Invite::parse(&invite).unwrap();
    bare.key_bundle = None;
    bare.token = None;
    c.join(&bare.encode()).await.unwrap();
    wait_until("B (member) reads the document", T, || {
        json_of(&b, id) == doc.to_json().unwrap()
    })
    .await;
    wait_until("C (relay) stores the operations", T, || {
        c.document(id).and_then(|d| Ok(d.op_count()?)).unwrap_or(0) == doc.op_count().unwrap()
    })
    .await;
    let c_json = json_of(&c, id);
    assert!(
        !c_json.contains("secret"),
        "non-member must not read: {c_json}"
    );
    // The database and its WAL (checkpoints run in the background, so either may hold the
    // newest pages), after both save their snapshots. The plaintext's distinctive part:
    // "secret" alone also occurs in every node's own key material (the `identity_secret`
    // field of its device keys). Nothing is plaintext at rest (issue #24), so the control
    // is the member B's snapshot opened with its key: it holds the text.
    let in_snapshot = |dir: &std::path::Path| {
        let conn = fieldsync::internals::store::raw_connection(dir);
        let mut stmt = conn
            .prepare("SELECT fs_open('snapshots.snapshot', snapshot, document) FROM snapshots")
            .unwrap();
        let found = stmt
            .query_map([], |r| r.get::<_, Vec<u8>>(0))
            .unwrap()
            .map(Result::unwrap)
            .any(|s| s.windows(16).any(|w| w == b"site coordinates"));
        found
    };
    let on_disk = |dir: &std::path::Path| {
        [
            fieldsync::internals::store::DB_FILE.to_string(),
            format!("{}-wal", fieldsync::internals::store::DB_FILE),
        ]
        .iter()
        .flat_map(|f| std::fs::read(dir.join(f)).unwrap_or_default())
        .collect::<Vec<u8>>()
        .windows(16)
        .any(|w| w == b"site coordinates")
    };
    b.flush().unwrap();
    c.flush().unwrap();
    assert!(
        in_snapshot(dirs[1].path()),
        "control: the member stores the text"
    );
    assert!(
        !on_disk(dirs[1].path()),
        "the member's disk holds it sealed only"
    );
    assert!(
        !on_disk(dirs[2].path()),
        "plaintext must not reach the non-member's disk"
    );

    // Remove B: nobody syncs with it any more, and A's next edit, relayed by C, is
    // unreadable for B even when its ciphertext reaches B by other means.
    doc.remove_member(b.author()).unwrap();
    doc.text("t").unwrap().insert(0, "after removal: ").unwrap();
    wait_until("C relays A's post-removal edit", T, || {
        c.document(id).and_then(|d| Ok(d.op_count()?)).unwrap_or(0) == doc.op_count().unwrap()
    })
    .await;
    for op in c.operations(id).unwrap() {
        let _ = b.ingest(&op);
    }
    assert_eq!(
        b.document(id).unwrap().op_count().unwrap(),
        doc.op_count().unwrap(),
        "B holds the ciphertext of A's post-removal edit"
    );
    assert!(
        !json_of(&b, id).contains("after removal"),
        "removed member must not read new edits"
    );
    assert!(
        json_of(&b, id).contains("secret site"),
        "B keeps what it could read before"
    );
}

/// Joining an encrypted document needs nothing but the invite: the joiner's node sends a
/// join request over a direct ratchet session, the inviter's node admits it, and the group
/// welcome syncs back. No key bundle is moved by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_alone_lets_a_device_join_an_encrypted_document() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open_node(da.path()), open_node(db.path()));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.text("t").unwrap().insert(0, "field notes").unwrap();
    let mut a_events = a.subscribe();
    go_online(&a).await;
    go_online(&b).await;
    let invite = doc.invite().await.unwrap();
    assert!(
        fieldsync::Invite::parse(&invite).unwrap().token.is_some(),
        "an encrypted document's invite carries a join token"
    );
    let doc_b = b.join(&invite).await.unwrap();
    wait_until("B is admitted and reads the document", T, || {
        json_of(&b, id) == doc.to_json().unwrap()
    })
    .await;
    assert!(doc.members().unwrap().contains(&b.author()));
    assert_eq!(
        b.join_state(id).unwrap(),
        None,
        "admitted: no request waits"
    );
    let joined = tokio::time::timeout(T, async {
        loop {
            match a_events.next().await {
                Some(fieldsync::Event::MemberJoined { document, member }) => {
                    break (document, member)
                }
                Some(_) => continue,
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .expect("A reports MemberJoined");
    assert_eq!(joined, (id, b.author()));
    // B writes; A reads it.
    doc_b.text("t").unwrap().insert(0, "B: ").unwrap();
    wait_until("A reads B's edit", T, || {
        doc.to_json().unwrap() == doc_b.to_json().unwrap()
    })
    .await;
    // An app-level direct message both ways.
    let mut b_events = b.subscribe();
    a.send_direct(b.author(), b"ping").unwrap();
    let got = tokio::time::timeout(T, async {
        loop {
            if let Some(fieldsync::Event::DirectMessage { from, payload }) = b_events.next().await {
                break (from, payload);
            }
        }
    })
    .await
    .expect("B receives A's direct message");
    assert_eq!(got, (a.author(), b"ping".to_vec()));
    wait_until("A's outbox of direct messages drains", T, || {
        a.pending_direct(b.author()).unwrap().is_empty()
    })
    .await;
}

/// Waits for a `JoinRefused` event on `events`.
async fn join_refused(
    events: &mut fieldsync::EventStream,
) -> (
    fieldsync::DocumentId,
    fieldsync::AuthorId,
    fieldsync::AuthorId,
    fieldsync::JoinRefusal,
) {
    tokio::time::timeout(T, async {
        loop {
            match events.next().await {
                Some(fieldsync::Event::JoinRefused {
                    document,
                    requester,
                    inviter,
                    reason,
                }) => break (document, requester, inviter, reason),
                Some(_) => continue,
                None => panic!("event stream ended"),
            }
        }
    })
    .await
    .expect("a JoinRefused event")
}

/// A join request the inviter refuses is reported on both devices with the same reason,
/// and the joiner's status says so; before it reaches the inviter, the joiner's status says
/// it is waiting for admission by the inviter since the join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_join_is_reported_on_both_devices_and_in_the_joiners_status() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open_node(da.path()), open_node(db.path()));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    go_online(&a).await;
    let invite = doc.invite().await.unwrap();
    assert_eq!(a.revoke_invites(id).unwrap(), 1);
    let mut a_events = a.subscribe();
    let mut b_events = b.subscribe();

    // B joins while offline: the request waits in its outbox.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    b.join(&invite).await.unwrap();
    let waiting = b
        .join_state(id)
        .unwrap()
        .expect("a join request is recorded");
    assert_eq!(waiting.inviter, a.author());
    assert!(!waiting.delivered && waiting.refused.is_none());
    assert!(waiting.requested_at_ms >= before, "{waiting:?}");
    assert!(waiting.to_string().starts_with("waiting for admission by "));

    go_online(&b).await;
    let on_a = join_refused(&mut a_events).await;
    let on_b = join_refused(&mut b_events).await;
    let expected = (id, b.author(), a.author(), fieldsync::JoinRefusal::Revoked);
    assert_eq!(on_a, expected, "the inviter reports the refusal");
    assert_eq!(on_b, expected, "the joiner learns the inviter's reason");
    let status = b.sync_status(id).await.unwrap();
    let join = status.join.expect("the status keeps the refusal");
    assert_eq!(join.refused, Some(fieldsync::JoinRefusal::Revoked));
    assert!(join.delivered);
    assert!(
        join.to_string().contains("revoked"),
        "{join}: the reason is readable"
    );
    assert!(!b.document(id).unwrap().can_read().unwrap());
    // The inviter's own status has no join request.
    assert!(a.sync_status(id).await.unwrap().join.is_none());
}
