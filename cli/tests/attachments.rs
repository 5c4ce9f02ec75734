//! `doc attach` and `doc attachment`: a file attached to a document reads back equal; a
//! reference the node has nothing for is "not found"; between two running nodes, content is
//! fetched with `doc attachment --doc` or unasked with `node --fetch-attachments always`,
//! and `doc collect-attachments` deletes what no document references.

mod common;

use common::{init, json, run, wait_until, NodeProc};

#[test]
fn a_file_attached_reads_back_equal() {
    let dirs = tempfile::tempdir().unwrap();
    let a = dirs.path().join("a");
    init(&a);
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let photo: Vec<u8> = (0..600_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let src = dirs.path().join("photo.jpg");
    std::fs::write(&src, &photo).unwrap();
    let added = json(
        &a,
        &[
            "doc",
            "attach",
            &doc,
            src.to_str().unwrap(),
            "--type",
            "image/jpeg",
        ],
    );
    let reference = added["reference"].as_str().unwrap().to_string();
    assert!(reference.starts_with("fsatt1:"), "{added}");
    let out = dirs.path().join("back.jpg");
    let read = run(
        &a,
        &[
            "doc",
            "attachment",
            &reference,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), photo);
    // A reference this node has nothing for: exit 3 (not found), one line.
    let b = dirs.path().join("b");
    init(&b);
    let missing = run(
        &b,
        &[
            "doc",
            "attachment",
            &reference,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(missing.status.code(), Some(3));
}

#[test]
fn running_nodes_fetch_attachments_on_request_and_by_policy() {
    let dirs = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dirs.path().join("a"),
        dirs.path().join("b"),
        dirs.path().join("c"),
    );
    init(&a);
    init(&b);
    init(&c);
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    let photo: Vec<u8> = (0..900_000u32).map(|i| (i * 11 % 251) as u8).collect();
    let src = dirs.path().join("site.jpg");
    std::fs::write(&src, &photo).unwrap();
    let reference = json(&a, &["doc", "attach", &doc, src.to_str().unwrap()])["reference"]
        .as_str()
        .unwrap()
        .to_string();
    json(
        &a,
        &[
            "doc",
            "set",
            &doc,
            "photos",
            &format!("{{\"site\": \"{reference}\"}}"),
        ],
    );
    let node_a = NodeProc::start("A", &a, "node", &[]);
    let node_b = NodeProc::start("B", &b, "node", &["--fetch-attachments", "always"]);
    let node_c = NodeProc::start("C", &c, "node", &[]);
    for joiner in [&b, &c] {
        let invite = json(&a, &["invite", &doc])["invite"]
            .as_str()
            .unwrap()
            .to_string();
        json(joiner, &["join", &invite]);
    }
    let out = dirs.path().join("back.jpg");
    let read = |data: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "doc",
            "attachment",
            &reference,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run(data, &args)
    };
    let logs = || {
        format!(
            "A:\n{}\nB:\n{}\nC:\n{}",
            node_a.log_text(),
            node_b.log_text(),
            node_c.log_text()
        )
    };
    // B fetches it unasked once the reference arrives.
    wait_until(
        "B holds the photo by policy",
        || read(&b, &[]).status.success(),
        logs,
    );
    assert_eq!(std::fs::read(&out).unwrap(), photo);
    // C (on demand) holds nothing until asked with --doc.
    wait_until(
        "C holds the document",
        || {
            json(&c, &["doc", "get", &doc, "photos/site"])
                .to_string()
                .contains("fsatt1:")
        },
        logs,
    );
    assert_eq!(
        read(&c, &[]).status.code(),
        Some(3),
        "on demand: not fetched yet"
    );
    let fetched = read(&c, &["--doc", &doc]);
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), photo);
    // Nothing is collected while the document references it.
    let swept = json(&c, &["doc", "collect-attachments"]);
    assert_eq!(swept["unreferenced"], 0, "{swept}");
    assert_eq!(swept["evicted"], 0, "{swept}");
}
