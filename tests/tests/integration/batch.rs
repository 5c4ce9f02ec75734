//! Batched ingest: many operations share one SQLite transaction, yet each is validated and
//! applied on its own, with the same results as one-by-one ingest.

use fieldsync::IngestError;
use fieldsync_tests::{json_of, open_node, open_nodes, share};

#[test]
fn a_batch_with_bad_operations_keeps_the_good_ones_and_matches_single_ingest() {
    let (dirs, [a, b, c]) = open_nodes();
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    let text = doc.text("t").unwrap();
    for i in 0..50 {
        text.push(&format!("{i},")).unwrap();
    }
    let ops = a.operations(doc.id()).unwrap();
    // Reference: one by one.
    for op in &ops {
        let _ = c.ingest(op);
    }
    // The batch: a flipped bit, garbage and duplicates among the good ones.
    let mut batch = ops.clone();
    let mut flipped = batch[10].clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    batch.insert(10, flipped);
    batch.insert(20, b"garbage".to_vec());
    // A forged signature: the same operation with one bit of its header's signature
    // flipped. Signatures are checked as batches; this one fails its batch, which is then
    // checked one by one so that only the forgery is refused.
    batch.insert(30, forged_signature(&ops[40]));
    batch.push(ops[5].clone());
    let results = b.ingest_batch(&batch);
    assert_eq!(results.len(), batch.len());
    assert!(
        results[10].is_err(),
        "flipped op accepted: {:?}",
        results[10]
    );
    assert!(matches!(results[20], Err(IngestError::Malformed(_))));
    assert!(
        matches!(results[30], Err(IngestError::InvalidSignature)),
        "forged signature: {:?}",
        results[30]
    );
    assert!(matches!(
        results.last().unwrap(),
        Ok(fieldsync::IngestOutcome::Duplicate)
    ));
    let refused = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        refused, 3,
        "only the three bad inputs are refused: {results:?}"
    );
    assert_eq!(json_of(&b, doc.id()), doc.to_json().unwrap());
    assert_eq!(json_of(&b, doc.id()), json_of(&c, doc.id()));
    assert_eq!(b.integrity_check().unwrap(), vec!["ok".to_string()]);
    // Survives a restart: the batch was committed.
    drop(b);
    let b = open_node(dirs[1].path());
    assert_eq!(json_of(&b, doc.id()), doc.to_json().unwrap());
}

/// `wire` with one bit of its header's Ed25519 signature flipped.
fn forged_signature(wire: &[u8]) -> Vec<u8> {
    let (mut header, body) = fieldsync::internals::operation::decode_wire(wire).unwrap();
    let op = fieldsync::internals::operation::decode_operation(wire, usize::MAX, u64::MAX).unwrap();
    let signature = op.header.signature.to_bytes();
    let at = header
        .windows(signature.len())
        .position(|w| w == signature)
        .expect("the signature's bytes in the header");
    header[at + 7] ^= 0x10;
    fieldsync::internals::operation::encode_wire(&header, body.as_deref())
}

/// Parked operations the results of a batch applied.
fn unparked_by(results: &[Result<fieldsync::IngestOutcome, IngestError>]) -> usize {
    results
        .iter()
        .map(|r| match r {
            Ok(fieldsync::IngestOutcome::Applied { unparked, .. }) => *unparked,
            _ => 0,
        })
        .sum()
}

/// A batch remembers log heads, live documents and which logs have parked operations (see
/// `replica/batch.rs`): out-of-order operations parked in one batch are unparked by a later batch
/// or later in the same batch (also on a node that had none parked before), an operation at its log's head is a duplicate, and the
/// result is the same as one-by-one ingest.
#[test]
fn out_of_order_batches_park_unpark_and_find_duplicates_like_single_ingest() {
    let (_dirs, [a, b, c]) = open_nodes();
    let dir = tempfile::tempdir().unwrap();
    let d = open_node(dir.path());
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    share(&a, &doc, &c);
    share(&a, &doc, &d);
    let text = doc.text("t").unwrap();
    for i in 0..40 {
        text.push(&format!("{i},")).unwrap();
    }
    let ops = a.operations(doc.id()).unwrap();
    for op in &ops {
        let _ = c.ingest(op);
    }
    let n = ops.len();
    // First batch: the last ten operations, newest first: all wait for their predecessors.
    let first: Vec<_> = ops[n - 10..].iter().rev().cloned().collect();
    let results = b.ingest_batch(&first);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(IngestError::SeqGap { .. }))),
        "{results:?}"
    );
    assert_eq!(b.parked_count().unwrap(), 10);
    // Second batch: the middle ones newest first (parked within the batch), then the oldest
    // in order, then the head again (a duplicate of the head the batch just wrote).
    let mut second: Vec<_> = ops[n - 20..n - 10].iter().rev().cloned().collect();
    second.extend(ops[..n - 20].iter().cloned());
    second.push(ops[n - 21].clone());
    let results = b.ingest_batch(&second);
    assert!(
        matches!(
            results.last().unwrap(),
            Ok(fieldsync::IngestOutcome::Duplicate)
        ),
        "{:?}",
        results.last()
    );
    // The operation that closed the gap applied the twenty parked ones after it.
    let unparked = unparked_by(&results);
    assert_eq!(unparked, 20, "{results:?}");
    assert_eq!(b.parked_count().unwrap(), 0);
    assert_eq!(json_of(&b, doc.id()), doc.to_json().unwrap());
    assert_eq!(json_of(&b, doc.id()), json_of(&c, doc.id()));
    // A node without parked operations (it was shared the document before the edits), one
    // batch: the newest ten first (parked within the
    // batch), then the rest in order, whose last one applies the ten.
    let mut one: Vec<_> = ops[n - 10..].iter().rev().cloned().collect();
    one.extend(ops[..n - 10].iter().cloned());
    let results = d.ingest_batch(&one);
    let unparked = unparked_by(&results);
    assert_eq!(unparked, 10, "{results:?}");
    assert_eq!(d.parked_count().unwrap(), 0);
    assert_eq!(json_of(&d, doc.id()), doc.to_json().unwrap());
    // Everything again, in one batch: all duplicates.
    let results = b.ingest_batch(&ops);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(fieldsync::IngestOutcome::Duplicate))),
        "{results:?}"
    );
}
