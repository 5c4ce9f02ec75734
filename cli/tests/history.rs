//! `doc snapshot` and `doc compact`: a snapshot is published, compaction prunes what it
//! covers and the content stays the same.

mod common;

use common::{init, json, run};

#[test]
fn a_snapshot_then_compaction_prunes_the_covered_operations_and_keeps_the_content() {
    let dirs = tempfile::tempdir().unwrap();
    let a = dirs.path().join("a");
    init(&a);
    let doc = json(&a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    for i in 0..30 {
        let out = run(
            &a,
            &[
                "doc",
                "edit",
                &doc,
                "--text",
                "t",
                "--insert",
                "0",
                &format!("{i} "),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let before = json(&a, &["doc", "show", &doc])["content"].clone();
    // Nothing to prune before a snapshot exists.
    let none = json(&a, &["doc", "compact", &doc]);
    assert_eq!(none["pruned"], 0, "{none}");
    let snap = json(&a, &["doc", "snapshot", &doc]);
    assert_eq!(snap["snapshot"], 0, "{snap}");
    assert_eq!(snap["covers_ops"], 30, "{snap}");
    let compacted = json(&a, &["doc", "compact", &doc]);
    assert_eq!(compacted["pruned"], 30, "{compacted}");
    assert_eq!(json(&a, &["doc", "show", &doc])["content"], before);
    let text = String::from_utf8_lossy(&run(&a, &["doc", "compact", &doc]).stdout).to_string();
    assert!(text.starts_with("pruned 0 operations"), "{text}");
}
