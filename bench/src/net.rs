//! Figures over QUIC between two nodes on 127.0.0.1: catch-up, live throughput, and
//! edit-to-visible latency.

use std::time::{Duration, Instant};

use fieldsync::{AuthorId, Document, DocumentId, Event, NetworkConfig, Node, Origin, PeerPath};

use crate::local::{fill, two_nodes};
use crate::stats::Samples;

const DEADLINE: Duration = Duration::from_secs(600);

pub(crate) async fn online(node: &Node) {
    online_with(node, NetworkConfig::loopback(0)).await
}

/// Starts `node`'s network with `config`.
pub(crate) async fn online_with(node: &Node, config: NetworkConfig) {
    node.start_network(config).await.expect("start network");
}

/// CPU per operation of a catch-up by thread role (see [`role`]), e.g. `ingest thread 35,
/// ...` in µs, and the total in µs.
pub fn cpu_per_op(c: &Catchup) -> (String, f64) {
    let per_op = |d: &Duration| d.as_secs_f64() * 1e6 / c.ops.max(1) as f64;
    let parts: Vec<String> = c
        .cpu
        .iter()
        .filter(|(_, d)| per_op(d) >= 0.5)
        .map(|(name, d)| format!("{} {:.0}", role(name), per_op(d)))
        .collect();
    let total: f64 = c.cpu.iter().map(|(_, d)| per_op(d)).sum();
    (parts.join(", "), total)
}

/// What a thread of a catch-up run does, by its (15-character) name.
fn role(thread: &str) -> String {
    let role = match thread {
        // `operation::parallel_map` shares each batch between the calling thread and scoped
        // threads it starts: the verify stage's (Ed25519 verification, most of it) and the
        // ingest thread's (the Loro attribution check). The scoped ones are the only threads
        // that start and end during a catch-up.
        "fieldsync-verif" => "verify stage thread (its share of verification)",
        crate::cpu::ENDED => "per-batch workers (verification, attribution check; ended threads)",
        "fieldsync-inges" => "ingest thread (with its share of the attribution check)",
        "tokio-rt-worker" => "tokio workers (QUIC, gossip, catch-up tasks)",
        "fieldsync-check" => "WAL checkpointers",
        "bench-writer" => "receiver's own writes",
        crate::cpu::MAIN => "main thread (polls progress)",
        // p2panda-net's actors run on threads of their own (ractor thread-local runtimes)
        // that have no name: QUIC connections and the catch-up sessions they accept, on both
        // nodes.
        crate::cpu::UNNAMED => {
            "p2panda-net actor threads (connections, accepted catch-up sessions)"
        }
        other => other,
    };
    role.to_string()
}

/// Polls until `b` holds as many operations of `id` as `a`, or panics after the deadline.
pub(crate) async fn until_caught_up(a: &Document, b: &Node, id: DocumentId) {
    let want = a.op_count().expect("count");
    let deadline = Instant::now() + DEADLINE;
    loop {
        let have = b.document(id).and_then(|d| Ok(d.op_count()?)).unwrap_or(0);
        if have >= want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sync did not finish within {DEADLINE:?}: {have} of {want} operations"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub(crate) fn assert_same(a: &Document, b: &Node) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let theirs = b
            .document(a.id())
            .and_then(|d| d.to_json().map_err(Into::into));
        if theirs.ok().as_deref() == Some(a.to_json().expect("json").as_str()) {
            return;
        }
        assert!(Instant::now() < deadline, "replicas diverged after sync");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A catch-up run: the receiver's data directory is kept for the size figures.
pub struct Catchup {
    /// Operations transferred.
    pub ops: u64,
    /// From `join` to holding every operation.
    pub elapsed: Duration,
    /// The receiving node's data directory (holds `ops` operations).
    pub receiver_dir: tempfile::TempDir,
    /// The document.
    pub document: DocumentId,
    /// Latency of single-edit commits the receiver made to another document of its own
    /// while catching up (one every [`WRITE_EVERY`]): what an app editing meanwhile sees.
    pub writes_meanwhile: Samples,
    /// CPU time of both nodes' threads during the catch-up, by thread name, largest first
    /// (empty where `/proc` is not available).
    pub cpu: Vec<(String, Duration)>,
    /// The path the receiver's session with the sender took (relayed or direct).
    pub path: Option<PeerPath>,
}

impl Catchup {
    /// Wall-clock time per operation received, in µs.
    pub fn us_per_op(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.ops as f64
    }
}

/// Pause between the receiver's own writes during a catch-up.
const WRITE_EVERY: Duration = Duration::from_millis(20);

/// Commits one single-character edit to `doc` every [`WRITE_EVERY`] until `stop` is set,
/// timing each commit.
fn write_until(doc: Document, stop: &std::sync::atomic::AtomicBool) -> Samples {
    let text = doc.text("t").expect("text");
    let mut samples = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::Acquire) {
        let start = Instant::now();
        text.push("x").expect("edit");
        samples.push(start.elapsed());
        std::thread::sleep(WRITE_EVERY);
    }
    Samples::new(samples)
}

/// A holds `n` single-edit operations written offline; B joins and catches up over QUIC,
/// while it keeps editing a document of its own.
pub async fn catchup(n: usize) -> Catchup {
    catchup_with(n, NetworkConfig::loopback(0)).await
}

/// [`catchup`] with both nodes on `config`.
pub async fn catchup_with(n: usize, config: NetworkConfig) -> Catchup {
    let (_da, db, a, b, doc) = two_nodes(true);
    fill(&doc, n);
    let own = b.create_document().expect("own document");
    online_with(&a, config.clone()).await;
    online_with(&b, config).await;
    let invite = doc.invite().await.expect("invite");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("bench-writer".into())
            .spawn(move || write_until(own, &stop))
            .expect("writer thread")
    };
    let cpu_before = crate::cpu::snapshot();
    let start = Instant::now();
    b.join(&invite).await.expect("join");
    until_caught_up(&doc, &b, doc.id()).await;
    let elapsed = start.elapsed();
    let cpu = match (cpu_before, crate::cpu::snapshot()) {
        (Some(before), Some(after)) => crate::cpu::between(&before, &after),
        _ => Vec::new(),
    };
    stop.store(true, std::sync::atomic::Ordering::Release);
    let writes_meanwhile = writer.join().expect("writer thread");
    assert_same(&doc, &b);
    let ops = doc.op_count().expect("count");
    let id = doc.id();
    let path = path_to(&b, id, a.author()).await;
    a.stop_network().await.expect("stop");
    b.stop_network().await.expect("stop");
    drop(doc);
    drop(a);
    drop(b);
    Catchup {
        ops,
        elapsed,
        receiver_dir: db,
        document: id,
        writes_meanwhile,
        cpu,
        path,
    }
}

/// The path `node`'s last sync session of `document` with `peer` took, if any.
pub(crate) async fn path_to(node: &Node, document: DocumentId, peer: AuthorId) -> Option<PeerPath> {
    let status = node.sync_status(document).await.ok()?;
    status
        .peers
        .into_iter()
        .find(|p| p.peer == peer)
        .and_then(|p| p.path)
}

/// Two connected nodes on `config` sharing one encrypted document.
async fn pair(
    config: NetworkConfig,
) -> (tempfile::TempDir, tempfile::TempDir, Node, Node, Document) {
    let (da, db, a, b, doc) = two_nodes(true);
    doc.text("t").expect("text").push("start").expect("edit");
    online_with(&a, config.clone()).await;
    online_with(&b, config).await;
    b.join(&doc.invite().await.expect("invite"))
        .await
        .expect("join");
    until_caught_up(&doc, &b, doc.id()).await;
    assert_same(&doc, &b);
    (da, db, a, b, doc)
}

/// Live sync: both nodes connected, A writes `n` operations as fast as it can; returns (time
/// A spent writing, time until B held all of them).
pub async fn live(n: usize) -> (Duration, Duration) {
    let (_da, _db, a, b, doc) = pair(NetworkConfig::loopback(0)).await;
    let start = Instant::now();
    let text = doc.text("t").expect("text");
    for _ in 0..n {
        text.push("x").expect("edit");
        // Let the network tasks run between commits, as an app's event loop would.
        tokio::task::yield_now().await;
    }
    let written = start.elapsed();
    until_caught_up(&doc, &b, doc.id()).await;
    let elapsed = start.elapsed();
    assert_same(&doc, &b);
    a.stop_network().await.expect("stop");
    b.stop_network().await.expect("stop");
    (written, elapsed)
}

/// Edit-to-visible latency: A commits one edit, the clock stops when B reports it applied.
pub async fn latency(edits: usize) -> Samples {
    latency_with(edits, NetworkConfig::loopback(0)).await.0
}

/// [`latency`] with both nodes on `config`; also the path B's session with A took.
pub async fn latency_with(edits: usize, config: NetworkConfig) -> (Samples, Option<PeerPath>) {
    let (_da, _db, a, b, doc) = pair(config).await;
    let mut events = b.subscribe();
    let text = doc.text("t").expect("text");
    let mut samples = Vec::with_capacity(edits);
    for i in 0..edits {
        let start = Instant::now();
        text.push("x").expect("edit");
        let want = doc.op_count().expect("count");
        loop {
            let event = tokio::time::timeout(Duration::from_secs(30), events.next())
                .await
                .unwrap_or_else(|_| panic!("edit {i} not visible on B within 30 s"));
            match event {
                Some(Event::DocumentChanged {
                    document,
                    origin: Origin::Remote(_),
                }) if document == doc.id() => {
                    if b.document(doc.id())
                        .and_then(|d| Ok(d.op_count()?))
                        .unwrap_or(0)
                        >= want
                    {
                        break;
                    }
                }
                Some(_) => {}
                None => panic!("event stream closed"),
            }
        }
        samples.push(start.elapsed());
    }
    assert_same(&doc, &b);
    let path = path_to(&b, doc.id(), a.author()).await;
    a.stop_network().await.expect("stop");
    b.stop_network().await.expect("stop");
    (Samples::new(samples), path)
}
