//! Sync over real QUIC connections on 127.0.0.1.

use std::time::{Duration, Instant};

use fieldsync::{Event, Value};
use fieldsync_tests::{go_online, json_of, open_nodes, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_edit_visible_within_two_seconds() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = a.create_document().unwrap();
    doc.text("t")
        .unwrap()
        .insert(0, "offline before start")
        .unwrap();
    // B becomes a member (its key bundle reaches A out of band, e.g. by QR code).
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    go_online(&a).await;
    go_online(&b).await;
    let invite = doc.invite().await.unwrap();
    let mut events_b = b.subscribe();
    b.join(&invite).await.unwrap();
    let id = doc.id();
    wait_until("B catches up with A", Duration::from_secs(30), || {
        json_of(&b, id) == doc.to_json().unwrap()
    })
    .await;
    for i in 0..5 {
        let t0 = Instant::now();
        doc.list("l").unwrap().push(Value::Int(i)).unwrap();
        let want = doc.to_json().unwrap();
        wait_until("live edit reaches B", Duration::from_secs(2), || {
            json_of(&b, id) == want
        })
        .await;
        eprintln!("edit {i} visible on B after {:?}", t0.elapsed());
    }
    let mut saw_connected = false;
    while let Some(e) = events_b.try_next() {
        if matches!(e, Event::PeerConnected { peer, .. } if peer == a.author()) {
            saw_connected = true;
        }
    }
    assert!(saw_connected, "B reports A as connected");
    let status = b.sync_status(id).await.unwrap();
    assert!(status.connected_peers.contains(&a.author()));
    // A's edits get acknowledged through B's heads.
    wait_until("A's outbox drains", Duration::from_secs(10), || {
        doc.pending_ops().unwrap() == 0
    })
    .await;
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}

/// Waits for B's next ephemeral message from `from`, up to `limit`.
async fn next_ephemeral(
    events: &mut fieldsync::EventStream,
    from: fieldsync::AuthorId,
    limit: Duration,
) -> Option<Vec<u8>> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Event::Ephemeral {
                sender, payload, ..
            })) if sender == from => return Some(payload),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_ephemeral_payloads_all_arrive() {
    // iroh-gossip drops a message whose bytes it has seen before. An app repeating a payload
    // (a presence ping) must still reach its peers each time (unchanged heads announcements
    // rely on the same: see `net::ephemeral`).
    let (_dirs, [a, b]) = open_nodes();
    let doc = a.create_document().unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    go_online(&a).await;
    go_online(&b).await;
    let invite = doc.invite().await.unwrap();
    b.join(&invite).await.unwrap();
    let id = doc.id();
    let mut events = b.subscribe();
    // Gossip is best effort until the two are neighbours: warm up with distinct payloads.
    let mut warm = false;
    for i in 0..60 {
        a.publish_ephemeral(id, format!("warm-up {i}").into_bytes())
            .await
            .unwrap();
        if next_ephemeral(&mut events, a.author(), Duration::from_millis(500))
            .await
            .is_some()
        {
            warm = true;
            break;
        }
    }
    assert!(warm, "no ephemeral message reached B within 30 s");
    for round in 0..3 {
        a.publish_ephemeral(id, b"ping".to_vec()).await.unwrap();
        let mut got = false;
        // Skip warm-up messages still on their way.
        while let Some(p) = next_ephemeral(&mut events, a.author(), Duration::from_secs(10)).await {
            if p == b"ping" {
                got = true;
                break;
            }
        }
        assert!(
            got,
            "the identical payload sent for the {} time did not reach B within 10 s",
            round + 1
        );
    }
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}

/// The network-change API: A's network comes back on another port (as after a switch from
/// Wi-Fi to mobile data); B, which still holds A's old address, has A's next edit within 2 s
/// of the call, and A has B's, because A dials its known peers again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_change_rebinds_and_peers_reach_the_node_again_within_two_seconds() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = a.create_document().unwrap();
    doc.text("t").unwrap().push("before").unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    let info_a = go_online(&a).await;
    let info_b = go_online(&b).await;
    let old_port = info_a.addrs[0].port();
    // Both know each other (as after an invite and a first session, or mDNS).
    a.add_peer(fieldsync::PeerAddr {
        node: b.author(),
        addrs: info_b.addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    b.join(&doc.invite().await.unwrap()).await.unwrap();
    let id = doc.id();
    wait_until("B catches up with A", Duration::from_secs(30), || {
        json_of(&b, id) == doc.to_json().unwrap()
    })
    .await;
    // The content can arrive by a live push before the first catch-up session ends (which
    // sets `last_sync_ms`): poll for it with a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.sync_status(id).await.unwrap().last_sync_ms.is_none() {
        assert!(
            Instant::now() < deadline,
            "B reports no finished sync with A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A free port other than A's, for A's new address.
    let new_port = loop {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = s.local_addr().unwrap().port();
        if p != old_port {
            break p;
        }
    };
    let t0 = Instant::now();
    let info = a
        .network_changed(Some(fieldsync::NetworkConfig::loopback(new_port)))
        .await
        .unwrap()
        .expect("the network runs");
    assert_eq!(info.addrs[0].port(), new_port, "A rebound on the new port");
    let call = t0.elapsed();
    let t1 = Instant::now();
    doc.text("t").unwrap().push(" after A").unwrap();
    let doc_b = b.document(id).unwrap();
    doc_b.text("t").unwrap().push(" after B").unwrap();
    wait_until("both edits on both nodes", Duration::from_secs(2), || {
        let (ja, jb) = (doc.to_json().unwrap(), json_of(&b, id));
        ja == jb && ja.contains("after A") && ja.contains("after B")
    })
    .await;
    eprintln!(
        "network_changed took {call:?}; both edits on both nodes {:?} after it returned",
        t1.elapsed()
    );
    // Without a running network there is nothing to rebind.
    a.stop_network().await.unwrap();
    assert!(a.network_changed(None).await.unwrap().is_none());
    b.stop_network().await.unwrap();
}

/// `pending_ops` means "no peer holds it yet": once a peer has caught up, the writer's outbox
/// is empty within 1 s (the catch-up session acknowledges what it delivered, without waiting
/// for the peer's next announcement).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_drains_within_a_second_of_convergence() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = a.create_document().unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    let list = doc.list("readings").unwrap();
    for i in 0..200 {
        list.push(Value::Int(i)).unwrap();
    }
    assert!(doc.pending_ops().unwrap() >= 200);
    go_online(&a).await;
    go_online(&b).await;
    b.join(&doc.invite().await.unwrap()).await.unwrap();
    let id = doc.id();
    let want = doc.to_json().unwrap();
    wait_until("B converges", Duration::from_secs(30), || {
        json_of(&b, id) == want
    })
    .await;
    let converged = Instant::now();
    wait_until("A's outbox drains", Duration::from_secs(1), || {
        doc.pending_ops().unwrap() == 0
    })
    .await;
    eprintln!("outbox empty {:?} after B converged", converged.elapsed());
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}

/// `NetworkConfig::allow`: a node that allows only another device hears nothing from a
/// member outside the list; once the member is allowed (the network restarted with it), its
/// edit arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_devices_sync() {
    let (_dirs, [a, b, other]) = open_nodes();
    let doc = a.create_document().unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    doc.text("t").unwrap().push("from A").unwrap();
    let only_other = fieldsync::NetworkConfig {
        allow: Some(vec![other.author()]),
        discovery: false,
        ..fieldsync::NetworkConfig::loopback(0)
    };
    let info_a = a.start_network(only_other).await.unwrap();
    go_online(&b).await;
    b.add_peer(fieldsync::PeerAddr {
        node: a.author(),
        addrs: info_a.addrs.clone(),
        relay: None,
    })
    .await
    .unwrap();
    let id = doc.id();
    let doc_b = b.document_or_register(id).unwrap();
    // B is a member but not allowed: nothing crosses in either direction.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !json_of(&b, id).contains("from A"),
        "A synced with a device it does not allow"
    );
    // Allowed now: B catches up.
    a.network_changed(Some(fieldsync::NetworkConfig {
        allow: Some(vec![b.author()]),
        ..fieldsync::NetworkConfig::loopback(0)
    }))
    .await
    .unwrap();
    b.add_peer(fieldsync::PeerAddr {
        node: a.author(),
        addrs: a.network_info().await.unwrap().addrs,
        relay: None,
    })
    .await
    .unwrap();
    wait_until("B catches up once allowed", Duration::from_secs(30), || {
        json_of(&b, id).contains("from A")
    })
    .await;
    drop(doc_b);
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}

/// An idle node announces its heads only every `heads_interval` (minutes by default) and
/// its connections send a keep-alive only after 30 s of quiet, yet a change made after the
/// peers went quiet arrives within a second: the operation is pushed and the heads go out
/// within 100 ms of the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_after_an_idle_spell_arrives_within_a_second() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = a.create_document().unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    doc.text("t").unwrap().push("before").unwrap();
    assert_eq!(
        fieldsync::NetworkConfig::default().heads_interval,
        Duration::from_secs(1800)
    );
    assert_eq!(
        fieldsync::NetworkConfig::default().keep_alive,
        Duration::from_secs(30)
    );
    go_online(&a).await;
    go_online(&b).await;
    b.join(&doc.invite().await.unwrap()).await.unwrap();
    let id = doc.id();
    wait_until("B catches up with A", Duration::from_secs(30), || {
        json_of(&b, id) == doc.to_json().unwrap()
    })
    .await;
    // The idle spell under test (longer than the keep-alive period, so the connection has
    // been quiet and kept alive once), not a wait for an event.
    tokio::time::sleep(Duration::from_secs(35)).await;
    doc.text("t").unwrap().push(" after").unwrap();
    let changed = Instant::now();
    wait_until("B has the change", Duration::from_secs(1), || {
        json_of(&b, id).contains("after")
    })
    .await;
    eprintln!("change arrived {:?} after an idle spell", changed.elapsed());
    a.stop_network().await.unwrap();
    b.stop_network().await.unwrap();
}
