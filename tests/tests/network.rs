//! Sync over real QUIC connections on 127.0.0.1.

use std::time::{Duration, Instant};

use fieldsync::{Event, Value};
use fieldsync_tests::{go_online, json_of, open_node, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_edit_visible_within_two_seconds() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let b = open_node(db.path());
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
