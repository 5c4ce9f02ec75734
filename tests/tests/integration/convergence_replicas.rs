//! Property test: 3 to 5 replicas of an encrypted document edit concurrently while
//! operations travel between them with random interleaving, reordering, duplication and
//! loss (node to node, relayed: a replica forwards what it holds of others). Once every
//! operation has finally been delivered everywhere (lost ones redelivered), all replicas
//! hold byte-identical JSON, equal version vectors, no parked operation, and a document
//! equal to a replay of its op log.

use fieldsync::{DocumentId, IngestError, Node, VersionOrdering};
use fieldsync_tests::edits::{apply, edit, Edit};
use fieldsync_tests::{open_node, share};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// One step of a schedule.
#[derive(Clone, Debug)]
enum Step {
    /// Replica `node` (modulo the replica count) edits its copy.
    Edit(usize, Edit),
    /// Replica `from` sends what it holds to `to`: shuffled, each op lost with
    /// probability `loss_pct`% and duplicated with probability 20%.
    Deliver {
        from: usize,
        to: usize,
        loss_pct: u8,
        seed: u64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<usize>(), edit()).prop_map(|(n, e)| Step::Edit(n, e)),
        2 => (any::<usize>(), any::<usize>(), 0u8..=60, any::<u64>()).prop_map(
            |(from, to, loss_pct, seed)| Step::Deliver { from, to, loss_pct, seed }
        ),
    ]
}

/// Ingests `ops` into `to`; only outcomes a valid operation may have are tolerated: a seq
/// gap, or (with roles) an author whose role the receiver does not hold yet (a replica
/// shared early has not seen the owner's later `add_member` control operations). Both are
/// parked and applied once what they wait for arrives; the final checks demand nothing is
/// left parked.
fn ingest_all(to: &Node, ops: &[&Vec<u8>]) {
    for op in ops {
        match to.ingest(op) {
            Ok(_)
            | Err(IngestError::SeqGap { .. })
            | Err(IngestError::AwaitingAuthorization { .. }) => {}
            Err(e) => panic!("valid operation rejected: {e}"),
        }
    }
}

fn deliver(from: &Node, to: &Node, id: DocumentId, loss_pct: u8, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ops = from.operations(id).unwrap();
    let mut batch: Vec<&Vec<u8>> = Vec::new();
    for op in &ops {
        if rng.gen_range(0..100) < loss_pct {
            continue;
        }
        batch.push(op);
        if rng.gen_bool(0.2) {
            batch.push(op);
        }
    }
    batch.shuffle(&mut rng);
    ingest_all(to, &batch);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]
    #[test]
    fn replicas_converge_under_reorder_duplication_and_loss(
        replicas in 3usize..=5,
        steps in prop::collection::vec(step(), 5..40),
        heal_seed in any::<u64>(),
    ) {
        let dirs: Vec<_> = (0..replicas).map(|_| tempfile::tempdir().unwrap()).collect();
        let nodes: Vec<Node> = dirs.iter().map(|d| open_node(d.path())).collect();
        let owner_doc = nodes[0].create_document().unwrap();
        let id = owner_doc.id();
        for joiner in &nodes[1..] {
            share(&nodes[0], &owner_doc, joiner);
        }
        let docs: Vec<_> = nodes
            .iter()
            .map(|n| n.document_or_register(id).unwrap())
            .collect();
        for s in &steps {
            match s {
                Step::Edit(n, e) => apply(&docs[n % replicas], e),
                Step::Deliver { from, to, loss_pct, seed } => {
                    let (from, to) = (from % replicas, to % replicas);
                    if from != to {
                        deliver(&nodes[from], &nodes[to], id, *loss_pct, *seed);
                    }
                }
            }
        }
        // What each replica wrote itself: none of it may be lost.
        let own: Vec<Option<u32>> = nodes
            .iter()
            .zip(&docs)
            .map(|(n, d)| d.version().unwrap().get(&n.author()))
            .collect();
        // Heal: every replica's operations reach every other replica once, in random order
        // across authors (lost operations are redelivered here).
        let mut rng = rand::rngs::StdRng::seed_from_u64(heal_seed);
        let all: Vec<Vec<Vec<u8>>> = nodes.iter().map(|n| n.operations(id).unwrap()).collect();
        for to in &nodes {
            let mut batch: Vec<&Vec<u8>> = all.iter().flatten().collect();
            batch.shuffle(&mut rng);
            ingest_all(to, &batch);
        }
        let json0 = docs[0].to_json().unwrap();
        let vv0 = docs[0].version().unwrap();
        for (i, (node, doc)) in nodes.iter().zip(&docs).enumerate() {
            prop_assert_eq!(node.parked_count().unwrap(), 0, "replica {} has parked ops", i);
            prop_assert_eq!(&doc.to_json().unwrap(), &json0, "replica {} differs", i);
            prop_assert_eq!(
                doc.version().unwrap().compare(&vv0),
                VersionOrdering::Equal,
                "replica {} version vector", i
            );
            prop_assert_eq!(doc.op_count().unwrap(), docs[0].op_count().unwrap());
            for (writer, seq) in nodes.iter().zip(&own) {
                prop_assert_eq!(doc.version().unwrap().get(&writer.author()), *seq);
            }
            prop_assert_eq!(&node.replay_json(id).unwrap(), &json0, "replica {} replay", i);
        }
    }
}
