//! Size figures: peak resident memory of a node holding many operations, bytes on disk per
//! operation, and the size of the release FFI library.

use std::ffi::OsStr;
use std::path::Path;

use fieldsync::DocumentId;

/// A `kB` field of `/proc/self/status`, e.g. `VmHWM` (peak resident set) or `VmRSS`.
pub fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak resident set size of this process (kB).
pub fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM")
}

/// Child-process entry point: open the node in `dir`, load `document` fully (JSON of the
/// whole state) and print the peak RSS in kB.
pub fn rss_child(dir: &Path, document: &str) -> u64 {
    let node = crate::local::open(dir, true);
    let id: DocumentId = document.parse().expect("document id");
    let doc = node.document(id).expect("document");
    let json = doc.to_json().expect("json");
    assert!(json.len() > 2, "the document loaded empty");
    drop(doc);
    peak_rss_kb().expect("VmHWM")
}

/// Peak RSS (kB) of a fresh process that opens the node in `dir` and loads `document`.
pub fn rss_of_node(dir: &Path, document: DocumentId) -> u64 {
    let exe = std::env::current_exe().expect("current exe");
    let doc = document.to_string();
    let out = crate::child::output(&exe, [OsStr::new("rss"), dir.as_os_str(), OsStr::new(&doc)])
        .unwrap_or_else(|e| panic!("rss child: {e}"));
    out.trim().parse().expect("rss child output")
}

/// Total bytes of the files in `dir` (the database and its WAL).
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Size of a file in bytes, if it exists.
pub fn file_bytes(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}
