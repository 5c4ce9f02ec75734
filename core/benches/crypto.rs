//! Cost of end-to-end encryption per operation: local write and remote ingest, encrypted
//! (default) next to the unencrypted path (`NodeConfig::encrypt = false`).
//!
//! Run with `cargo bench -p fieldsync --bench crypto --ignore-rust-version`; set
//! `FIELDSYNC_BENCH_OPS` to change the number of operations per measurement (default 300).

use std::time::{Duration, Instant};

use fieldsync::{Node, NodeConfig};

fn open(dir: &std::path::Path, encrypt: bool) -> Node {
    let mut cfg = NodeConfig::new(dir);
    cfg.encrypt = encrypt;
    Node::open(cfg).expect("open node")
}

struct Measure {
    write: Duration,
    ingest: Duration,
    body_bytes: usize,
}

fn run(encrypt: bool, ops: usize, payload: usize) -> Measure {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open(da.path(), encrypt);
    let b = open(db.path(), encrypt);
    let doc = a.create_document().unwrap();
    if encrypt {
        doc.add_member(&b.key_bundle().unwrap()).unwrap();
    }
    let text = doc.text("t").unwrap();
    let chunk: String = "x".repeat(payload);
    let start = Instant::now();
    for _ in 0..ops {
        text.push(&chunk).unwrap();
    }
    let write = start.elapsed();
    let wire = a.operations(doc.id()).unwrap();
    // Control operations (group create, add) come first; ingest them untimed.
    let control = wire.len() - ops;
    for op in &wire[..control] {
        b.ingest(op).unwrap();
    }
    let deltas = &wire[control..];
    let body_bytes = deltas.iter().map(Vec::len).sum::<usize>() / deltas.len();
    let start = Instant::now();
    for op in deltas {
        b.ingest(op).unwrap();
    }
    let ingest = start.elapsed();
    assert_eq!(
        b.document(doc.id()).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
    Measure {
        write,
        ingest,
        body_bytes,
    }
}

fn main() {
    let ops: usize = std::env::var("FIELDSYNC_BENCH_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    println!("{ops} operations per run; times are per operation");
    println!(
        "{:>8} {:>10} {:>12} {:>12} {:>10}",
        "payload", "mode", "write (us)", "ingest (us)", "op bytes"
    );
    for payload in [16usize, 1024, 64 * 1024] {
        let n = if payload > 4096 { ops.min(50) } else { ops };
        for encrypt in [false, true] {
            let m = run(encrypt, n, payload);
            println!(
                "{:>8} {:>10} {:>12.1} {:>12.1} {:>10}",
                payload,
                if encrypt { "encrypted" } else { "plain" },
                m.write.as_secs_f64() * 1e6 / n as f64,
                m.ingest.as_secs_f64() * 1e6 / n as f64,
                m.body_bytes
            );
        }
    }
}
