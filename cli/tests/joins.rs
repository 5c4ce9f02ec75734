//! Invites and joins report what happens: a mistyped invite is refused at once; a join
//! request waiting for its inviter says so; a refused one is reported on both nodes with the
//! reason, in `status`, and by `doc show` (exit 6, one line) instead of printing `{}`.

mod common;

use std::path::Path;

use common::{init, json, run, wait_until, NodeProc};

/// (exit code, stderr) of a command that must fail.
fn failure(data: &Path, args: &[&str]) -> (i32, String) {
    let out = run(data, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    )
}

fn stdout(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn mistyped_waiting_and_refused_joins_are_reported() {
    let dirs = tempfile::tempdir().unwrap();
    let (a, b) = (dirs.path().join("a"), dirs.path().join("b"));
    let a_id = init(&a);
    let b_id = init(&b);
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A fresh document with no other member is not "undelivered".
    let list = stdout(&a, &["doc", "list"]);
    assert!(list.contains("on this device only"), "{list}");

    let node_a = NodeProc::start("A", &a, "node", &[]);
    let invite = json(&a, &["invite", &doc])["invite"]
        .as_str()
        .unwrap()
        .to_string();

    // One changed character anywhere in the invite (document id, token, ...) is caught.
    for at in [10, invite.len() / 2, invite.len() - 8] {
        let mut chars: Vec<char> = invite.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        let bad: String = chars.into_iter().collect();
        let (code, err) = failure(&b, &["join", &bad]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("typo") || err.contains("damaged"), "{err}");
        assert!(
            json(&b, &["doc", "list"]).as_array().unwrap().is_empty(),
            "a mistyped invite registered a document"
        );
    }

    // B joins while its node is not running: the request waits, and says for whom.
    json(&b, &["join", &invite]);
    let status = stdout(&b, &["status"]);
    let waiting = format!("waiting for admission by {}", &a_id[..8]);
    assert!(status.contains(&waiting), "{status}");
    assert!(
        status.contains(" UTC ("),
        "the time of the request: {status}"
    );
    let (code, err) = failure(&b, &["doc", "show", &doc]);
    assert_eq!(code, 6, "{err}");
    assert!(err.contains(&waiting), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(stdout(&b, &["doc", "list"]).contains(&waiting));

    // A revokes its invites before B's request arrives: B's node starts, the request is
    // refused, and both nodes say so.
    let revoked = json(&a, &["invite", "--revoke", &doc]);
    assert_eq!(revoked["revoked"], 1, "{revoked}");
    let node_b = NodeProc::start("B", &b, "node", &[]);
    let logs = || format!("A:\n{}\nB:\n{}", node_a.log_text(), node_b.log_text());
    wait_until(
        "both nodes report the refusal",
        || {
            let refused = |log: String| {
                log.lines().any(|l| {
                    serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                        v["event"] == "join_refused"
                            && v["document"] == doc.as_str()
                            && v["requester"] == b_id.as_str()
                            && v["inviter"] == a_id.as_str()
                            && v["reason"].as_str().is_some_and(|r| r.contains("revoked"))
                    })
                })
            };
            refused(node_a.log_text()) && refused(node_b.log_text())
        },
        logs,
    );
    let status = json(&b, &["status"]);
    let join = &status["documents"][0]["join"];
    assert_eq!(join["inviter"], a_id.as_str(), "{status}");
    assert!(
        join["refused"].as_str().unwrap().contains("revoked"),
        "{status}"
    );
    let (code, err) = failure(&b, &["doc", "show", &doc]);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains(&format!("join refused by {}", &a_id[..8])) && err.contains("revoked"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
