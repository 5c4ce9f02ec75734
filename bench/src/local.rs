//! In-process figures: local write latency and throughput, and ingest of remote operations.

use std::time::{Duration, Instant};

use fieldsync::{Node, NodeConfig};

use crate::stats::{rate, Samples};

/// Opens a node; `encrypt` off gives the unencrypted path. No snapshot operations: these
/// figures are about individually signed operations (section 9 measures snapshots).
pub fn open(dir: &std::path::Path, encrypt: bool) -> Node {
    open_with(dir, |cfg| cfg.encrypt = encrypt)
}

/// Opens a node with the configuration `f` makes of the defaults (snapshots off).
pub fn open_with(dir: &std::path::Path, f: impl FnOnce(&mut NodeConfig)) -> Node {
    let mut cfg = NodeConfig::new(dir);
    cfg.publish_snapshot_every = 0;
    f(&mut cfg);
    Node::open(cfg).expect("open node")
}

/// Two fresh nodes in temporary directories; A created a document and, when encrypting,
/// made B a member. Returns (A's dir, B's dir, A, B, document).
pub fn two_nodes(
    encrypt: bool,
) -> (
    tempfile::TempDir,
    tempfile::TempDir,
    Node,
    Node,
    fieldsync::Document,
) {
    let (da, db) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = open(da.path(), encrypt);
    let b = open(db.path(), encrypt);
    let doc = a.create_document().expect("document");
    if encrypt {
        doc.add_member(&b.key_bundle().expect("bundle"))
            .expect("member");
    }
    (da, db, a, b, doc)
}

/// Local write figures.
pub struct Write {
    /// Single-edit commits per second.
    pub single_rate: f64,
    /// Latency of one single-edit commit.
    pub single: Samples,
    /// Edits per second when `batch` edits share one commit (one operation).
    pub batched_rate: f64,
    /// Edits per commit in the batched run.
    pub batch: usize,
}

/// `n` single-character inserts, each its own commit (signed, encrypted, stored), then the
/// same number of edits in batches of `batch`.
pub fn write(n: usize, batch: usize) -> Write {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), true);
    let doc = node.create_document().expect("document");
    let text = doc.text("t").expect("text");
    let mut samples = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        text.push("x").expect("edit");
        samples.push(t.elapsed());
    }
    let single_rate = rate(n, start.elapsed());
    let start = Instant::now();
    for _ in 0..n / batch {
        doc.batch(|d| {
            let t = d.get_text("t");
            for _ in 0..batch {
                t.insert(t.len_unicode(), "y")
                    .map_err(|e| fieldsync::DocumentError::Engine(e.to_string()))?;
            }
            Ok(())
        })
        .expect("batch");
    }
    let batched_rate = rate((n / batch) * batch, start.elapsed());
    Write {
        single_rate,
        single: Samples::new(samples),
        batched_rate,
        batch,
    }
}

/// Remote operations ingested per second (decode, verify signature and hash, decrypt, Loro
/// import, persist), for `n` single-edit operations; `encrypt` selects the path, `batch`
/// hands them to `Node::ingest_batch` in slices of 512 (the most sync stores in one
/// transaction) instead of one `ingest` each.
pub fn ingest(n: usize, encrypt: bool, batch: bool) -> f64 {
    let (_da, _db, a, b, doc) = two_nodes(encrypt);
    fill(&doc, n);
    let wire = a.operations(doc.id()).expect("operations");
    let start = Instant::now();
    if batch {
        for chunk in wire.chunks(512) {
            for r in b.ingest_batch(chunk) {
                r.expect("ingest");
            }
        }
    } else {
        for op in &wire {
            b.ingest(op).expect("ingest");
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(
        b.document(doc.id()).expect("doc").to_json().expect("json"),
        doc.to_json().expect("json"),
        "ingest benchmark replicas diverged"
    );
    rate(wire.len(), elapsed)
}

/// Time to write `n` single-edit operations into `doc` (used to build sync inputs).
pub fn fill(doc: &fieldsync::Document, n: usize) -> Duration {
    let text = doc.text("t").expect("text");
    let start = Instant::now();
    for _ in 0..n {
        text.push("x").expect("edit");
    }
    start.elapsed()
}

/// Raw Ed25519 on one core (ed25519-dalek, key already parsed, a 160-byte message like a
/// header's signed bytes), per second: `verify_strict` one by one, `verify_batch` in batches
/// of [`RAW_BATCH`], and signatures. The issue's reference figures for this machine were
/// 37,000 verifications and 80,000 signatures; `Header::decode` adds the author key's
/// decompression, CBOR and BLAKE3 to each verification.
pub fn raw_ed25519_rates(n: usize) -> RawEd25519 {
    use ed25519_dalek::{Signer, SigningKey};
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = key.verifying_key();
    let message = [0x42u8; 160];
    let signature = key.sign(&message);
    let start = Instant::now();
    for _ in 0..n {
        public
            .verify_strict(std::hint::black_box(&message), &signature)
            .expect("valid signature");
    }
    let verify_strict = rate(n, start.elapsed());
    let messages = vec![&message[..]; RAW_BATCH];
    let (signatures, keys) = (vec![signature; RAW_BATCH], vec![public; RAW_BATCH]);
    let batches = n.div_ceil(RAW_BATCH);
    let start = Instant::now();
    for _ in 0..batches {
        ed25519_dalek::verify_batch(std::hint::black_box(&messages), &signatures, &keys)
            .expect("valid batch");
    }
    let verify_batch = rate(batches * RAW_BATCH, start.elapsed());
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(key.sign(std::hint::black_box(&message)));
    }
    RawEd25519 {
        verify_strict,
        verify_batch,
        sign: rate(n, start.elapsed()),
    }
}

/// Signatures per batch in [`raw_ed25519_rates`]: the most FieldSync checks at once.
pub const RAW_BATCH: usize = 128;

/// Rates of [`raw_ed25519_rates`], per second on one core.
pub struct RawEd25519 {
    /// `verify_strict`, one signature at a time.
    pub verify_strict: f64,
    /// `verify_batch`, [`RAW_BATCH`] signatures at a time.
    pub verify_batch: f64,
    /// Signing.
    pub sign: f64,
}

/// The floor of figure 3, measured: received operations decoded and authenticated per second
/// on all cores as a catch-up does (CBOR decoding, BLAKE3 hashes, Ed25519 signatures checked
/// in batches), nothing stored. Sync cannot beat this rate.
pub fn verify_rate(n: usize) -> f64 {
    let (_da, _db, a, _b, doc) = two_nodes(true);
    fill(&doc, n);
    let wire = a.operations(doc.id()).expect("operations");
    let start = Instant::now();
    for slice in wire.chunks(512) {
        for op in fieldsync::internals::operation::decode_operations(slice, 1 << 24, 1 << 24) {
            op.expect("decode");
        }
    }
    rate(wire.len(), start.elapsed())
}

/// Per-edit cost of the data model's shapes, measured alternately in one run (issue #25).
pub struct EditCosts {
    /// A one-character append to a root text.
    pub root_text: Samples,
    /// Setting a field of a record in a list of 100 records (a map in a list).
    pub nested_field: Samples,
    /// A one-character append to a text inside a record.
    pub nested_text: Samples,
}

/// `n` edits of each shape, interleaved so the machine's drift hits all alike.
pub fn edit_costs(n: usize) -> EditCosts {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = open(dir.path(), true);
    let doc = node.create_document().expect("document");
    let text = doc.text("t").expect("text");
    let households = doc.list("households").expect("list");
    for i in 0..100 {
        households
            .push_json(&format!(r#"{{"name":"h{i}","size":1,"readings":[]}}"#))
            .expect("record");
    }
    let records: Vec<_> = (0..100)
        .map(|i| households.get_map(i).expect("read").expect("a record"))
        .collect();
    let notes: Vec<_> = records
        .iter()
        .map(|r| r.insert_text("notes").expect("notes"))
        .collect();
    let (mut root, mut field, mut nested) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let t = Instant::now();
        text.push("x").expect("root text edit");
        root.push(t.elapsed());
        let t = Instant::now();
        records[i % 100]
            .set("size", fieldsync::Value::Int(i as i64))
            .expect("field edit");
        field.push(t.elapsed());
        let t = Instant::now();
        notes[i % 100].push("x").expect("nested text edit");
        nested.push(t.elapsed());
    }
    EditCosts {
        root_text: Samples::new(root),
        nested_field: Samples::new(field),
        nested_text: Samples::new(nested),
    }
}
