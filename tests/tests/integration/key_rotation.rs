//! Pre-key rotation: a node whose pre-key nears expiry rotates it when it opens and
//! republishes its key bundle where it had announced one; old sessions keep working.

use std::time::Duration;

use fieldsync::internals::crypto::DeviceKeys;
use fieldsync::internals::store::{keys, Store};
use fieldsync_tests::{exchange, open_node};

/// Replaces the stored key material of the node in `dir` (before it joined any group) with
/// keys whose only pre-key expires within the hour, as if it had aged.
fn age_prekey(dir: &std::path::Path) {
    let mut store = Store::open(dir, &fieldsync::internals::store::default_store_key(dir)).unwrap();
    let bytes = keys::device_keys(store.conn())
        .unwrap()
        .expect("device keys");
    let id = DeviceKeys::from_bytes(&bytes).unwrap().id();
    let aged = DeviceKeys::generate_with_lifetime(id, Duration::from_secs(3600)).unwrap();
    let tx = store.transaction().unwrap();
    keys::save_device_keys(&tx, &aged.to_bytes().unwrap()).unwrap();
    tx.commit().unwrap();
}

#[test]
fn an_expiring_prekey_rotates_on_open_and_the_new_bundle_is_republished() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let b = open_node(db.path());
    let doc = a.create_document().unwrap();
    let id = doc.id();
    let doc_b = b.document_or_register(id).unwrap();
    doc_b.announce_key_bundle().unwrap();
    exchange(&b, &a, id);
    assert_eq!(a.refresh_key_bundle().unwrap(), 0, "nothing to rotate yet");
    let old_bundle = b.key_bundle().unwrap();
    let ops_before = b.operations(id).unwrap().len();
    drop(doc_b);
    drop(b);

    age_prekey(db.path());
    let b = open_node(db.path());
    let new_bundle = b.key_bundle().unwrap();
    assert_ne!(new_bundle, old_bundle, "the pre-key rotated on open");
    assert_eq!(
        b.operations(id).unwrap().len(),
        ops_before + 1,
        "the new bundle was announced again in the document's control log"
    );
    assert_eq!(
        b.refresh_key_bundle().unwrap(),
        0,
        "a fresh pre-key is left alone"
    );

    // A adds B from the republished announcement; B reads.
    exchange(&b, &a, id);
    doc.text("t").unwrap().insert(0, "after rotation").unwrap();
    doc.add_announced_member(b.author()).unwrap();
    exchange(&a, &b, id);
    assert_eq!(
        b.document(id).unwrap().to_json().unwrap(),
        doc.to_json().unwrap()
    );
}
