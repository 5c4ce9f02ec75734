//! Two `fieldsync node` processes over 127.0.0.1: CLI edits on one appear on the other, the
//! encrypted join works (invite, join, admit), and after one is killed and both edit, the
//! restarted pair converges. The CLI commands go through the running nodes (control socket)
//! while they run, and straight to the data directory while one is down.

mod common;

use std::path::Path;

use common::{init, json, try_json, wait_until, NodeProc};
use serde_json::Value;

/// `doc show --json` of `doc` in `data` (content, version), or the error.
fn show(data: &Path, doc: &str) -> Result<Value, String> {
    try_json(data, &["doc", "show", doc])
}

fn describe(nodes: &[&NodeProc], doc: &str) -> String {
    let mut s = String::new();
    for n in nodes {
        s.push_str(&format!(
            "── {} ({}):\n  doc show: {:?}\n  status: {:?}\n  log:\n{}\n",
            n.name,
            n.data.display(),
            show(&n.data, doc),
            try_json(&n.data, &["status"]),
            n.log_text()
        ));
    }
    s
}

/// Inserts `text` at the start of the `notes` text of `doc`.
fn edit(data: &Path, doc: &str, text: &str) {
    json(
        data,
        &["doc", "edit", doc, "--text", "notes", "--insert", "0", text],
    );
}

fn notes(data: &Path, doc: &str) -> String {
    show(data, doc)
        .ok()
        .and_then(|v| v["content"]["notes"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn same_state(a: &Path, b: &Path, doc: &str) -> bool {
    match (show(a, doc), show(b, doc)) {
        (Ok(x), Ok(y)) => x["content"] == y["content"] && x["version"] == y["version"],
        _ => false,
    }
}

#[test]
fn cli_edits_sync_between_two_nodes_and_converge_after_a_restart() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (da.path(), db.path());
    init(a);
    let b_id = init(b);
    let doc = json(a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    edit(a, &doc, "A1 ");

    let node_a = NodeProc::start("A", a, "node", &[]);
    let mut node_b = NodeProc::start("B", b, "node", &[]);

    // Invite (forwarded to node A, so it carries A's address) and join on B.
    let invite = json(a, &["invite", &doc]);
    assert_eq!(invite["online"], true, "{invite}");
    let invite = invite["invite"].as_str().unwrap().to_string();
    let joined = json(b, &["join", &invite]);
    assert_eq!(joined["document"], doc.as_str());
    assert_eq!(joined["announced_key_bundle"], true, "{joined}");

    // B's join request reaches A's node, which checks the invite's token and admits B.
    wait_until(
        "B is admitted by its join request and reads A's edit",
        || notes(b, &doc) == "A1 ",
        || describe(&[&node_a, &node_b], &doc),
    );
    assert!(
        node_a.log_text().contains("member_joined"),
        "{}",
        node_a.log_text()
    );
    // Admitting by hand now says so.
    let again = try_json(a, &["doc", "admit", &doc, &b_id]);
    assert!(
        again
            .as_ref()
            .is_err_and(|e| e.contains("already a member")),
        "{again:?}"
    );

    // Edits with the CLI on either side appear on the other.
    edit(b, &doc, "B1 ");
    wait_until(
        "A sees B's edit",
        || notes(a, &doc) == "B1 A1 ",
        || describe(&[&node_a, &node_b], &doc),
    );
    edit(a, &doc, "A2 ");
    wait_until(
        "B sees A's second edit",
        || notes(b, &doc) == "A2 B1 A1 ",
        || describe(&[&node_a, &node_b], &doc),
    );

    // B goes down hard; both edit; B comes back.
    node_b.kill();
    edit(a, &doc, "A3 ");
    edit(b, &doc, "B2 "); // no node on B: the command opens the data directory itself
    assert!(notes(b, &doc).starts_with("B2 "));
    let node_b = NodeProc::start("B (restarted)", b, "node", &[]);
    wait_until(
        "A and B converge after B's restart",
        || {
            let n = notes(a, &doc);
            n.contains("A3 ") && n.contains("B2 ") && same_state(a, b, &doc)
        },
        || describe(&[&node_a, &node_b], &doc),
    );

    // Status through the running node lists the peer.
    let st = json(a, &["status"]);
    assert_eq!(st["online"], true, "{st}");
    let d = &st["documents"][0];
    assert_eq!(d["id"], doc.as_str());
    assert!(
        d["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == b_id.as_str()),
        "{st}"
    );
    assert!(
        d["known_peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == b_id.as_str()),
        "{st}"
    );

    // Delete through the running node.
    let deleted = json(b, &["doc", "delete", &doc]);
    assert_eq!(deleted["deleted"], doc.as_str());
    assert!(show(b, &doc).unwrap_err().contains("no document"));

    // SIGTERM stops a node cleanly, and its commands then run locally again.
    let mut node_a = node_a;
    assert!(
        node_a.terminate(),
        "node A did not exit cleanly on SIGTERM:\n{}",
        node_a.log_text()
    );
    assert!(
        node_a.log_text().contains("\"stopped\""),
        "{}",
        node_a.log_text()
    );
    let st = json(a, &["status"]);
    assert_eq!(st["online"], false, "{st}");
    drop(node_b);
}

#[test]
fn offline_invite_and_join_then_peer_flag_and_auto_admit() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (da.path(), db.path());
    let a_id = init(a);
    init(b);
    let doc = json(a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    edit(a, &doc, "offline invite ");
    // No node runs: the invite carries no address, and B joins without a network.
    let invite = json(a, &["invite", &doc]);
    assert_eq!(invite["online"], false, "{invite}");
    let joined = json(b, &["join", invite["invite"].as_str().unwrap()]);
    assert_eq!(joined["online"], false, "{joined}");
    // B's queued join request (or --admit) gets B admitted; B finds A through --peer.
    let node_a = NodeProc::start("A", a, "node", &["--admit"]);
    let a_addr = node_a.ready["addrs"][0].as_str().unwrap().to_string();
    let peer = format!("{a_id}@{a_addr}");
    let node_b = NodeProc::start("B", b, "node", &["--peer", &peer]);
    wait_until(
        "B reads A's document (found by --peer, admitted by its join request or --admit)",
        || notes(b, &doc) == "offline invite ",
        || describe(&[&node_a, &node_b], &doc),
    );
    let log = node_a.log_text();
    assert!(
        log.contains("member_joined") || log.contains("member_admitted"),
        "{log}"
    );
}

#[test]
fn a_second_node_on_the_same_data_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    init(d.path());
    let _node = NodeProc::start("A", d.path(), "node", &[]);
    let out = common::cmd(d.path())
        .args(["node", "--bind", "127.0.0.1", "--no-mdns"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already runs"), "{err}");
}
