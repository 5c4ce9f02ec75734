//! Crash safety: a child process commits edits and is killed with SIGKILL; every edit it
//! reported as committed survives, and the document equals a replay of the op log.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fieldsync::Value;
use fieldsync_tests::open_node;
use rand::Rng;

#[test]
fn sigkill_during_writes_loses_no_reported_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc_id: Option<String> = None;
    let mut rng = rand::thread_rng();
    let mut last_reported: Option<i64> = None;
    for round in 0..5 {
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
