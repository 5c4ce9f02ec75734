//! Attachments (issue #29), on one device: added from bytes or a reader, read back equal,
//! encrypted on disk, damage detected, readers may not add.

use fieldsync::{DocumentError, Error, Role};
use fieldsync_tests::{open_node, share};

fn photo(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn an_attachment_reads_back_equal_and_is_encrypted_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let a = open_node(dir.path());
    let doc = a.create_document().unwrap();
    let bytes = photo(3 * 1024 * 1024 + 17);
    let reference = doc.add_attachment(&bytes, "image/jpeg").unwrap();
    doc.map("photos")
        .unwrap()
        .set("front", fieldsync::Value::String(reference.clone()))
        .unwrap();
    assert_eq!(a.read_attachment(&reference).unwrap(), bytes);
    // Streamed in from a reader too; an empty attachment is fine.
    let from_reader = doc
        .add_attachment_from(&bytes[..1000], 1000, "application/octet-stream")
        .unwrap();
    assert_eq!(a.read_attachment(&from_reader).unwrap(), &bytes[..1000]);
    let empty = doc.add_attachment(&[], "text/plain").unwrap();
    assert!(a.read_attachment(&empty).unwrap().is_empty());
    // On disk: ciphertext only (no 4 KiB run of the content appears in the file).
    let folder = dir.path().join("attachments");
    let files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3);
    let biggest = files
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let stored = std::fs::read(biggest).unwrap();
    assert!(!stored.windows(4096).any(|w| w == &bytes[8192..8192 + 4096]));
    // A damaged byte is detected, not returned.
    let mut damaged = stored.clone();
    damaged[300_000] ^= 1;
    std::fs::write(biggest, &damaged).unwrap();
    match a.read_attachment(&reference) {
        Err(Error::Document(DocumentError::AttachmentUnavailable { reason, .. })) => {
            assert!(reason.contains("damaged"), "{reason}")
        }
        other => panic!(
            "expected AttachmentUnavailable, got {:?}",
            other.map(|v| v.len())
        ),
    }
    // A reference this device has no attachment for, and a string that is none.
    let other = tempfile::tempdir().unwrap();
    let b = open_node(other.path());
    assert!(matches!(
        b.read_attachment(&reference),
        Err(Error::Document(DocumentError::AttachmentUnavailable { .. }))
    ));
    assert!(matches!(
        b.read_attachment("fsatt1:nonsense"),
        Err(Error::Document(DocumentError::InvalidArgument(_)))
    ));
}

#[test]
fn a_reader_may_not_add_attachments_and_limits_hold() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = open_node(da.path());
    let b = open_node(db.path());
    let doc = a.create_document().unwrap();
    share(&a, &doc, &b);
    doc.set_role(b.author(), Role::Reader).unwrap();
    fieldsync_tests::exchange(&a, &b, doc.id());
    let doc_b = b.document(doc.id()).unwrap();
    assert!(matches!(
        doc_b.add_attachment(b"note", "text/plain"),
        Err(DocumentError::NotAllowed(_))
    ));
    // Declared size above the limit, and an input shorter than declared.
    assert!(matches!(
        doc.add_attachment_from(&b"x"[..], 200 * 1000 * 1000, "video/mp4"),
        Err(DocumentError::InvalidArgument(_))
    ));
    assert!(matches!(
        doc.add_attachment_from(&b"short"[..], 10, "text/plain"),
        Err(DocumentError::InvalidArgument(_))
    ));
    let left: Vec<_> = std::fs::read_dir(da.path().join("attachments"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "a failed add leaves no file: {left:?}");
}
