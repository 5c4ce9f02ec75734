//! Three `fieldsync node`s on 127.0.0.1: A invites B and C, all converge; A removes C; A's
//! next edit reaches B and never C; A's outbox is empty within a second of convergence.

mod common;

use std::time::{Duration, Instant};

use common::{init, json, run, wait_until, NodeProc};

fn content(data: &std::path::Path, doc: &str) -> String {
    let out = run(data, &["--json", "doc", "show", doc]);
    if !out.status.success() {
        return String::new();
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["content"].to_string()
}

fn pending(data: &std::path::Path, doc: &str) -> u64 {
    let v = json(data, &["doc", "show", doc]);
    v["pending_ops"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pending_ops in {v}"))
}

#[test]
fn a_removed_node_misses_the_next_edit_and_the_outbox_drains() {
    let dirs = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dirs.path().join("a"),
        dirs.path().join("b"),
        dirs.path().join("c"),
    );
    init(&a);
    init(&b);
    let c_id = init(&c);
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    json(&a, &["doc", "set", &doc, "site", r#"{"name":"Kisumu"}"#]);
    let node_a = NodeProc::start("A", &a, "node", &[]);
    let node_b = NodeProc::start("B", &b, "node", &[]);
    let node_c = NodeProc::start("C", &c, "node", &[]);
    let logs = || {
        format!(
            "A:\n{}\nB:\n{}\nC:\n{}",
            node_a.log_text(),
            node_b.log_text(),
            node_c.log_text()
        )
    };
    for d in [&b, &c] {
        let invite = json(&a, &["invite", &doc])["invite"]
            .as_str()
            .unwrap()
            .to_string();
        json(d, &["join", &invite]);
    }
    wait_until(
        "B and C read A's document",
        || content(&b, &doc).contains("Kisumu") && content(&c, &doc).contains("Kisumu"),
        logs,
    );

    // Three writers, one converged state.
    json(&b, &["doc", "set", &doc, "site/by_b", "1"]);
    json(&c, &["doc", "set", &doc, "site/by_c", "2"]);
    wait_until(
        "all three converge",
        || {
            let ca = content(&a, &doc);
            ca.contains("by_b")
                && ca.contains("by_c")
                && ca == content(&b, &doc)
                && ca == content(&c, &doc)
        },
        logs,
    );
    let converged = Instant::now();
    wait_until(
        "A's outbox is empty",
        || pending(&a, &doc) == 0 || converged.elapsed() > Duration::from_secs(1),
        logs,
    );
    assert_eq!(
        pending(&a, &doc),
        0,
        "A still reports pending operations 1 s after every node holds them"
    );
    eprintln!(
        "A's outbox empty {:?} after convergence",
        converged.elapsed()
    );

    // A removes C: the document key changes; A's next edit reaches B only.
    json(&a, &["doc", "member", "remove", &doc, &c_id]);
    json(
        &a,
        &["doc", "set", &doc, "site/secret", r#""after C left""#],
    );
    wait_until(
        "B has the edit",
        || content(&b, &doc).contains("after C left"),
        logs,
    );
    // C keeps syncing for a while: the edit never becomes readable there.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert!(
            !content(&c, &doc).contains("after C left"),
            "the removed node read the edit"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
