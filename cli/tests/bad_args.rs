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
        (&["join", "fs1:AAAA"], "damaged"),
        (&["doc", "admit", "ab", "not-a-node"], "<DEVICE>"),
        (&["node", "--port", "70000"], "--port"),
        (&["node", "--bind", "nowhere"], "--bind"),
        (&["node", "--peer", "127.0.0.1:4000"], "NODE_ID@IP:PORT"),
        (&["serve"], "--graphql"),
        (&["serve", "--graphql", "localhost"], "--graphql"),
        (
            &["doc", "edit", "ab", "--text", "n", "--insert", "-1", "x"],
            "not a position",
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

/// Runs the command and returns (exit code, stderr).
fn exit_of(data: &Path, args: &[&str]) -> (i32, String) {
    let out = run(data, args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each kind of failure has its own exit status and one line on stderr; large values come
/// from a file or standard input; edits print a one-line summary; a closed pipe is no panic.
#[test]
fn exit_statuses_one_line_errors_values_from_files_and_closed_pipes() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path();
    assert_eq!(exit_of(data, &["doc", "list"]).0, 3, "no node: not found");
    init(data);
    let out = run(data, &["--json", "doc", "create"]);
    let id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["doc", "show", "abcdef"], 3, "no document matching"),
        (&["doc", "set", &id, "site", "{not json"], 4, "JSON"),
        (
            &["doc", "edit", &id, "--text", "n", "--insert", "9", "x"],
            4,
            "past the end",
        ),
        (
            &["doc", "edit", &id, "--text", "", "--insert", "0", "x"],
            4,
            "must not be empty",
        ),
        (
            &[
                "doc",
                "set",
                &id,
                "site",
                "--file",
                "/nonexistent/value.json",
            ],
            4,
            "cannot read",
        ),
        (&["join", "fs1:AAAA"], 2, "damaged"),
        (&["frobnicate"], 2, "frobnicate"),
    ];
    for (args, code, needle) in cases {
        let (got, err) = exit_of(data, args);
        assert_eq!(got, *code, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        if *code != 2 {
            // clap's usage errors add a hint line; ours are one line.
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
            assert!(err.starts_with("fieldsync: error: "), "{err}");
        }
    }

    // A 5 MB value from a file (a command line holds ~128 KiB per argument) and one from
    // standard input; the summaries are one line each.
    let big = format!("{{\"notes\":\"{}\"}}", "x".repeat(5 * 1024 * 1024));
    let file = d.path().join("big.json");
    std::fs::write(&file, &big).unwrap();
    let out = run(
        data,
        &["doc", "set", &id, "site", "--file", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        summary.lines().count(),
        1,
        "{}",
        &summary[..summary.len().min(200)]
    );
    assert!(
        summary.contains(&format!("{} bytes", big.len())),
        "{summary}"
    );
    let mut child = common::cmd(data)
        .args(["doc", "set", &id, "readings", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"[1.5, 2.5]")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&run(data, &["doc", "get", &id, "readings/1"]).stdout).trim(),
        "2.5"
    );
    let out = run(
        data,
        &[
            "doc",
            "edit",
            &id,
            "--text",
            "t",
            "--insert",
            "0",
            &"y".repeat(120_000),
        ],
    );
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(line.lines().count(), 1);
    assert!(
        line.len() < 200,
        "the edit echoed the container: {} bytes",
        line.len()
    );

    // `fieldsync --json doc show ID | head -c 100`: no panic when the reader goes away.
    let mut child = common::cmd(data)
        .args(["--json", "doc", "show", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Read;
        let mut first = [0u8; 100];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
    }
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.is_empty(), "{err}");
}
