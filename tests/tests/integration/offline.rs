//! Sync with no network at all: offline bundles (files, QR chunks), carried by relays that
//! cannot read them, and an app-supplied link (an in-memory transport here: no QUIC, no
//! sockets) that is cut mid-sync and resumed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fieldsync::{BundleChunks, BundleError, Error, Link, LinkError, LinkRole, Node, Role};
use fieldsync_tests::{json_of, open_nodes};
use futures_util::future::BoxFuture;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;

/// A document of `a` shared with `b` by key bundle, offline (as an admin adds a member it
/// met in person); `b` registers the id (as a join would).
fn shared_offline(a: &Node, b: &Node) -> fieldsync::Document {
    let doc = a.create_document().unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    doc
}

#[tokio::test]
async fn a_bundle_round_trip_with_no_network() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = shared_offline(&a, &b);
    let id = doc.id();
    doc.text("notes")
        .unwrap()
        .push("water point 7: dry")
        .unwrap();
    // Everything A holds, to a device that has never heard of the document.
    let first = a.export_bundle(id, None).await.unwrap();
    assert!(first.operations >= 3, "{}", first.operations);
    let imported = b.import_bundle(&first.bytes).await.unwrap();
    assert_eq!(imported.document, id);
    assert_eq!(imported.exporter, a.author());
    assert_eq!(imported.operations, first.operations);
    assert_eq!(json_of(&b, id), json_of(&a, id));
    assert!(json_of(&b, id).contains("water point 7"));
    // B answers; A asks only for what it lacks.
    b.document(id)
        .unwrap()
        .text("notes")
        .unwrap()
        .push(" / checked by B")
        .unwrap();
    let request = a.bundle_request(id).await.unwrap();
    let reply = b.export_bundle(id, Some(&request)).await.unwrap();
    assert_eq!(reply.operations, 1, "only B's edit travels back");
    a.import_bundle(&reply.bytes).await.unwrap();
    assert_eq!(json_of(&a, id), json_of(&b, id));
    // Importing twice changes nothing.
    a.import_bundle(&reply.bytes).await.unwrap();
    assert_eq!(json_of(&a, id), json_of(&b, id));
    // A request for another document is refused with a typed error.
    let other = a.create_document().unwrap();
    assert!(matches!(
        b.export_bundle(id, Some(&a.bundle_request(other.id()).await.unwrap()))
            .await,
        Err(Error::Bundle(BundleError::Malformed(_)))
    ));
}

#[tokio::test]
async fn a_tampered_bundle_is_refused_and_nothing_of_it_applied() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = shared_offline(&a, &b);
    let id = doc.id();
    doc.text("t").unwrap().push("confidential").unwrap();
    let bundle = a.export_bundle(id, None).await.unwrap().bytes;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut positions: Vec<usize> = vec![0, 5, 40, 80, bundle.len() / 2, bundle.len() - 1];
    positions.extend((0..20).map(|_| rng.gen_range(0..bundle.len())));
    for at in positions {
        let mut tampered = bundle.clone();
        tampered[at] ^= 0x20;
        match b.import_bundle(&tampered).await {
            Err(Error::Bundle(BundleError::BadSignature | BundleError::Malformed(_))) => {}
            other => panic!("byte {at}: {other:?}"),
        }
        assert!(
            b.documents().unwrap().is_empty(),
            "byte {at}: nothing applied"
        );
    }
    assert!(matches!(
        b.import_bundle(&bundle[..bundle.len() - 1]).await,
        Err(Error::Bundle(_))
    ));
    assert!(matches!(
        b.import_bundle(b"not a bundle").await,
        Err(Error::Bundle(BundleError::Malformed(_)))
    ));
    assert!(b.documents().unwrap().is_empty());
    // The untouched file still imports.
    b.import_bundle(&bundle).await.unwrap();
    assert!(json_of(&b, id).contains("confidential"));
}

#[tokio::test]
async fn qr_chunks_read_shuffled_with_duplicates_make_the_bundle() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = shared_offline(&a, &b);
    let id = doc.id();
    let text = doc.text("t").unwrap();
    for i in 0..200 {
        text.push(&format!("reading {i}; ")).unwrap();
    }
    let bundle = a.export_bundle(id, None).await.unwrap();
    let chunks = bundle.chunks(2048).unwrap();
    assert!(chunks.len() > 3, "{} chunks", chunks.len());
    assert!(chunks.iter().all(|c| c.len() <= 2048));
    let mut order: Vec<&Vec<u8>> = chunks.iter().chain(chunks.iter().step_by(3)).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(3));
    let mut assembler = BundleChunks::new();
    let mut whole = None;
    for chunk in order {
        if let Some(done) = assembler.add(chunk).unwrap() {
            whole = Some(done);
        }
    }
    let whole = whole.expect("every chunk was read");
    assert_eq!(whole, bundle.bytes);
    b.import_bundle(&whole).await.unwrap();
    assert_eq!(json_of(&b, id), json_of(&a, id));
}

#[tokio::test]
async fn bundles_travel_through_two_relays_that_cannot_read_them() {
    let (_dirs, [a, r1, r2, b]) = open_nodes();
    let doc = shared_offline(&a, &b);
    let id = doc.id();
    doc.add_relay(r1.author()).unwrap();
    doc.add_relay(r2.author()).unwrap();
    doc.text("t")
        .unwrap()
        .push("household 12: 4 people")
        .unwrap();
    // A -> R1 -> R2 -> B, by files only; A and B never meet.
    let hop = |from: &Node| {
        let from = from.clone();
        async move { from.export_bundle(id, None).await.unwrap().bytes }
    };
    r1.import_bundle(&hop(&a).await).await.unwrap();
    r2.import_bundle(&hop(&r1).await).await.unwrap();
    b.import_bundle(&hop(&r2).await).await.unwrap();
    assert_eq!(json_of(&b, id), json_of(&a, id));
    for relay in [&r1, &r2] {
        let at = relay.document(id).unwrap();
        assert_eq!(at.my_role().unwrap(), Some(Role::Relay));
        assert!(!at.can_read().unwrap());
        assert!(!json_of(relay, id).contains("household"));
    }
    // And back: B's edit reaches A the same way.
    b.document(id)
        .unwrap()
        .text("t")
        .unwrap()
        .push(" (visited)")
        .unwrap();
    r2.import_bundle(&hop(&b).await).await.unwrap();
    r1.import_bundle(&hop(&r2).await).await.unwrap();
    a.import_bundle(&hop(&r1).await).await.unwrap();
    assert_eq!(json_of(&a, id), json_of(&b, id));
    assert!(json_of(&a, id).contains("(visited)"));
}

/// One direction of an in-memory link: bytes queued, handed out in pieces of random size
/// (a byte stream), until the link is cut.
struct Pipe {
    queue: Mutex<(VecDeque<u8>, bool)>,
    notify: tokio::sync::Notify,
}

/// An in-memory link end: sends into one pipe, receives from the other; cut once
/// `cut_after` bytes were sent in total (both ends share the counter).
struct MemLink {
    out: Arc<Pipe>,
    inp: Arc<Pipe>,
    sent: Arc<AtomicUsize>,
    cut_after: usize,
    mtu: usize,
}

impl MemLink {
    fn pair(mtu: usize, cut_after: usize) -> (Arc<MemLink>, Arc<MemLink>) {
        let pipe = || {
            Arc::new(Pipe {
                queue: Mutex::new((VecDeque::new(), false)),
                notify: tokio::sync::Notify::new(),
            })
        };
        let (x, y) = (pipe(), pipe());
        let sent = Arc::new(AtomicUsize::new(0));
        let end = |out: &Arc<Pipe>, inp: &Arc<Pipe>| {
            Arc::new(MemLink {
                out: out.clone(),
                inp: inp.clone(),
                sent: sent.clone(),
                cut_after,
                mtu,
            })
        };
        (end(&x, &y), end(&y, &x))
    }

    async fn cut(&self) {
        for pipe in [&self.out, &self.inp] {
            pipe.queue.lock().await.1 = true;
            pipe.notify.notify_waiters();
        }
    }
}

impl Link for MemLink {
    fn send(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), LinkError>> {
        Box::pin(async move {
            assert!(bytes.len() <= self.mtu, "a send within the MTU");
            if self.sent.fetch_add(bytes.len(), Ordering::SeqCst) + bytes.len() > self.cut_after {
                self.cut().await;
                return Err(LinkError::Io("cut".into()));
            }
            let mut q = self.out.queue.lock().await;
            if q.1 {
                return Err(LinkError::Io("cut".into()));
            }
            q.0.extend(bytes);
            drop(q);
            self.out.notify.notify_waiters();
            Ok(())
        })
    }

    fn receive(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, LinkError>> {
        Box::pin(async move {
            loop {
                let notified = self.inp.notify.notified();
                {
                    let mut q = self.inp.queue.lock().await;
                    if q.1 {
                        return Ok(None);
                    }
                    if !q.0.is_empty() {
                        let n = rand::thread_rng().gen_range(1..=q.0.len().min(700));
                        return Ok(Some(q.0.drain(..n).collect()));
                    }
                }
                notified.await;
            }
        })
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

async fn sync_pair(
    a: &Node,
    b: &Node,
    mtu: usize,
    cut_after: usize,
) -> (
    Result<fieldsync::LinkReport, Error>,
    Result<fieldsync::LinkReport, Error>,
) {
    let (la, lb) = MemLink::pair(mtu, cut_after);
    let run = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        tokio::join!(
            a.sync_over_link(la, LinkRole::Initiator),
            b.sync_over_link(lb, LinkRole::Responder)
        )
    });
    run.await.expect("a link sync ends within 2 minutes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sync_over_an_in_memory_link_cut_mid_sync_and_resumed() {
    let (_dirs, [a, b, outsider]) = open_nodes();
    let doc = shared_offline(&a, &b);
    let id = doc.id();
    b.document_or_register(id).unwrap();
    let text = doc.text("log").unwrap();
    for i in 0..1500 {
        text.push(&format!("entry {i}; ")).unwrap();
    }
    let total = a.operations(id).unwrap().len();
    // The link dies after ~120 KB: part of the history arrived.
    let (ra, rb) = sync_pair(&a, &b, 512, 120_000).await;
    assert!(
        matches!(ra, Err(Error::Link(_))) && matches!(rb, Err(Error::Link(_))),
        "{ra:?} / {rb:?}"
    );
    let partial = b.operations(id).unwrap().len();
    assert!(partial > 0 && partial < total, "{partial} of {total}");
    // A new link: only the rest travels, both converge, and edits flow both ways.
    b.document(id)
        .unwrap()
        .text("log")
        .unwrap()
        .push("B was here")
        .unwrap();
    let (ra, rb) = sync_pair(&a, &b, 512, usize::MAX).await;
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.peer, b.author());
    assert_eq!(rb.peer, a.author());
    assert_eq!(ra.documents, 1);
    assert_eq!(rb.received_ops as usize, total - partial, "only the rest");
    assert_eq!(ra.received_ops, 1);
    assert_eq!(json_of(&a, id), json_of(&b, id));
    assert!(json_of(&a, id).contains("B was here"));
    // A device without a role gets nothing over a link either.
    let (ro, _) = sync_pair(&outsider, &a, 512, usize::MAX).await;
    assert_eq!(ro.unwrap().documents, 0);
    assert!(outsider.documents().unwrap().is_empty());
    // Two initiators refuse each other; an MTU below the minimum is refused up front.
    let (l1, l2) = MemLink::pair(512, usize::MAX);
    let (r1, r2) = tokio::join!(
        a.sync_over_link(l1, LinkRole::Initiator),
        b.sync_over_link(l2, LinkRole::Initiator)
    );
    assert!(
        matches!(r1, Err(Error::Link(LinkError::Handshake(_)))),
        "{r1:?}"
    );
    assert!(
        matches!(r2, Err(Error::Link(LinkError::Handshake(_)))),
        "{r2:?}"
    );
    let (small, _) = MemLink::pair(64, usize::MAX);
    assert!(matches!(
        a.sync_over_link(small, LinkRole::Initiator).await,
        Err(Error::Link(LinkError::Mtu(64)))
    ));
}

/// A link that flips one bit of what passes after the handshake: the session ends with a
/// typed error and nothing forged is applied.
#[tokio::test]
async fn a_changed_record_on_the_link_ends_the_session() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = shared_offline(&a, &b);
    let id = doc.id();
    b.document_or_register(id).unwrap();
    doc.text("t").unwrap().push("x").unwrap();
    struct Flip(Arc<MemLink>, AtomicUsize);
    impl Link for Flip {
        fn send(&self, mut bytes: Vec<u8>) -> BoxFuture<'_, Result<(), LinkError>> {
            // The 3rd send is the first record after the two handshake records.
            if self.1.fetch_add(1, Ordering::SeqCst) == 2 {
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
            }
            self.0.send(bytes)
        }
        fn receive(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, LinkError>> {
            self.0.receive()
        }
        fn mtu(&self) -> usize {
            self.0.mtu()
        }
    }
    let (la, lb) = MemLink::pair(512, usize::MAX);
    let flip = Arc::new(Flip(la.clone(), AtomicUsize::new(0)));
    let (ra, rb) = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        tokio::join!(a.sync_over_link(flip, LinkRole::Initiator), async {
            let r = b.sync_over_link(lb, LinkRole::Responder).await;
            la.cut().await;
            r
        })
    })
    .await
    .unwrap();
    assert!(
        matches!(rb, Err(Error::Link(LinkError::Protocol(_)))),
        "{rb:?}"
    );
    assert!(ra.is_err(), "{ra:?}");
    assert!(!json_of(&b, id).contains('x'));
}

/// A bundle of a document this device has no role in: like the same operations from a
/// network peer, nothing of it is readable here, and this device is given no role.
#[tokio::test]
async fn a_bundle_for_a_device_without_a_role_gives_it_nothing_to_read() {
    let (_dirs, [a, outsider]) = open_nodes();
    let doc = a.create_document().unwrap();
    doc.text("t").unwrap().push("members only").unwrap();
    let bundle = a.export_bundle(doc.id(), None).await.unwrap();
    outsider.import_bundle(&bundle.bytes).await.unwrap();
    let held = outsider.document(doc.id()).unwrap();
    assert_eq!(held.my_role().unwrap(), None);
    assert!(!held.can_read().unwrap());
    assert_eq!(held.to_json().unwrap(), "{}");
}

/// A bundle of everything starts from the writer's snapshot: the operations it covers stay
/// home, the importer converges with the state.
#[tokio::test]
async fn a_bundle_of_everything_carries_the_snapshot_not_the_history() {
    let (_dirs, [a, b]) = open_nodes();
    let doc = shared_offline(&a, &b);
    let id = doc.id();
    let text = doc.text("t").unwrap();
    for i in 0..300 {
        text.push(&format!("{i},")).unwrap();
    }
    let full = a.export_bundle(id, None).await.unwrap();
    doc.publish_snapshot().unwrap();
    text.push("after").unwrap();
    let from_snapshot = a.export_bundle(id, None).await.unwrap();
    assert!(
        from_snapshot.operations < 20 && from_snapshot.operations * 10 < full.operations,
        "{} operations with a snapshot, {} without",
        from_snapshot.operations,
        full.operations
    );
    b.import_bundle(&from_snapshot.bytes).await.unwrap();
    assert_eq!(json_of(&b, id), json_of(&a, id));
    assert!(json_of(&b, id).contains("299,after"));
}
