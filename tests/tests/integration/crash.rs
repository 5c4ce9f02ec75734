//! Crash safety: a child process commits edits (alone, or while syncing over QUIC) and is
//! killed with SIGKILL; every edit it reported as committed survives, nothing is duplicated,
//! the database passes `PRAGMA integrity_check`, and the document equals a replay of its log.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fieldsync::Value;
use fieldsync_tests::{go_online, open_node};
use rand::Rng;

#[test]
fn sigkill_during_writes_loses_no_reported_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc_id: Option<String> = None;
    let mut rng = rand::thread_rng();
    let mut last_reported: Option<i64> = None;
    for round in 0..12 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crash_writer"));
        cmd.arg(dir.path()).stdout(Stdio::piped());
        if let Some(id) = &doc_id {
            cmd.arg(id);
        }
        let mut child = cmd.spawn().expect("spawn writer");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let target = rng.gen_range(20..200);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = 0;
        while seen < target {
            assert!(
                Instant::now() < deadline,
                "writer too slow in round {round}"
            );
            let line = lines.next().expect("writer ended early").unwrap();
            if let Some(id) = line.strip_prefix("doc ") {
                doc_id.get_or_insert_with(|| id.to_string());
            } else if let Some(n) = line.strip_prefix("committed ") {
                last_reported = Some(n.parse().unwrap());
                seen += 1;
            }
        }
        // SIGKILL: no destructor, no flush, no snapshot on close.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();

        let node = open_node(dir.path());
        assert_eq!(node.integrity_check().unwrap(), vec!["ok".to_string()]);
        let id = doc_id.as_ref().unwrap().parse().unwrap();
        let doc = node.document(id).unwrap();
        let list = doc.list("log").unwrap();
        let len = list.len().unwrap() as i64;
        let last = last_reported.unwrap();
        assert!(
            len > last,
            "round {round}: reported {last} but only {len} items survived"
        );
        for i in 0..len {
            assert_eq!(
                list.get(i as usize).unwrap(),
                Some(Value::Int(i)),
                "item {i} (no duplicates, no holes)"
            );
        }
        assert_eq!(doc.to_json().unwrap(), node.replay_json(id).unwrap());
        assert_eq!(doc.version().unwrap().total_ops(), doc.op_count().unwrap());
    }
}

/// Lines a child prints, read on a thread so the test can wait with a deadline.
fn line_reader(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Highest seq of `author`'s delta log whose outbox entry is acknowledged on `node`.
fn highest_acknowledged(node: &fieldsync::Node, id: fieldsync::DocumentId) -> Option<u32> {
    let pending: std::collections::HashSet<_> = node
        .pending(Some(id))
        .unwrap()
        .into_iter()
        .map(|e| e.hash)
        .collect();
    node.operations(id)
        .unwrap()
        .iter()
        .map(|w| {
            fieldsync::internals::operation::decode_operation(w, usize::MAX, u64::MAX).unwrap()
        })
        .filter(|op| {
            fieldsync::AuthorId::from(op.header.verifying_key) == node.author()
                && op.header.extensions.kind == fieldsync::internals::operation::LogKind::Delta
                && !pending.contains(&op.hash)
        })
        .map(|op| op.header.seq_num)
        .max()
}

/// Asserts that `list` holds exactly the integers `0..len`.
fn assert_counting(list: &fieldsync::ListHandle, what: &str) -> i64 {
    let len = list.len().unwrap() as i64;
    for i in 0..len {
        assert_eq!(
            list.get(i as usize).unwrap(),
            Some(Value::Int(i)),
            "{what}: item {i} (no duplicates, no holes)"
        );
    }
    len
}

/// A child node catches up an encrypted document from A over QUIC while committing its own
/// edits, and is killed with SIGKILL at a random point, ten times. After each kill its
/// database passes the integrity check, holds every edit it reported, holds A's operations
/// as a gap-free prefix of A's log including everything A saw acknowledged, and equals a
/// replay of its op log. Finally it syncs to completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sync_loses_nothing_acknowledged() {
    const ROUNDS: usize = 10;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let doc = a.create_document().unwrap();
    let id = doc.id();
    // B's device key exists before its first run, so A can make it a member.
    let bundle = open_node(db.path()).key_bundle().unwrap();
    doc.add_member(&bundle).unwrap();
    let list_a = doc.list("a").unwrap();
    let mut written: i64 = 0;
    let mut write_a = |n: i64| {
        for _ in 0..n {
            list_a.push(Value::Int(written)).unwrap();
            written += 1;
        }
        written
    };
    write_a(1500);
    go_online(&a).await;
    let invite = doc.invite().await.unwrap();
    let mut rng = rand::thread_rng();
    let mut last_b: Option<i64> = None;
    let mut mid_sync = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_syncer"))
            .arg(db.path())
            .arg(&invite)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn syncer");
        let lines = line_reader(&mut child);
        let deadline = Instant::now() + Duration::from_secs(90);
        let next_line = || {
            let left = deadline.saturating_duration_since(Instant::now());
            lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("round {round}: syncer silent or gone: {e}"))
        };
        while next_line() != "online" {}
        // A keeps writing while B syncs: these travel by gossip push or catch-up.
        let total = write_a(20);
        // Every other round dies right when B can read, i.e. as soon as the control log
        // arrived and while the operations still stream in (catch-up sends control logs
        // first); the other rounds die after a random number of B's own commits.
        let target = if round % 2 == 0 {
            0
        } else {
            rng.gen_range(1..150)
        };
        for _ in 0..target {
            let line = next_line();
            let n = line.strip_prefix("committed ").expect("committed line");
            last_b = Some(n.parse().unwrap());
        }
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        child.wait().unwrap();
        let acked = highest_acknowledged(&a, id);

        let b = open_node(db.path());
        assert_eq!(b.integrity_check().unwrap(), vec!["ok".to_string()]);
        let doc_b = b.document(id).unwrap();
        let own = assert_counting(&doc_b.list("b").unwrap(), "B's own edits");
        if let Some(last) = last_b {
            assert!(own > last, "round {round}: B reported {last}, kept {own}");
        }
        let from_a = assert_counting(&doc_b.list("a").unwrap(), "A's edits on B");
        assert!(from_a <= total);
        let held = doc_b.version().unwrap().get(&a.author());
        assert!(
            acked <= held,
            "round {round}: A saw seq {acked:?} acknowledged, B holds {held:?}"
        );
        assert_eq!(doc_b.to_json().unwrap(), b.replay_json(id).unwrap());
        if from_a < total {
            mid_sync += 1;
        }
        eprintln!(
            "round {round}: killed after {target} commits; B holds {from_a}/{total} of A's edits, {own} own; A saw up to {acked:?} acknowledged"
        );
        drop(b);
        write_a(600);
    }
    assert!(
        mid_sync > 0,
        "no kill landed while B was still catching up; the test exercised nothing"
    );

    // B comes back for good and converges.
    let b = open_node(db.path());
    go_online(&b).await;
    b.join(&invite).await.unwrap();
    fieldsync_tests::wait_until("B converges with A", Duration::from_secs(120), || {
        fieldsync_tests::json_of(&b, id) == fieldsync_tests::json_of(&a, id)
    })
    .await;
    let doc_b = b.document(id).unwrap();
    assert_eq!(
        assert_counting(&doc_b.list("a").unwrap(), "A on B"),
        written
    );
    assert!(assert_counting(&doc_b.list("b").unwrap(), "B on B") > last_b.unwrap());
    assert_eq!(doc_b.to_json().unwrap(), b.replay_json(id).unwrap());
    b.stop_network().await.unwrap();
    a.stop_network().await.unwrap();
}
