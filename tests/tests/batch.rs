//! Batched ingest: many operations share one SQLite transaction, yet each is validated and
//! applied on its own, with the same results as one-by-one ingest.

use fieldsync::IngestError;
use fieldsync_tests::{json_of, open_node, share};

#[test]
fn a_batch_with_bad_operations_keeps_the_good_ones_and_matches_single_ingest() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b, c) = (
        open_node(dirs[0].path()),
        open_node(dirs[1].path()),
        open_node(dirs[2].path()),
    );
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
    batch.push(ops[5].clone());
    let results = b.ingest_batch(&batch);
    assert_eq!(results.len(), batch.len());
    assert!(
        results[10].is_err(),
        "flipped op accepted: {:?}",
        results[10]
    );
    assert!(matches!(results[20], Err(IngestError::Malformed(_))));
    assert!(matches!(
        results.last().unwrap(),
        Ok(fieldsync::IngestOutcome::Duplicate)
    ));
    let refused = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        refused, 2,
        "only the two bad inputs are refused: {results:?}"
    );
    assert_eq!(json_of(&b, doc.id()), doc.to_json().unwrap());
    assert_eq!(json_of(&b, doc.id()), json_of(&c, doc.id()));
    assert_eq!(b.integrity_check().unwrap(), vec!["ok".to_string()]);
    // Survives a restart: the batch was committed.
    drop(b);
    let b = open_node(dirs[1].path());
    assert_eq!(json_of(&b, doc.id()), doc.to_json().unwrap());
}
