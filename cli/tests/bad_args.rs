//! Bad arguments exit non-zero with a message on stderr that names the problem.

mod common;

use std::path::Path;

use common::{init, run};

/// Runs the command, requires a non-zero exit, returns stderr.
fn fails(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "{args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty() || !err.is_empty(),
        "{args:?}: no message"
    );
    err
}

#[test]
fn bad_arguments_are_named() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path();

    // Before init: every command says how to create the node.
    let err = fails(data, &["doc", "list"]);
    assert!(err.contains("init"), "{err}");

    init(data);
    let cases: &[(&[&str], &str)] = &[
        (&["doc", "show", "xyz"], "invalid document id"),
        (&["doc", "show", "abcdef"], "no document matching"),
        (&["doc", "delete", "0123"], "no document matching"),
        (&["join", "hello"], "<INVITE>"),
        (&["join", "fs1:!!!"], "base64url"),
        (&["join", "fs1:AAAA"], "malformed"),
        (&["doc", "admit", "ab", "not-a-node"], "<DEVICE>"),
        (&["node", "--port", "70000"], "--port"),
        (&["node", "--bind", "nowhere"], "--bind"),
        (&["node", "--peer", "127.0.0.1:4000"], "NODE_ID@IP:PORT"),
        (&["serve"], "--graphql"),
        (&["serve", "--graphql", "localhost"], "--graphql"),
        (
            &["doc", "edit", "ab", "--text", "n", "--insert", "-1", "x"],
            "--insert",
        ),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let err = fails(data, args);
        assert!(
            err.to_lowercase().contains(&needle.to_lowercase()),
            "{args:?}: stderr should name {needle:?}: {err}"
        );
    }

    // A real document: positions past the end are refused by name.
    let out = run(data, &["--json", "doc", "create"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["id"].as_str().unwrap();
    let err = fails(
        data,
        &["doc", "edit", id, "--text", "n", "--insert", "5", "x"],
    );
    assert!(err.contains("past the end"), "{err}");
    // Deleting works once, then the id is gone.
    assert!(run(data, &["doc", "delete", id]).status.success());
    let err = fails(data, &["doc", "show", id]);
    assert!(err.contains("no document"), "{err}");
}
