//! Property test: concurrent edit scripts on two nodes, exchanged in random order with
//! duplicates, converge to byte-identical JSON.

use fieldsync::{Node, VersionOrdering};
use fieldsync_tests::edits::{apply, edit};
use fieldsync_tests::open_node;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Delivers `ops` to `to` in a shuffled order with duplicates, retrying parked gaps until
/// every op has been delivered at least once in order-independent fashion.
fn deliver_shuffled(to: &Node, ops: &[Vec<u8>], seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut batch: Vec<&Vec<u8>> = ops.iter().collect();
    let dups: Vec<&Vec<u8>> = ops.iter().filter(|_| rng.gen_bool(0.3)).collect();
    batch.extend(dups);
    batch.shuffle(&mut rng);
    for op in batch {
        match to.ingest(op) {
            Ok(_) | Err(fieldsync::IngestError::SeqGap { .. }) => {}
            Err(e) => panic!("valid op rejected: {e}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    #[test]
    fn two_nodes_converge(
        script_a in prop::collection::vec(edit(), 1..25),
        script_b in prop::collection::vec(edit(), 1..25),
        seed in any::<u64>(),
    ) {
        let da = tempfile::tempdir().unwrap();
        let db = tempfile::tempdir().unwrap();
        let a = open_node(da.path());
        let b = open_node(db.path());
        let doc_a = a.create_document().unwrap();
        let id = doc_a.id();
        fieldsync_tests::share(&a, &doc_a, &b);
        let doc_b = b.document_or_register(id).unwrap();
        for e in &script_a { apply(&doc_a, e); }
        for e in &script_b { apply(&doc_b, e); }
        let ops_a = a.operations(id).unwrap();
        let ops_b = b.operations(id).unwrap();
        deliver_shuffled(&b, &ops_a, seed);
        deliver_shuffled(&a, &ops_b, seed.wrapping_add(1));
        prop_assert_eq!(a.parked_count().unwrap(), 0);
        prop_assert_eq!(b.parked_count().unwrap(), 0);
        let ja = doc_a.to_json().unwrap();
        let jb = doc_b.to_json().unwrap();
        prop_assert_eq!(&ja, &jb);
        prop_assert_eq!(doc_a.version().unwrap().compare(&doc_b.version().unwrap()), VersionOrdering::Equal);
        prop_assert_eq!(doc_a.op_count().unwrap(), doc_b.op_count().unwrap());
        prop_assert_eq!(a.replay_json(id).unwrap(), ja);
    }
}
