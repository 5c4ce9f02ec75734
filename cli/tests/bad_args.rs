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

    // JSON at a path, and a snapshot out and back in as a new document.
    let ok = |args: &[&str]| {
        let out = run(data, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&[
        "doc",
        "set",
        id,
        "households",
        r#"[{"name":"Nkosi","size":4}]"#,
    ]);
    ok(&[
        "doc",
        "set",
        id,
        "households/1",
        r#"{"name":"Okafor","size":2}"#,
    ]);
    assert_eq!(
        ok(&["doc", "get", id, "households/1/name"]).trim(),
        "\"Okafor\""
    );
    let err = fails(data, &["doc", "set", id, "households/0", "{not json"]);
    assert!(err.contains("JSON"), "{err}");
    let err = fails(data, &["doc", "get", id, "0/name"]);
    assert!(err.contains("root container"), "{err}");
    let file = d.path().join("backup.loro");
    // An existing world-readable file is restricted before the snapshot goes in.
    std::fs::write(&file, b"old").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    ok(&["doc", "export", id, "--out", file.to_str().unwrap()]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the snapshot holds content in the clear"
        );
    }
    let copy: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "doc", "import", file.to_str().unwrap()])).unwrap();
    let original: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "doc", "show", id])).unwrap();
    assert_ne!(copy["id"], original["id"]);
    assert_eq!(copy["content"], original["content"]);
    let err = fails(data, &["doc", "import", "Cargo.toml"]);
    assert!(err.contains("snapshot"), "{err}");
    // Deleting works once, then the id is gone.
    assert!(run(data, &["doc", "delete", id]).status.success());
    let err = fails(data, &["doc", "show", id]);
    assert!(err.contains("no document"), "{err}");
}
