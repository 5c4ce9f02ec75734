//! Sync without QUIC (#30): a bundle of a whole history exported and imported, and the same
//! history over an app-supplied link (an in-memory pipe), next to the QUIC catch-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldsync::{Link, LinkError, LinkRole};
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, Mutex};

use crate::local::{fill, two_nodes};

/// Figures of one history moved by bundle and by link.
pub struct Offline {
    /// Operations in the history.
    pub ops: u64,
    /// Bundle bytes.
    pub bundle_bytes: usize,
    /// Time to export the bundle.
    pub export: Duration,
    /// Time to import it on a device that held nothing.
    pub import: Duration,
    /// Time to sync the history to another device that held nothing over an in-memory link.
    pub link: Duration,
    /// Bytes that crossed the link (both directions, records included).
    pub link_bytes: usize,
}

/// A message link over in-memory channels; counts the bytes sent.
struct Pipe {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    rx: Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
    sent: Arc<std::sync::atomic::AtomicUsize>,
}

impl Link for Pipe {
    fn send(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), LinkError>> {
        self.sent
            .fetch_add(bytes.len(), std::sync::atomic::Ordering::Relaxed);
        let r = self.tx.send(bytes).map_err(|_| LinkError::Closed);
        Box::pin(async move { r })
    }

    fn receive(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, LinkError>> {
        Box::pin(async move { Ok(self.rx.lock().await.recv().await) })
    }

    fn mtu(&self) -> usize {
        // An L2CAP channel's or a Wi-Fi Aware socket's order of magnitude.
        16 * 1024
    }
}

/// A history of `n` one-character edits on A, moved to fresh devices by bundle and by link.
pub async fn run(n: usize) -> Offline {
    let (_da, _db, a, b, doc) = two_nodes(true);
    fill(&doc, n);
    let id = doc.id();
    let start = Instant::now();
    let bundle = a.export_bundle(id, None).await.expect("export");
    let export = start.elapsed();
    let start = Instant::now();
    let imported = b.import_bundle(&bundle.bytes).await.expect("import");
    let import = start.elapsed();
    assert_eq!(imported.operations, bundle.operations);
    assert_eq!(
        b.document(id).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
    // Over a link, to a third device.
    let dc = tempfile::tempdir().expect("tempdir");
    let c = crate::local::open(dc.path(), true);
    doc.add_member(&c.key_bundle().expect("bundle"))
        .expect("member");
    c.document_or_register(id).expect("register");
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (t1, r1) = mpsc::unbounded_channel();
    let (t2, r2) = mpsc::unbounded_channel();
    let la = Arc::new(Pipe {
        tx: t1,
        rx: Mutex::new(r2),
        sent: sent.clone(),
    });
    let lc = Arc::new(Pipe {
        tx: t2,
        rx: Mutex::new(r1),
        sent: sent.clone(),
    });
    let start = Instant::now();
    let (ra, rc) = tokio::join!(
        a.sync_over_link(la, LinkRole::Initiator),
        c.sync_over_link(lc, LinkRole::Responder)
    );
    let link = start.elapsed();
    ra.expect("link sync (A)");
    rc.expect("link sync (C)");
    assert_eq!(
        c.document(id).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
    Offline {
        ops: bundle.operations,
        bundle_bytes: bundle.bytes.len(),
        export,
        import,
        link,
        link_bytes: sent.load(std::sync::atomic::Ordering::Relaxed),
    }
}
