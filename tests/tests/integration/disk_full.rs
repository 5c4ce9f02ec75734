//! Disk full (issue #23): on a small tmpfs the test mounts, a node's writes and ingests that
//! hit ENOSPC return `StoreError::DiskFull`, lose nothing committed, and work again once
//! space is freed. Needs root (mount); prints SKIPPED otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use fieldsync::{DocumentError, Error, IngestError, StoreError};
use fieldsync_tests::{open_node, share};

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system of `dir` with a file until it is full; returns the file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0xffu8; 64 << 10];
    loop {
        match f.write_all(&block) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Smaller pieces, so nothing is left for SQLite.
    for size in [4096, 512, 1] {
        while f.write_all(&block[..size]).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

fn is_disk_full(e: &Error) -> bool {
    matches!(
        e,
        Error::Store(StoreError::DiskFull(_))
            | Error::Document(DocumentError::Store(StoreError::DiskFull(_)))
            | Error::Ingest(IngestError::Store(StoreError::DiskFull(_)))
    )
}

#[test]
fn a_full_disk_gives_a_typed_error_loses_nothing_and_recovers() {
    let disk = match SmallDisk::mount("16m") {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIPPED: a_full_disk_gives_a_typed_error_loses_nothing_and_recovers needs a tmpfs mount ({why})");
            return;
        }
    };
    let data = disk.path().join("node");
    let a = open_node(&data);
    let other_dir = tempfile::tempdir().unwrap();
    let b = open_node(other_dir.path());
    let doc = a.create_document().unwrap();
    let id = doc.id();
    share(&a, &doc, &b);
    let text = doc.text("t").unwrap();
    for i in 0..50 {
        text.insert(0, &format!("committed {i}; ")).unwrap();
    }
    a.flush().unwrap();
    let committed = doc.to_json().unwrap();
    // B's edits, to be ingested by A while its disk is full.
    let bdoc = b.document(id).unwrap();
    fieldsync_tests::exchange(&a, &b, id);
    for i in 0..20 {
        bdoc.list("from_b")
            .unwrap()
            .push(fieldsync::Value::Int(i))
            .unwrap();
    }
    let from_b = b.operations(id).unwrap();

    let filler = fill(disk.path());
    // Local writes: each either fails with DiskFull or (while SQLite's free pages last)
    // succeeds; within a few attempts one fails.
    let mut written = Vec::new();
    let mut failure = None;
    for i in 0..200 {
        let piece = format!("{i:04}{}", "w".repeat(16 << 10));
        match text.insert(0, &piece) {
            Ok(()) => written.push(piece),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("a write fails on a full disk");
    assert!(
        matches!(failure, DocumentError::Store(StoreError::DiskFull(_))),
        "a write on a full disk: {failure:?}"
    );
    eprintln!("disk full after {} more writes: {failure}", written.len());
    // Nothing committed was lost, and the failed write left no trace.
    let now = doc.to_json().unwrap();
    assert!(now.contains("committed 49; "), "{now}");
    for w in &written {
        assert!(now.contains(w.as_str()));
    }
    assert!(committed.len() < now.len() || written.is_empty());
    let len_before_failure = text.len().unwrap();
    // Ingest while full: a typed error, nothing stored.
    let mut ingest_failed = None;
    for op in &from_b {
        match a.ingest(op) {
            Ok(_) => {}
            Err(e) => {
                ingest_failed = Some(e);
                break;
            }
        }
    }
    if let Some(e) = &ingest_failed {
        assert!(
            matches!(e, IngestError::Store(StoreError::DiskFull(_))),
            "an ingest on a full disk: {e:?}"
        );
        eprintln!("ingest on the full disk: {e}");
    } else {
        eprintln!("every ingest fitted in SQLite's free pages");
    }
    assert_eq!(text.len().unwrap(), len_before_failure);
    // Flush (snapshots) while full: typed error or success, never a panic or corruption.
    if let Err(e) = a.flush() {
        assert!(is_disk_full(&e), "flush on a full disk: {e:?}");
    }

    // Space freed: the same node works again, without a restart.
    std::fs::remove_file(filler).unwrap();
    text.insert(0, "after; ").unwrap();
    for op in &from_b {
        match a.ingest(op) {
            Ok(_) | Err(IngestError::SeqGap { .. }) => {}
            Err(e) => panic!("ingest after space was freed: {e:?}"),
        }
    }
    a.flush().unwrap();
    let after = doc.to_json().unwrap();
    assert!(
        after.contains("after; ") && after.contains("from_b"),
        "{after}"
    );
    // Reopened, the node holds exactly what it reported.
    drop(doc);
    drop(text);
    drop(a);
    let a = open_node(&data);
    assert_eq!(a.document(id).unwrap().to_json().unwrap(), after);
    for w in &written {
        assert!(
            after.contains(w.as_str()),
            "a write reported as done was lost"
        );
    }
    let _ = b;
}
