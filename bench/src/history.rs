//! Section 9, cost that follows the state rather than the history (issue #28): joining a
//! document by its snapshot, disk per edit after compaction, and a live burst with
//! coalesced edits.

use std::time::{Duration, Instant};

use fieldsync::internals::operation::{decode_operation, LogKind};
use fieldsync::{Document, Node, Retention};

use crate::local::open_with;
use crate::net::{assert_same, online, until_caught_up};

/// A join by snapshot.
pub struct Join {
    /// Edits in the document's history.
    pub edits: usize,
    /// Operations they were written in.
    pub ops: usize,
    /// From `join` until the joiner holds the document (same version, same JSON).
    pub elapsed: Duration,
    /// Bytes of the snapshot operation (encoded).
    pub snapshot_bytes: u64,
    /// Bytes of every operation the joiner holds after the join (what was transferred,
    /// without the protocol's framing).
    pub transferred: u64,
    /// A's database before compaction, after compaction (plus `VACUUM`), and the joiner's:
    /// bytes on disk.
    pub disk_before: u64,
    pub disk_after: u64,
    pub disk_joiner: u64,
}

/// Sum of the encoded operations `node` holds of `doc`, and the size of the largest
/// snapshot operation among them.
fn held_bytes(node: &Node, doc: fieldsync::DocumentId) -> (u64, u64) {
    let mut total = 0;
    let mut snapshot = 0;
    for op in node.operations(doc).expect("operations") {
        total += op.len() as u64;
        let decoded = decode_operation(&op, usize::MAX, u64::MAX).expect("decode");
        if decoded.header.extensions.kind == LogKind::Snapshot {
            snapshot = snapshot.max(op.len() as u64);
        }
    }
    (total, snapshot)
}

/// Writes `edits` one-character appends to `doc`, `per_op` to an operation.
fn write_history(doc: &Document, edits: usize, per_op: usize) -> usize {
    let text = doc.text("t").expect("text");
    let mut ops = 0;
    let mut done = 0;
    while done < edits {
        let k = per_op.min(edits - done);
        if k == 1 {
            text.push("x").expect("edit");
        } else {
            doc.batch(|d| {
                let t = d.get_text("t");
                for _ in 0..k {
                    t.insert(t.len_unicode(), "x")
                        .map_err(|e| fieldsync::DocumentError::Engine(e.to_string()))?;
                }
                Ok(())
            })
            .expect("batch");
        }
        done += k;
        ops += 1;
    }
    ops
}

/// A holds `edits` one-character edits (`per_op` to an operation) and publishes a snapshot;
/// B, a member with nothing, joins over QUIC. Then A compacts, keeping what follows the
/// snapshot.
pub async fn join(edits: usize, per_op: usize) -> Join {
    let (da, db) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = open_with(da.path(), |_| {});
    let b = open_with(db.path(), |_| {});
    let doc = a.create_document().expect("document");
    doc.add_member(&b.key_bundle().expect("bundle"))
        .expect("member");
    let ops = write_history(&doc, edits, per_op);
    doc.publish_snapshot()
        .expect("snapshot")
        .expect("published");
    a.flush().expect("flush");
    let disk_before = crate::size::dir_bytes(da.path());
    online(&a).await;
    online(&b).await;
    let invite = doc.invite().await.expect("invite");
    let start = Instant::now();
    b.join(&invite).await.expect("join");
    until_caught_up(&doc, &b, doc.id()).await;
    assert_same(&doc, &b);
    let elapsed = start.elapsed();
    let (transferred, _) = held_bytes(&b, doc.id());
    let (_, snapshot_bytes) = held_bytes(&a, doc.id());
    a.stop_network().await.expect("stop");
    b.stop_network().await.expect("stop");
    doc.compact(Retention::KeepSinceSnapshot).expect("compact");
    a.reclaim_space().expect("vacuum");
    b.flush().expect("flush");
    b.reclaim_space().expect("vacuum");
    let disk_after = crate::size::dir_bytes(da.path());
    let disk_joiner = crate::size::dir_bytes(db.path());
    Join {
        edits,
        ops,
        elapsed,
        snapshot_bytes,
        transferred,
        disk_before,
        disk_after,
        disk_joiner,
    }
}

/// Live burst with coalescing: both nodes connected, A (coalescing window `window`)
/// appends `n` characters as fast as it can, one edit each; returns the time until B holds
/// them all, and how many operations they took.
pub async fn burst(n: usize, window: Duration) -> (Duration, u64) {
    let (da, db) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = open_with(da.path(), |c| c.coalesce_window = window);
    let b = open_with(db.path(), |_| {});
    let doc = a.create_document().expect("document");
    doc.add_member(&b.key_bundle().expect("bundle"))
        .expect("member");
    doc.text("t").expect("text").push("start").expect("edit");
    a.flush().expect("flush");
    online(&a).await;
    online(&b).await;
    b.join(&doc.invite().await.expect("invite"))
        .await
        .expect("join");
    until_caught_up(&doc, &b, doc.id()).await;
    let before = doc.op_count().expect("count");
    let text = doc.text("t").expect("text");
    let start = Instant::now();
    for _ in 0..n {
        text.push("x").expect("edit");
        // Let the network tasks run between edits, as an app's event loop would.
        tokio::task::yield_now().await;
    }
    a.flush().expect("flush");
    until_caught_up(&doc, &b, doc.id()).await;
    let elapsed = start.elapsed();
    assert_same(&doc, &b);
    let ops = doc.op_count().expect("count") - before;
    a.stop_network().await.expect("stop");
    b.stop_network().await.expect("stop");
    (elapsed, ops)
}
