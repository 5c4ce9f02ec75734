//! Criterion micro-benchmarks of the per-operation hot path, so that a regression in one
//! step is visible: encode, sign, verify (one operation, and a catch-up's batch), encrypt,
//! decrypt, Loro import, and the full local write and remote ingest (which include the
//! SQLite transaction).
//!
//! `cargo bench -p fieldsync --bench hot_paths --ignore-rust-version` (or `make bench`).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use fieldsync::internals::crypto::{DeviceKeys, DocumentGroup, GroupId};
use fieldsync::internals::operation::{
    build_operation, decode_operation, decode_operations, encode_operation, validate, LogKind,
};
use fieldsync::{DocumentId, Node, NodeConfig};
use p2panda_core::SigningKey;

fn update_bytes() -> Vec<u8> {
    let doc = loro::LoroDoc::new();
    doc.get_text("t").insert(0, "a typical small edit").unwrap();
    doc.export(loro::ExportMode::all_updates()).unwrap()
}

fn operation_steps(c: &mut Criterion) {
    let key = SigningKey::generate();
    let doc = DocumentId::random();
    let body = update_bytes();
    let op = build_operation(&key, doc, LogKind::Delta, None, body.clone());
    let wire = encode_operation(&op);
    c.bench_function("sign: build + sign an operation", |b| {
        b.iter(|| build_operation(&key, doc, LogKind::Delta, None, black_box(body.clone())))
    });
    c.bench_function("encode: operation to wire CBOR", |b| {
        b.iter(|| encode_operation(black_box(&op)))
    });
    c.bench_function("verify: decode + validate (signature, hash)", |b| {
        b.iter(|| {
            let op = decode_operation(black_box(&wire), 1 << 24, 1 << 24).unwrap();
            validate(&op, 1 << 24).unwrap();
        })
    });
    // 128 operations of one log, decoded as a catch-up does: on all cores, signatures
    // checked in Ed25519 batches.
    let mut previous = None;
    let many: Vec<Vec<u8>> = (0..128u32)
        .map(|seq| {
            let op = build_operation(&key, doc, LogKind::Delta, previous, body.clone());
            previous = Some((seq, op.hash));
            encode_operation(&op)
        })
        .collect();
    c.bench_function(
        "verify batch: decode + authenticate 128 received ops",
        |b| {
            b.iter(|| {
                for op in decode_operations(black_box(&many), 1 << 24, 1 << 24) {
                    op.unwrap();
                }
            })
        },
    );
}

fn crypto_steps(c: &mut Criterion) {
    let key = SigningKey::generate();
    let me = DeviceKeys::generate(key.verifying_key()).unwrap();
    let doc = DocumentId::random();
    let (group, _) = DocumentGroup::create(&me, GroupId::from(doc.as_hash()), &[]).unwrap();
    let body = update_bytes();
    let sealed = group.encrypt(&body).unwrap();
    c.bench_function("encrypt: group data scheme", |b| {
        b.iter(|| group.encrypt(black_box(&body)).unwrap())
    });
    c.bench_function("decrypt: group data scheme", |b| {
        b.iter(|| group.decrypt(black_box(&sealed)).unwrap())
    });
}

fn loro_import(c: &mut Criterion) {
    let update = update_bytes();
    c.bench_function("import: Loro update into a fresh doc", |b| {
        b.iter_batched(
            loro::LoroDoc::new,
            |d| d.import(black_box(&update)).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

fn store_paths(c: &mut Criterion) {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Node::open(NodeConfig::new(da.path())).unwrap();
    let b = Node::open(NodeConfig::new(db.path())).unwrap();
    let doc = a.create_document().unwrap();
    doc.add_member(&b.key_bundle().unwrap()).unwrap();
    let text = doc.text("t").unwrap();
    c.bench_function("store: local write (edit, encrypt, sign, commit)", |bch| {
        bch.iter(|| text.push("x").unwrap())
    });
    drop(text);
    c.bench_function(
        "store: remote ingest (verify, decrypt, import, commit)",
        |bch| {
            bch.iter_custom(|iters| {
                // A fresh pair per sample: `iters` new operations, ingested once each.
                let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
                let a = Node::open(NodeConfig::new(da.path())).unwrap();
                let b = Node::open(NodeConfig::new(db.path())).unwrap();
                let doc = a.create_document().unwrap();
                doc.add_member(&b.key_bundle().unwrap()).unwrap();
                let text = doc.text("t").unwrap();
                for _ in 0..iters {
                    text.push("x").unwrap();
                }
                let wire = a.operations(doc.id()).unwrap();
                let (control, deltas) = wire.split_at(wire.len() - iters as usize);
                for op in control {
                    b.ingest(op).unwrap();
                }
                let start = std::time::Instant::now();
                for op in deltas {
                    b.ingest(op).unwrap();
                }
                start.elapsed()
            })
        },
    );
    drop((a, b, da, db));
}

criterion_group!(
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .measurement_time(std::time::Duration::from_secs(3));
    targets = operation_steps, crypto_steps, loro_import, store_paths
);
criterion_main!(benches);
