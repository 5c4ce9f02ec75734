//! `fieldsync doc member ...`: roles from the command line.

mod common;

use common::{init, json, run, try_json};

#[test]
fn members_and_roles_from_the_command_line() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (da.path(), db.path());
    let a_id = init(a);
    let b_id = init(b);
    let doc = json(a, &["doc", "create"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The creator is the document's first admin.
    let list = json(a, &["doc", "member", "list", &doc]);
    assert_eq!(
        list["members"],
        serde_json::json!([{ "member": a_id, "role": "admin" }]),
        "{list}"
    );
    // A relay needs no key bundle; between relay and a reading role the member is removed
    // and added again (the secrets change hands).
    let list = json(a, &["doc", "member", "relay", &doc, &b_id]);
    assert!(
        list["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["member"] == b_id.as_str() && m["role"] == "relay"),
        "{list}"
    );
    let err = try_json(a, &["doc", "member", "role", &doc, &b_id, "writer"]).unwrap_err();
    assert!(err.contains("remove the member"), "{err}");
    // Removal.
    let list = json(a, &["doc", "member", "remove", &doc, &b_id]);
    assert_eq!(list["members"].as_array().unwrap().len(), 1, "{list}");
    // A relay role is refused where a reading role is expected, at parse time.
    let out = run(a, &["doc", "member", "role", &doc, &b_id, "relay"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("member relay"));
    // An unknown role is named.
    let out = run(a, &["doc", "member", "role", &doc, &b_id, "owner"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
}
