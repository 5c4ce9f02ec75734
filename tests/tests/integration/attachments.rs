//! Attachments (issue #29), on one device: added from bytes or a reader, read back equal,
//! encrypted on disk, damage detected, readers may not add.

use fieldsync::{DocumentError, Error, Role};
use fieldsync_tests::{open_node, share};

fn photo(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn an_attachment_reads_back_equal_and_is_encrypted_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let a = open_node(dir.path());
    let doc = a.create_document().unwrap();
    let bytes = photo(3 * 1024 * 1024 + 17);
    let reference = doc.add_attachment(&bytes, "image/jpeg").unwrap();
    doc.map("photos")
        .unwrap()
        .set("front", fieldsync::Value::String(reference.clone()))
        .unwrap();
    assert_eq!(a.read_attachment(&reference).unwrap(), bytes);
    // Streamed in from a reader too; an empty attachment is fine.
    let from_reader = doc
        .add_attachment_from(&bytes[..1000], 1000, "application/octet-stream")
        .unwrap();
    assert_eq!(a.read_attachment(&from_reader).unwrap(), &bytes[..1000]);
    let empty = doc.add_attachment(&[], "text/plain").unwrap();
    assert!(a.read_attachment(&empty).unwrap().is_empty());
    // On disk: ciphertext only (no 4 KiB run of the content appears in the file).
    let folder = dir.path().join("attachments");
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3);
    let biggest = files
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let stored = std::fs::read(biggest).unwrap();
    assert!(!stored.windows(4096).any(|w| w == &bytes[8192..8192 + 4096]));
    // A damaged byte is detected, not returned.
    let mut damaged = stored.clone();
    damaged[300_000] ^= 1;
    std::fs::write(biggest, &damaged).unwrap();
    match a.read_attachment(&reference) {
        Err(Error::Document(DocumentError::AttachmentUnavailable { reason, .. })) => {
            assert!(reason.contains("damaged"), "{reason}")
        }
        other => panic!(
            "expected AttachmentUnavailable, got {:?}",
            other.map(|v| v.len())
        ),
    }
    // A reference this device has no attachment for, and a string that is none.
    let other = tempfile::tempdir().unwrap();
    let b = open_node(other.path());
    assert!(matches!(
        b.read_attachment(&reference),
        Err(Error::Document(DocumentError::AttachmentUnavailable { .. }))
    ));
    assert!(matches!(
        b.read_attachment("fsatt1:nonsense"),
        Err(Error::Document(DocumentError::InvalidArgument(_)))
    ));
}

#[test]
fn a_reader_may_not_add_attachments_and_limits_hold() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let b = open_node(db.path());
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    doc.set_role(b.author(), Role::Reader).unwrap();
    fieldsync_tests::exchange(&a, &b, doc.id());
    let doc_b = b.document(doc.id()).unwrap();
    assert!(matches!(
        doc_b.add_attachment(b"note", "text/plain"),
        Err(DocumentError::NotAllowed(_))
    ));
    // Declared size above the limit, and an input shorter than declared.
    assert!(matches!(
        doc.add_attachment_from(&b"x"[..], 200 * 1000 * 1000, "video/mp4"),
        Err(DocumentError::InvalidArgument(_))
    ));
    assert!(matches!(
        doc.add_attachment_from(&b"short"[..], 10, "text/plain"),
        Err(DocumentError::InvalidArgument(_))
    ));
    let left: Vec<_> = std::fs::read_dir(da.path().join("attachments"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "a failed add leaves no file: {left:?}");
}

/// Over QUIC: B fetches a 50 MB attachment, cut half-way (100 of its 200 chunks) and resumed
/// after a restart; a peer serving a corrupted chunk is dropped and the rest comes from
/// another; a device without a role gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetched_over_quic_resumed_after_a_restart_and_a_corrupt_peer_is_dropped() {
    use fieldsync::PeerAddr;
    use fieldsync_tests::{go_online, json_of, wait_until};
    use std::time::Duration;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, x, n) = (
        open_node(dirs[0].path()),
        open_node(dirs[1].path()),
        open_node(dirs[3].path()),
    );
    let mut b = open_node(dirs[2].path());
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.add_member(&x.key_bundle().unwrap()).unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    let bytes = photo(50 * 1024 * 1024);
    let reference = doc.add_attachment(&bytes, "video/mp4").unwrap();
    doc.map("notes")
        .unwrap()
        .set("clip", fieldsync::Value::String(reference.clone()))
        .unwrap();
    let info_a = go_online(&a).await;
    let at_a = PeerAddr {
        node: a.author(),
        addrs: info_a.addrs.clone(),
        relay: None,
    };
    // X syncs the document (so it knows B's role) and fetches the attachment whole.
    let info_x = go_online(&x).await;
    let at_x = PeerAddr {
        node: x.author(),
        addrs: info_x.addrs.clone(),
        relay: None,
    };
    x.document_or_register(id).unwrap();
    x.add_peer(at_a.clone()).await.unwrap();
    let want = doc.to_json().unwrap();
    wait_until("X holds the document", Duration::from_secs(30), || {
        json_of(&x, id) == want
    })
    .await;
    let got = x
        .fetch_attachment_from(id, &reference, &[a.author()], None)
        .await
        .unwrap();
    assert!(got.complete, "{got:?}");
    assert_eq!(x.read_attachment(&reference).unwrap(), bytes);
    // X's copy of chunk 150 is damaged on disk.
    let file = std::fs::read_dir(dirs[1].path().join("attachments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "fsa"))
        .unwrap();
    let mut stored = std::fs::read(&file).unwrap();
    stored[150 * (256 * 1024 + 16) + 100] ^= 1;
    std::fs::write(&file, &stored).unwrap();
    assert!(
        x.read_attachment(&reference).is_err(),
        "X's copy is damaged"
    );

    // B: half of the chunks from A, then the node closes.
    go_online(&b).await;
    b.add_peer(at_a.clone()).await.unwrap();
    let first = b
        .fetch_attachment_from(id, &reference, &[a.author()], Some(100))
        .await
        .unwrap();
    eprintln!("first fetch: {first:?}");
    assert!(!first.complete);
    assert!(matches!(
        b.read_attachment(&reference),
        Err(fieldsync::Error::Document(
            DocumentError::AttachmentUnavailable { .. }
        ))
    ));
    b.stop_network().await.unwrap();
    drop(b);
    b = open_node(dirs[2].path());
    go_online(&b).await;
    b.add_peer(at_a.clone()).await.unwrap();
    b.add_peer(at_x.clone()).await.unwrap();
    // Resumed from X first: its chunk 150 is refused, A sends the rest.
    let second = b
        .fetch_attachment_from(id, &reference, &[x.author(), a.author()], None)
        .await
        .unwrap();
    assert!(second.complete, "{second:?}");
    eprintln!("second fetch: {second:?}");
    assert_eq!(second.corrupt_peers, vec![x.author()]);
    assert_eq!(b.read_attachment(&reference).unwrap(), bytes);
    let total = first.transferred + second.transferred;
    eprintln!(
        "transferred {} + {} = {total} bytes for {} bytes of content",
        first.transferred,
        second.transferred,
        bytes.len()
    );
    assert!(
        (total as f64) < 1.2 * bytes.len() as f64,
        "resumed, not restarted: {total} bytes for {}",
        bytes.len()
    );
    // A device without a role in the document gets nothing.
    go_online(&n).await;
    n.add_peer(at_a.clone()).await.unwrap();
    let refused = n
        .fetch_attachment_from(id, &reference, &[a.author()], None)
        .await
        .unwrap();
    eprintln!("non-member fetch: {refused:?}");
    assert!(!refused.complete);
    assert_eq!(refused.refused_by, vec![a.author()]);
    assert_eq!(refused.transferred, 0);
    for node in [&a, &b, &x, &n] {
        node.stop_network().await.unwrap();
    }
}

/// After a removal, attachments added later are unreadable by the removed device: the
/// operations carrying their references are encrypted for the remaining members only (so
/// it never learns their keys), and a member refuses to serve it even a leaked reference.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_device_cannot_read_attachments_added_after_its_removal() {
    use fieldsync::PeerAddr;
    use fieldsync_tests::{exchange, go_online, json_of};
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open_node(da.path()), open_node(db.path()));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    let before = doc.add_attachment(&photo(300_000), "image/jpeg").unwrap();
    doc.map("photos")
        .unwrap()
        .set("before", fieldsync::Value::String(before.clone()))
        .unwrap();
    exchange(&a, &b, id);
    assert!(json_of(&b, id).contains(&before), "B reads the reference");

    doc.remove_member(b.author()).unwrap();
    let secret = photo(300_001);
    let after = doc.add_attachment(&secret, "image/jpeg").unwrap();
    doc.map("photos")
        .unwrap()
        .set("after", fieldsync::Value::String(after.clone()))
        .unwrap();
    for op in a.operations(id).unwrap() {
        let _ = b.ingest(&op); // refusals and undecryptable operations included
    }
    let seen = json_of(&b, id);
    assert!(seen.contains(&before), "{seen}");
    assert!(
        !seen.contains(&after) && !seen.contains("after"),
        "B never sees the later reference: {seen}"
    );

    // Even with the reference (leaked another way), A serves B nothing of it.
    let info_a = go_online(&a).await;
    go_online(&b).await;
    b.add_peer(PeerAddr {
        node: a.author(),
        addrs: info_a.addrs,
        relay: None,
    })
    .await
    .unwrap();
    let mut events = b.subscribe();
    let got = b
        .fetch_attachment_from(id, &after, &[a.author()], None)
        .await
        .unwrap();
    assert!(!got.complete, "{got:?}");
    assert_eq!(got.refused_by, vec![a.author()]);
    assert_eq!(got.transferred, 0);
    assert!(b.read_attachment(&after).is_err());
    // The fetch's start and its failure, with the reason, are events too.
    let mut seen = Vec::new();
    while let Some(e) = events.try_next() {
        match e {
            fieldsync::Event::AttachmentFetchStarted { .. } => seen.push("started".to_string()),
            fieldsync::Event::AttachmentFetchEnded {
                complete, reason, ..
            } => seen.push(format!("ended {complete} {}", reason.unwrap_or_default())),
            _ => {}
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], "started");
    assert!(
        seen[1].starts_with("ended false 1 peer(s) do not serve it"),
        "{seen:?}"
    );
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}

/// By policy, content arrives without being asked: `Always` fetches as soon as the
/// reference does; `Unmetered` waits while the app says the network is metered and fetches
/// when it stops being so; `OnDemand` (the default) fetches nothing unasked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_are_fetched_by_policy() {
    use fieldsync::{AttachmentPolicy, PeerAddr};
    use fieldsync_tests::{go_online, json_of, wait_until};
    use std::time::Duration;
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [a, always, wifi, manual] = std::array::from_fn(|i| open_node(dirs[i].path()));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    for n in [&always, &wifi, &manual] {
        doc.add_member(&n.key_bundle().unwrap()).unwrap();
    }
    let bytes = photo(700_000);
    let reference = doc.add_attachment(&bytes, "image/jpeg").unwrap();
    always.set_attachment_policy(AttachmentPolicy::Always);
    wifi.set_attachment_policy(AttachmentPolicy::Unmetered);
    wifi.set_metered(true);
    let info_a = go_online(&a).await;
    let at_a = PeerAddr {
        node: a.author(),
        addrs: info_a.addrs.clone(),
        relay: None,
    };
    for n in [&always, &wifi, &manual] {
        go_online(n).await;
        n.document_or_register(id).unwrap();
        n.add_peer(at_a.clone()).await.unwrap();
    }
    // The reference arrives with an edit after everyone is connected.
    doc.map("photos")
        .unwrap()
        .set("site", fieldsync::Value::String(reference.clone()))
        .unwrap();
    let want = doc.to_json().unwrap();
    for n in [&always, &wifi, &manual] {
        wait_until("the reference arrives", Duration::from_secs(30), || {
            json_of(n, id) == want
        })
        .await;
    }
    wait_until("Always fetched it unasked", Duration::from_secs(30), || {
        always.read_attachment(&reference).is_ok()
    })
    .await;
    assert_eq!(always.read_attachment(&reference).unwrap(), bytes);
    // The fetcher scans a second after changes arrive: two seconds without content on a
    // metered network (Unmetered) or without a policy (OnDemand) mean it left them alone.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(wifi.read_attachment(&reference).is_err(), "metered: waits");
    assert!(
        manual.read_attachment(&reference).is_err(),
        "on demand: waits"
    );
    wifi.set_metered(false);
    wait_until(
        "Unmetered fetched it off mobile data",
        Duration::from_secs(30),
        || wifi.read_attachment(&reference).is_ok(),
    )
    .await;
    assert!(manual.read_attachment(&reference).is_err());
    for n in [&a, &always, &wifi, &manual] {
        n.stop_network().await.unwrap();
    }
}

/// Housekeeping: fetched content no document references any more is deleted (after the
/// grace period), fetched content past the storage budget is evicted oldest first and can
/// be fetched again, and content added on this device is never deleted or evicted unasked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_attachments_go_and_fetched_ones_stay_within_the_budget() {
    use fieldsync::{Node, NodeConfig, PeerAddr};
    use fieldsync_tests::{go_online, json_of, wait_until};
    use std::time::Duration;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let open = |dir: &std::path::Path, budget: u64| {
        let mut cfg = NodeConfig::new(dir);
        cfg.attachment_grace = Duration::ZERO;
        cfg.attachment_budget_bytes = budget;
        Node::open(cfg).unwrap()
    };
    // A's budget is one byte: its own attachments stay anyway.
    let a = open(da.path(), 1);
    let b = open(db.path(), 1_500_000);
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    let photos: Vec<Vec<u8>> = (0..3).map(|i| photo(700_000 + i)).collect();
    let refs: Vec<String> = photos
        .iter()
        .map(|p| doc.add_attachment(p, "image/jpeg").unwrap())
        .collect();
    let unused = doc.add_attachment(&photo(10_000), "text/plain").unwrap();
    let map = doc.map("photos").unwrap();
    for (i, r) in refs.iter().enumerate() {
        map.set(&format!("p{i}"), fieldsync::Value::String(r.clone()))
            .unwrap();
    }
    let swept = a.collect_attachments().unwrap();
    assert_eq!((swept.unreferenced, swept.evicted), (0, 0), "{swept:?}");
    assert_eq!(
        a.read_attachment(&unused).unwrap(),
        photo(10_000),
        "added here, even unreferenced: kept (it may exist nowhere else)"
    );
    for (r, p) in refs.iter().zip(&photos) {
        assert_eq!(&a.read_attachment(r).unwrap(), p, "added here: kept");
    }

    let info_a = go_online(&a).await;
    go_online(&b).await;
    b.document_or_register(id).unwrap();
    b.add_peer(PeerAddr {
        node: a.author(),
        addrs: info_a.addrs,
        relay: None,
    })
    .await
    .unwrap();
    let want = doc.to_json().unwrap();
    wait_until("B holds the document", Duration::from_secs(30), || {
        json_of(&b, id) == want
    })
    .await;
    // Two fit in B's budget; the third evicts the oldest.
    for r in &refs {
        let got = b.fetch_attachment(id, r).await.unwrap();
        assert!(got.complete, "{got:?}");
    }
    assert!(
        b.read_attachment(&refs[0]).is_err(),
        "the oldest was evicted"
    );
    assert_eq!(b.read_attachment(&refs[1]).unwrap(), photos[1]);
    assert_eq!(b.read_attachment(&refs[2]).unwrap(), photos[2]);
    // Evicted is not lost: it comes back on request (and evicts the next oldest).
    assert!(b.fetch_attachment(id, &refs[0]).await.unwrap().complete);
    assert_eq!(b.read_attachment(&refs[0]).unwrap(), photos[0]);
    assert!(b.read_attachment(&refs[1]).is_err());
    // Removing a reference makes its content collectable.
    map.delete("p2").unwrap();
    wait_until("B sees the removal", Duration::from_secs(30), || {
        !json_of(&b, id).contains(&refs[2])
    })
    .await;
    let swept = b.collect_attachments().unwrap();
    assert_eq!(swept.unreferenced, 1, "{swept:?}");
    assert!(b.read_attachment(&refs[2]).is_err());
    assert_eq!(b.read_attachment(&refs[0]).unwrap(), photos[0]);
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}

/// A relay carries attachments it cannot read: with a fetching policy it asks the
/// document's peers for what they hold (it cannot read the references) and keeps the
/// ciphertext; a member that never meets the author fetches the photo from the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_carries_attachments_it_cannot_read() {
    use fieldsync::{AttachmentPolicy, Event, PeerAddr};
    use fieldsync_tests::{go_online, json_of, wait_until};
    use std::time::Duration;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let [a, relay, b] = std::array::from_fn(|i| open_node(dirs[i].path()));
    let doc = a.create_document().unwrap();
    let id = doc.id();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    doc.add_relay(relay.author()).unwrap();
    let photo_bytes = photo(1_200_000);
    let reference = doc.add_attachment(&photo_bytes, "image/jpeg").unwrap();
    doc.map("photos")
        .unwrap()
        .set("site", fieldsync::Value::String(reference.clone()))
        .unwrap();
    // A meets only the relay.
    relay.set_attachment_policy(AttachmentPolicy::Always);
    let mut relay_events = relay.subscribe();
    let info_a = go_online(&a).await;
    let info_relay = go_online(&relay).await;
    relay.document_or_register(id).unwrap();
    relay
        .add_peer(PeerAddr {
            node: a.author(),
            addrs: info_a.addrs,
            relay: None,
        })
        .await
        .unwrap();
    let mut carried = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !carried {
        let event = tokio::time::timeout_at(deadline, relay_events.next())
            .await
            .expect("the relay never carried the attachment");
        if let Some(Event::AttachmentProgress { bytes, total, .. }) = event {
            carried = bytes == total;
        }
    }
    assert!(
        !json_of(&relay, id).contains("fsatt1:"),
        "the relay reads nothing"
    );
    a.stop_network().await.unwrap();

    // Later B meets only the relay: the document and the photo both come from it.
    go_online(&b).await;
    b.document_or_register(id).unwrap();
    b.add_peer(PeerAddr {
        node: relay.author(),
        addrs: info_relay.addrs,
        relay: None,
    })
    .await
    .unwrap();
    wait_until("B reads the reference", Duration::from_secs(30), || {
        json_of(&b, id).contains(&reference)
    })
    .await;
    let got = b
        .fetch_attachment_from(id, &reference, &[relay.author()], None)
        .await
        .unwrap();
    assert!(got.complete, "{got:?}");
    assert_eq!(b.read_attachment(&reference).unwrap(), photo_bytes);
    relay.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}
