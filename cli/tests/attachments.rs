//! `doc attach` and `doc attachment`: a file attached to a document reads back equal; a
//! reference the node has nothing for is "not found".

mod common;

use common::{init, json, run};

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
