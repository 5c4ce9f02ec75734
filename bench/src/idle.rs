//! Idle traffic (issue #28): three nodes sharing 20 documents on loopback, nothing
//! changing; the loopback interface's transmit counters over a window, in a network
//! namespace of their own (`unshare -rn`) so that nothing else on the machine is counted.
//!
//! Every packet between the nodes crosses `lo` once, so a node sends a third of the total
//! and, with two peers, a sixth per peer.

use std::path::Path;
use std::time::{Duration, Instant};

use fieldsync::{Document, NetworkConfig, Node};

/// The subcommand the namespaced child runs.
pub const CHILD: &str = "idle-child";

const DOCUMENTS: usize = 20;
const NODES: u64 = 3;

/// Per node: (bytes per minute, packets per minute per peer).
pub struct Idle {
    pub bytes_per_min: f64,
    pub packets_per_min_per_peer: f64,
}

/// Runs the measurement in a fresh network namespace for `window` with the given heads
/// period and discovery setting. `None` when namespaces are not available here.
pub fn measure(heads: Duration, discovery: bool, window: Duration) -> Option<Idle> {
    let text = crate::child::in_namespace([
        CHILD,
        &heads.as_millis().to_string(),
        if discovery { "1" } else { "0" },
        &window.as_millis().to_string(),
    ])
    .map_err(|e| eprintln!("idle measurement failed: {e}"))
    .ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some(Idle {
        bytes_per_min: it.next()??,
        packets_per_min_per_peer: it.next()??,
    })
}

/// `lo`'s (transmitted bytes, transmitted packets).
fn lo_tx() -> (u64, u64) {
    let dev = std::fs::read_to_string("/proc/net/dev").expect("/proc/net/dev");
    for line in dev.lines() {
        if let Some(rest) = line.trim_start().strip_prefix("lo:") {
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            return (f[8], f[9]);
        }
    }
    panic!("no lo in /proc/net/dev")
}

/// The child: prints "bytes-per-minute-per-node packets-per-minute-per-peer".
pub fn child(heads_ms: u64, discovery: bool, window_ms: u64) -> String {
    let rt = crate::runtime();
    rt.block_on(async {
        let dirs: Vec<tempfile::TempDir> = (0..NODES)
            .map(|_| tempfile::tempdir().expect("tempdir"))
            .collect();
        let nodes: Vec<Node> = dirs
            .iter()
            .map(|d| crate::local::open(d.path(), true))
            .collect();
        let docs: Vec<Document> = (0..DOCUMENTS)
            .map(|i| {
                let doc = nodes[0].create_document().expect("document");
                for n in &nodes[1..] {
                    doc.add_member(&n.key_bundle().expect("bundle"))
                        .expect("member");
                }
                doc.text("t")
                    .expect("text")
                    .push(&format!("doc {i}"))
                    .expect("edit");
                doc
            })
            .collect();
        let config = NetworkConfig {
            heads_interval: Duration::from_millis(heads_ms),
            discovery,
            ..NetworkConfig::loopback(0)
        };
        for n in &nodes {
            n.start_network(config.clone()).await.expect("network");
        }
        for doc in &docs {
            let invite = doc.invite().await.expect("invite");
            for n in &nodes[1..] {
                n.join(&invite).await.expect("join");
            }
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let converged = |n: &Node| {
            docs.iter().all(|d| {
                n.document(d.id())
                    .and_then(|x| Ok(x.to_json()?))
                    .is_ok_and(|j| j == d.to_json().expect("json"))
            })
        };
        while !nodes[1..].iter().all(converged) {
            assert!(Instant::now() < deadline, "the nodes did not converge");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the joins' follow-up sessions and acknowledgements finish.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut events: Vec<_> = nodes.iter().map(|n| n.subscribe()).collect();
        let (b0, p0) = lo_tx();
        tokio::time::sleep(Duration::from_millis(window_ms)).await;
        let (b1, p1) = lo_tx();
        // What the nodes did meanwhile, on stderr (the figures are on stdout).
        let mut kinds: std::collections::BTreeMap<String, u64> = Default::default();
        for stream in &mut events {
            while let Some(e) = stream.try_next() {
                let name = format!("{e:?}");
                let name = name.split([' ', '{', '(']).next().unwrap_or("").to_string();
                *kinds.entry(name).or_default() += 1;
            }
        }
        eprintln!("events during the window: {kinds:?}");
        let per_min = 60_000.0 / window_ms as f64;
        let bytes = (b1 - b0) as f64 * per_min / NODES as f64;
        let packets = (p1 - p0) as f64 * per_min / (NODES * (NODES - 1)) as f64;
        for n in &nodes {
            let _ = n.stop_network().await;
        }
        format!("{bytes:.0} {packets:.1}")
    })
}

/// True when this process may create namespaces (`unshare -rn`).
pub fn available() -> bool {
    Path::new("/usr/bin/unshare").exists()
        && std::process::Command::new("unshare")
            .args(["-rn", "true"])
            .status()
            .is_ok_and(|s| s.success())
}
