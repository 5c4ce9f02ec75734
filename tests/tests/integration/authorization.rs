//! Roles and the attacks they stop (issue #22): each test is an attack that worked before
//! roles existed and must fail for the attacker now.

use fieldsync::internals::crypto::{DeviceKeys, DocumentGroup, GroupId};
use fieldsync::internals::membership::CONTROL_GROUP_MESSAGE;
use fieldsync::internals::operation::{build_operation, encode_operation, LogKind};
use fieldsync::{AuthError, DocumentError, IngestError, Node, NodeConfig, Role};
use fieldsync_tests::{exchange, json_of, open_nodes, share};
use p2panda_core::SigningKey;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn not_allowed<T: std::fmt::Debug>(r: Result<T, DocumentError>) -> bool {
    matches!(
        r,
        Err(DocumentError::NotAllowed(AuthError::NotAllowed { .. }))
    )
}

/// A member who joined a minute ago cannot remove the creator (or anyone), add devices or
/// change roles: only admins can, and the creator is the first.
#[test]
fn a_fresh_writer_cannot_remove_the_creator() {
    let (_dirs, [a, b, c]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    let doc_b = b.document(id).unwrap();
    assert_eq!(doc_b.my_role().unwrap(), Some(Role::Writer));
    assert!(not_allowed(doc_b.remove_member(a.author())));
    assert!(not_allowed(doc_b.add_member(&c.key_bundle().unwrap())));
    assert!(not_allowed(doc_b.set_role(b.author(), Role::Admin)));
    // Nothing was written: A's view of the roles is unchanged, and so is B's.
    exchange(&b, &a, id);
    let expected = vec![(a.author(), Role::Admin), (b.author(), Role::Writer)];
    let sorted = |mut v: Vec<(fieldsync::AuthorId, Role)>| {
        v.sort();
        v
    };
    assert_eq!(sorted(doc.roles().unwrap()), sorted(expected.clone()));
    assert_eq!(sorted(doc_b.roles().unwrap()), sorted(expected));
}

/// A reader reads but its edits are refused, locally with a typed error.
#[test]
fn a_readers_edit_is_refused() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.text("t").unwrap().push("from a").unwrap();
    doc.add_member_as(&b.key_bundle().unwrap(), Role::Reader)
        .unwrap();
    exchange(&a, &b, id);
    let doc_b = b.document(id).unwrap();
    assert_eq!(doc_b.my_role().unwrap(), Some(Role::Reader));
    assert_eq!(json_of(&b, id), json_of(&a, id), "the reader reads");
    assert!(not_allowed(doc_b.text("t").unwrap().push("from b")));
    // Promoted, it writes.
    doc.set_role(b.author(), Role::Writer).unwrap();
    exchange(&a, &b, id);
    doc_b.text("t").unwrap().push(" and b").unwrap();
    exchange(&b, &a, id);
    assert_eq!(json_of(&a, id), json_of(&b, id));
}

/// Delivers `from`'s operations of `doc` that `pick` selects to `to`, whatever `to` makes of
/// them (refusals included: the test checks the outcome).
fn deliver(from: &Node, to: &Node, doc: fieldsync::DocumentId, pick: impl Fn(LogKind) -> bool) {
    for op in from.operations(doc).unwrap() {
        let kind = fieldsync::internals::operation::decode_operation(&op, 1 << 24, 1 << 24)
            .unwrap()
            .header
            .extensions
            .kind;
        if pick(kind) {
            let _ = to.ingest(&op);
        }
    }
}

/// A snapshot taken before a removal reached its writer holds what the removal cuts: every
/// replica that sweeps withdraws it (and resettles the bases it set) so the cut updates do
/// not come back on a rebuild, fetches again what it stood for, and converges on the state
/// without them.
#[test]
fn a_snapshot_covering_what_a_removal_cuts_is_dropped_by_the_sweep() {
    let (_dirs, [a, b, c, d]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    share(&a, &doc, &d);
    for n in [&b, &c, &d] {
        exchange(&a, n, id);
    }
    doc.text("t").unwrap().push("a1;").unwrap();
    exchange(&a, &b, id);
    exchange(&a, &d, id);
    let doc_c = c.document(id).unwrap();
    doc_c.text("t").unwrap().push("c1;").unwrap();
    exchange(&c, &a, id);
    exchange(&c, &b, id);
    doc.remove_member(c.author()).unwrap();
    doc_c.text("t").unwrap().push("c2;").unwrap();
    exchange(&c, &b, id);
    // B, without the removal yet, publishes a snapshot holding c2; D takes it alone.
    b.document(id).unwrap().publish_snapshot().unwrap().unwrap();
    deliver(&b, &d, id, |k| k == LogKind::Snapshot);
    assert!(json_of(&d, id).contains("c2;"), "D joined by B's snapshot");
    // The removal arrives: both drop the snapshot and what it brought.
    deliver(&a, &b, id, |_| true);
    deliver(&a, &d, id, |_| true);
    for (name, node) in [("B", &b), ("D", &d)] {
        // The snapshot is withdrawn (kept for its log position, never applied): the
        // rebuilt document lacks the cut update although the snapshot's state holds it.
        let json = json_of(node, id);
        assert!(!json.contains("c2;"), "{name}: {json}");
    }
    // D fetches again what the snapshot stood for (C's update before the removal).
    for from in [&a, &b, &c] {
        deliver(from, &d, id, |_| true);
    }
    let want = json_of(&a, id);
    assert!(want.contains("a1;") && want.contains("c1;") && !want.contains("c2;"));
    assert_eq!(json_of(&b, id), want);
    assert_eq!(json_of(&d, id), want);
}

/// Removal revokes writing: an update the removed member wrote after the removal (by the
/// remover's view) is refused on every replica, also on one that had applied it before the
/// removal arrived, and the replicas converge.
#[test]
fn a_removed_members_later_update_is_refused_everywhere() {
    let (_dirs, [a, b, c]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    exchange(&a, &b, id);
    let doc_c = c.document(id).unwrap();
    doc_c.text("t").unwrap().push("c1;").unwrap();
    exchange(&c, &a, id);
    exchange(&c, &b, id);
    doc.remove_member(c.author()).unwrap();
    // C has not heard of it and writes again; B gets that update before the removal.
    doc_c.text("t").unwrap().push("c2;").unwrap();
    exchange(&c, &b, id);
    assert!(
        json_of(&b, id).contains("c2;"),
        "B applied it: it had no removal yet"
    );
    exchange(&a, &b, id);
    // A refuses C's later update with a typed error.
    let late = c.operations(id).unwrap();
    let refused = late
        .iter()
        .map(|op| a.ingest(op))
        .filter(|r| matches!(r, Err(IngestError::Unauthorized(AuthError::Revoked { .. }))))
        .count();
    assert_eq!(
        refused, 1,
        "exactly C's update after its removal is refused"
    );
    for (name, node) in [("A", &a), ("B", &b)] {
        let json = json_of(node, id);
        assert!(
            json.contains("c1;"),
            "{name} keeps what C wrote before: {json}"
        );
        assert!(
            !json.contains("c2;"),
            "{name} refuses what C wrote after: {json}"
        );
    }
    assert_eq!(json_of(&a, id), json_of(&b, id));
    assert_eq!(a.replay_json(id).unwrap(), json_of(&a, id));
    assert_eq!(b.replay_json(id).unwrap(), json_of(&b, id));
    // C cannot read A's next edit.
    doc.text("t").unwrap().push("a after;").unwrap();
    exchange(&a, &c, id);
    assert!(!json_of(&c, id).contains("a after;"));
}

/// Hand-made operations of `key` for document `id`: `n` chained control operations
/// carrying genuine group "update" messages of a group with the document's id that `key`
/// created for itself (what an outsider can make).
fn outsider_group_messages(key: &SigningKey, id: fieldsync::DocumentId, n: usize) -> Vec<Vec<u8>> {
    let keys = DeviceKeys::generate(key.verifying_key()).unwrap();
    let (mut group, create) =
        DocumentGroup::create(&keys, GroupId::from(id.as_hash()), &[]).unwrap();
    let mut bodies = vec![create.as_bytes().to_vec()];
    for _ in 1..n {
        bodies.push(group.update(&keys).unwrap().as_bytes().to_vec());
    }
    let mut previous = None;
    bodies
        .into_iter()
        .map(|message| {
            let mut body = vec![CONTROL_GROUP_MESSAGE];
            body.extend_from_slice(&message);
            let op = build_operation(key, id, LogKind::Control, previous, body);
            previous = Some((op.header.seq_num, op.hash));
            encode_operation(&op)
        })
        .collect()
}

/// Attack 1 and 2: an outsider floods a member with group control messages for the
/// document (a forged "create" first, then updates). None reaches the group: all wait in
/// quarantine, bounded per author; the admin's removal that follows is applied, and the
/// removed device cannot read the next edit.
#[test]
fn an_outsiders_control_flood_blocks_no_removal() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let open = |i: usize| {
        let mut config = NodeConfig::new(dirs[i].path());
        config.max_parked_per_author = 100;
        Node::open(config).unwrap()
    };
    let (a, b, c) = (open(0), open(1), open(2));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    exchange(&a, &b, id);
    let outsider = SigningKey::generate();
    let flood = outsider_group_messages(&outsider, id, 300);
    // The forged "create" is refused outright: the document's genesis names its creator.
    assert!(matches!(
        b.ingest(&flood[0]),
        Err(IngestError::Unauthorized(AuthError::NotGenesis))
    ));
    // The rest cannot chain on it: kept aside (bounded), never stored or processed.
    for op in &flood[1..] {
        match b.ingest(op) {
            Err(IngestError::AwaitingAuthorization { .. }) | Err(IngestError::SeqGap { .. }) => {}
            other => panic!("an outsider's control message got {other:?}"),
        }
    }
    assert!(
        b.parked_count().unwrap() <= 100,
        "quarantine is bounded per author: {}",
        b.parked_count().unwrap()
    );
    let before = b.document(id).unwrap().op_count().unwrap();
    doc.remove_member(c.author()).unwrap();
    exchange(&a, &b, id);
    let doc_b = b.document(id).unwrap();
    assert!(
        !doc_b.members().unwrap().contains(&c.author()),
        "B applied the removal"
    );
    assert!(!doc_b.roles().unwrap().iter().any(|(m, _)| *m == c.author()));
    assert_eq!(
        doc_b.op_count().unwrap(),
        before,
        "nothing of the outsider is stored"
    );
    doc_b.text("t").unwrap().push("after removal").unwrap();
    exchange(&b, &c, id);
    assert!(!json_of(&c, id).contains("after removal"));
}

/// Attack 2, from the joiner's side: before its welcome arrives, a joiner receives an
/// outsider's "create" of the document's group that names the joiner. It is never taken as
/// the welcome: the joiner is welcomed by the real admin, and the outsider is not in its
/// group.
#[test]
fn a_forged_create_before_the_welcome_hijacks_nothing() {
    use fieldsync::internals::crypto::KeyBundle;
    let (_dirs, [a, joiner]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.text("t").unwrap().push("real;").unwrap();
    let outsider = SigningKey::generate();
    let keys = DeviceKeys::generate(outsider.verifying_key()).unwrap();
    let joiner_bundle = KeyBundle::from_bytes(&joiner.key_bundle().unwrap()).unwrap();
    let (_, forged) =
        DocumentGroup::create(&keys, GroupId::from(id.as_hash()), &[joiner_bundle]).unwrap();
    let mut body = vec![CONTROL_GROUP_MESSAGE];
    body.extend_from_slice(forged.as_bytes());
    let op = encode_operation(&build_operation(
        &outsider,
        id,
        LogKind::Control,
        None,
        body,
    ));
    joiner.document_or_register(id).unwrap();
    // Nothing of the document is known yet: the forged create waits (it is not processed).
    assert!(matches!(
        joiner.ingest(&op),
        Err(IngestError::AwaitingAuthorization { .. })
    ));
    // The real admin adds the joiner; its operations arrive.
    share(&a, &doc, &joiner);
    let at_joiner = joiner.document(id).unwrap();
    assert_eq!(
        json_of(&joiner, id),
        json_of(&a, id),
        "welcomed by the real admin"
    );
    let outsider_id = fieldsync::AuthorId::from(outsider.verifying_key());
    assert!(!at_joiner.members().unwrap().contains(&outsider_id));
    assert!(!at_joiner
        .roles()
        .unwrap()
        .iter()
        .any(|(m, _)| *m == outsider_id));
    // Released and refused once the genesis named the creator; the joiner writes, and the
    // admin reads it.
    assert_eq!(
        joiner.parked_count().unwrap(),
        0,
        "the forged create was refused"
    );
    at_joiner.text("t").unwrap().push("joiner;").unwrap();
    exchange(&joiner, &a, id);
    assert_eq!(json_of(&a, id), json_of(&joiner, id));
}

/// Two admins change roles concurrently on a partitioned network (including removing
/// each other); delivered in any order, every replica resolves the same roles.
fn concurrent_role_changes_converge(seed: u64) {
    let (_dirs, [a, b, c, d]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    share(&a, &doc, &d);
    doc.set_role(b.author(), Role::Admin).unwrap();
    for n in [&b, &c, &d] {
        exchange(&a, n, id);
    }
    let doc_b = b.document(id).unwrap();
    // Partition: A and B act without hearing of each other.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let actions_a: Vec<u8> = (0..2)
        .map(|_| rand::Rng::gen_range(&mut rng, 0..4))
        .collect();
    let actions_b: Vec<u8> = (0..2)
        .map(|_| rand::Rng::gen_range(&mut rng, 0..4))
        .collect();
    let act = |doc: &fieldsync::Document, other: fieldsync::AuthorId, code: u8| {
        let r = match code {
            0 => doc.set_role(c.author(), Role::Reader),
            1 => doc.remove_member(d.author()),
            2 => doc.set_role(d.author(), Role::Admin),
            _ => doc.remove_member(other),
        };
        let _ = r; // may be refused locally after an earlier step (e.g. already removed)
    };
    for code in actions_a {
        act(&doc, b.author(), code);
    }
    for code in actions_b {
        act(&doc_b, a.author(), code);
    }
    // Deliver everything to everyone, in a random order of nodes, twice.
    let nodes = [&a, &b, &c, &d];
    for _ in 0..2 {
        let mut pairs: Vec<(usize, usize)> = (0..4)
            .flat_map(|i| (0..4).filter(move |j| *j != i).map(move |j| (i, j)))
            .collect();
        pairs.shuffle(&mut rng);
        for (i, j) in pairs {
            for op in nodes[i].operations(id).unwrap() {
                let _ = nodes[j].ingest(&op);
            }
        }
    }
    let roles: Vec<_> = nodes
        .iter()
        .map(|n| {
            let mut r = n.document(id).unwrap().roles().unwrap();
            r.sort();
            r
        })
        .collect();
    for r in &roles[1..] {
        assert_eq!(r, &roles[0], "seed {seed}: replicas disagree on the roles");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]
    #[test]
    fn concurrent_role_changes_by_two_admins_converge(seed in any::<u64>()) {
        concurrent_role_changes_converge(seed);
    }
}

/// Two admins removing each other concurrently are both removed (strong remove), on every
/// replica.
#[test]
fn mutual_removal_removes_both() {
    let (_dirs, [a, b, c]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    doc.set_role(b.author(), Role::Admin).unwrap();
    exchange(&a, &b, id);
    exchange(&a, &c, id);
    let doc_b = b.document(id).unwrap();
    doc.remove_member(b.author()).unwrap();
    doc_b.remove_member(a.author()).unwrap();
    for (x, y) in [(&a, &c), (&b, &c), (&a, &b), (&b, &a)] {
        for op in x.operations(id).unwrap() {
            let _ = y.ingest(&op);
        }
    }
    for n in [&a, &b, &c] {
        let roles = n.document(id).unwrap().roles().unwrap();
        assert_eq!(roles, vec![(c.author(), Role::Writer)], "only C is left");
    }
}

/// Presents `invite` at `admin` from `joiner` (the join request travels as a direct message,
/// handed over here) and returns the admin's verdict.
fn present(
    rt: &tokio::runtime::Runtime,
    joiner: &Node,
    invite: &str,
    admin: &Node,
) -> Result<fieldsync::ReceivedDirect, fieldsync::DirectError> {
    rt.block_on(joiner.join(invite)).unwrap();
    let queued = joiner.pending_direct(admin.author()).unwrap();
    let request = queued.last().expect("a join request was queued");
    admin.receive_direct(request)
}

/// The same invite, addressed to another admin (its key bundle and node id).
fn readdressed(invite: &str, admin: &Node) -> String {
    let mut parsed = fieldsync::Invite::parse(invite).unwrap();
    parsed.node = admin.author();
    parsed.key_bundle = Some(admin.key_bundle().unwrap());
    parsed.encode()
}

/// Attack 6: invites expire, admit a limited number of devices and can be revoked, and
/// every admin's node honours that (the invites and their uses are control operations).
#[test]
fn expired_used_up_and_revoked_invites_are_refused_by_every_admin() {
    use fieldsync::{DirectError, InviteOptions};
    use std::time::Duration;
    let (_dirs, [a, b, c, d, e, f, g, h, i]) = open_nodes();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    doc.set_role(b.author(), Role::Admin).unwrap();
    let once = rt.block_on(doc.invite()).unwrap();
    let expired = rt
        .block_on(doc.invite_with(InviteOptions {
            valid_for: Duration::ZERO,
            max_uses: 5,
        }))
        .unwrap();
    let later_revoked = rt
        .block_on(doc.invite_with(InviteOptions {
            valid_for: Duration::from_secs(3600),
            max_uses: 5,
        }))
        .unwrap();
    // The default invite admits one device.
    let admitted = present(&rt, &c, &once, &a).unwrap();
    assert_eq!(admitted.admitted, Some(id));
    exchange(&a, &b, id);
    assert!(matches!(
        present(&rt, &d, &once, &a),
        Err(DirectError::InviteUsedUp(_))
    ));
    assert!(matches!(
        present(&rt, &e, &readdressed(&once, &b), &b),
        Err(DirectError::InviteUsedUp(_))
    ));
    // Expired, at both admins.
    assert!(matches!(
        present(&rt, &f, &expired, &a),
        Err(DirectError::InviteExpired(_))
    ));
    assert!(matches!(
        present(&rt, &g, &readdressed(&expired, &b), &b),
        Err(DirectError::InviteExpired(_))
    ));
    // Revoked by A: B honours it once the revocation syncs.
    a.revoke_invites(id).unwrap();
    exchange(&a, &b, id);
    assert!(matches!(
        present(&rt, &h, &later_revoked, &a),
        Err(DirectError::InviteRevoked(_))
    ));
    assert!(matches!(
        present(&rt, &i, &readdressed(&later_revoked, &b), &b),
        Err(DirectError::InviteRevoked(_))
    ));
    // Nobody but C got in.
    let mut members: Vec<_> = doc.roles().unwrap().into_iter().map(|(m, _)| m).collect();
    members.sort();
    let mut expected = vec![a.author(), b.author(), c.author()];
    expected.sort();
    assert_eq!(members, expected);
    // A writer cannot revoke invites.
    assert!(matches!(
        c.revoke_invites(id),
        Err(DirectError::NotAllowed(_))
    ));
}

/// A relay device stores and forwards a document between two members who are never
/// online together, and cannot read it.
#[test]
fn a_relay_forwards_what_it_cannot_read() {
    let (_dirs, [a, b, relay]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    doc.add_relay(relay.author()).unwrap();
    doc.text("t").unwrap().push("secret survey data").unwrap();
    // A meets only the relay; later the relay meets only B.
    exchange(&a, &relay, id);
    let at_relay = relay.document(id).unwrap();
    assert_eq!(at_relay.my_role().unwrap(), Some(Role::Relay));
    assert!(!at_relay.can_read().unwrap());
    assert!(
        !json_of(&relay, id).contains("secret"),
        "the relay reads nothing"
    );
    assert!(not_allowed(
        at_relay.text("t").unwrap().push("relay writes")
    ));
    exchange(&relay, &b, id);
    assert!(json_of(&b, id).contains("secret survey data"));
    // And back: B's reply reaches A through the relay.
    b.document(id)
        .unwrap()
        .text("t")
        .unwrap()
        .push(" / ack")
        .unwrap();
    exchange(&b, &relay, id);
    exchange(&relay, &a, id);
    assert_eq!(json_of(&a, id), json_of(&b, id));
}

/// Attack 5: 100,001 one-operation logs from fresh keys (identities are free). None is
/// stored, served or counted in the heights: each waits in a quarantine bounded in all and
/// per author, and members go on syncing.
#[test]
fn a_hundred_thousand_outsider_logs_break_nothing() {
    const OUTSIDERS: usize = 100_001;
    const QUARANTINE: u64 = 2_000;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = Node::open(NodeConfig::new(dirs[0].path())).unwrap();
    let b = {
        let mut config = NodeConfig::new(dirs[1].path());
        config.max_parked = QUARANTINE;
        Node::open(config).unwrap()
    };
    let c = Node::open(NodeConfig::new(dirs[2].path())).unwrap();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    doc.text("t").unwrap().push("before;").unwrap();
    exchange(&a, &b, id);
    let heights_before = b.operations(id).unwrap().len();
    // Hand-made updates of fresh keys, built and fed in chunks to bound the test's memory.
    let mut waiting = 0usize;
    let mut built = 0usize;
    while built < OUTSIDERS {
        let n = (OUTSIDERS - built).min(5_000);
        let chunk: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                let key = SigningKey::generate();
                let op = build_operation(&key, id, LogKind::Delta, None, vec![1, 2, 3]);
                encode_operation(&op)
            })
            .collect();
        built += n;
        for r in b.ingest_batch(&chunk) {
            match r {
                Err(IngestError::AwaitingAuthorization { .. }) => waiting += 1,
                other => panic!("an outsider's update got {other:?}"),
            }
        }
    }
    assert_eq!(waiting, OUTSIDERS);
    assert!(
        b.parked_count().unwrap() <= QUARANTINE,
        "quarantine is bounded"
    );
    assert_eq!(
        b.operations(id).unwrap().len(),
        heights_before,
        "nothing of the outsiders is stored or served"
    );
    // Members keep syncing through B: a new member catches up from B alone.
    doc.text("t").unwrap().push("after;").unwrap();
    exchange(&a, &b, id);
    doc.add_member(&c.key_bundle().unwrap()).unwrap();
    exchange(&a, &b, id);
    exchange(&b, &c, id);
    assert_eq!(json_of(&c, id), json_of(&a, id));
    assert!(json_of(&c, id).contains("after;"));
}

/// Attack 7: an outsider that holds A's operations (from anywhere) announces heads that
/// cover them. A must not take that as delivery: its outbox still waits for a member. A
/// member that syncs then acknowledges it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_from_an_outsider_acknowledge_nothing() {
    use fieldsync_tests::{go_online, wait_until};
    use std::time::Duration;
    let (_dirs, [a, b, outsider]) = open_nodes();
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    doc.text("t").unwrap().push("not delivered yet").unwrap();
    // The outsider got A's operations by some other route: its heads cover A's logs.
    exchange(&a, &outsider, id);
    let pending = |n: &Node| {
        let rt = tokio::runtime::Handle::current();
        tokio::task::block_in_place(|| rt.block_on(n.sync_status(id)))
            .unwrap()
            .pending_local_ops
    };
    go_online(&a).await;
    go_online(&outsider).await;
    let member_invite = doc.invite().await.unwrap();
    let mut bare = fieldsync::Invite::parse(&member_invite).unwrap();
    bare.key_bundle = None;
    bare.token = None;
    // (Issuing the invite wrote a control operation: counted from here.)
    let before = pending(&a);
    assert!(before > 0);
    outsider.join(&bare.encode()).await.unwrap();
    // Heads go out every 2 s and within 100 ms of a change: over 5 s the outsider
    // announced them several times. (An absence can only be observed over a window.)
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        pending(&a),
        before,
        "an outsider's heads acknowledged A's outbox"
    );
    // Control: a member's heads do acknowledge it.
    go_online(&b).await;
    b.join(&member_invite).await.unwrap();
    wait_until(
        "a member acknowledges A's outbox",
        Duration::from_secs(45),
        || pending(&a) == 0,
    )
    .await;
}
