//! `fieldsync bundle ...`: two devices that never have a network share a document by
//! files: a key bundle, a bundle as QR-sized chunk files, a request and the reply with only
//! what is missing; a changed byte is refused with its exit code and one line.

mod common;

use common::{init, json, run};

fn ok(data: &std::path::Path, args: &[&str]) {
    let out = run(data, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn two_devices_share_a_document_by_files_only() {
    let dirs = tempfile::tempdir().unwrap();
    let (a, b) = (dirs.path().join("a"), dirs.path().join("b"));
    init(&a);
    init(&b);
    let files = dirs.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let p = |name: &str| files.join(name).display().to_string();
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &a,
        &[
            "doc",
            "edit",
            &doc,
            "--text",
            "notes",
            "--insert",
            "0",
            "well 3 dry",
        ],
    );
    // B hands A its key bundle (a file, a QR code); A adds B.
    ok(&b, &["bundle", "key", "--out", &p("b.key")]);
    ok(
        &a,
        &["doc", "member", "add", &doc, "--key-bundle", &p("b.key")],
    );
    // Everything, as QR-sized chunks.
    let exported = json(
        &a,
        &[
            "bundle",
            "export",
            &doc,
            "--out",
            &p("chunks"),
            "--chunks",
            "--chunk-size",
            "1024",
        ],
    );
    assert!(exported["files"].as_u64().unwrap() > 1, "{exported}");
    for entry in std::fs::read_dir(files.join("chunks")).unwrap() {
        assert!(entry.unwrap().metadata().unwrap().len() <= 1024);
    }
    let imported = json(&b, &["bundle", "import", &p("chunks")]);
    assert_eq!(imported["operations"], exported["operations"], "{imported}");
    assert_eq!(
        json(&b, &["doc", "show", &doc])["content"],
        json(&a, &["doc", "show", &doc])["content"]
    );
    // B edits; A asks for what it lacks; only B's edit travels.
    ok(
        &b,
        &[
            "doc", "edit", &doc, "--text", "notes", "--insert", "0", "B: ",
        ],
    );
    ok(&a, &["bundle", "request", &doc, "--out", &p("a.req")]);
    let reply = json(
        &b,
        &[
            "bundle",
            "export",
            &doc,
            "--request",
            &p("a.req"),
            "--out",
            &p("reply.fsb"),
        ],
    );
    assert_eq!(reply["operations"], 1, "{reply}");
    let text = String::from_utf8_lossy(&run(&a, &["bundle", "import", &p("reply.fsb")]).stdout)
        .to_string();
    assert!(
        text.starts_with("imported 1 operations of document"),
        "{text}"
    );
    let content = json(&a, &["doc", "show", &doc])["content"].clone();
    assert_eq!(content, json(&b, &["doc", "show", &doc])["content"]);
    assert!(content.to_string().contains("B: well 3 dry"), "{content}");
    // One changed byte: refused (invalid input, exit 4), one line, nothing applied.
    let mut bytes = std::fs::read(files.join("reply.fsb")).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(files.join("bad.fsb"), &bytes).unwrap();
    let c = dirs.path().join("c");
    init(&c);
    let out = run(&c, &["bundle", "import", &p("bad.fsb")]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("signature does not verify"), "{err}");
    assert_eq!(json(&c, &["doc", "list"]).as_array().map(Vec::len), Some(0));
    // Chunks missing: said so.
    std::fs::remove_file(
        std::fs::read_dir(files.join("chunks"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    let out = run(&c, &["bundle", "import", &p("chunks")]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chunks"));
}
