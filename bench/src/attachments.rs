//! Section 10, attachments (issue #29): fetch throughput over loopback QUIC next to a plain
//! file copy, and the fetch's peak memory, measured in a fresh child process.

use std::ffi::OsStr;
use std::io::Read;
use std::time::Instant;

use crate::local::open_with;
use crate::net::online;

/// Subcommand of the child process.
pub const CHILD: &str = "attachment-child";

/// Content of `len` bytes produced on the fly (the adder streams it: no copy in memory).
struct Pattern {
    left: u64,
    at: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            *b = (self.at * 31 % 251) as u8;
            self.at += 1;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Results of one child run.
pub struct Figures {
    /// Fetch throughput, MB/s of content.
    pub fetch_mb_s: f64,
    /// Bytes the fetch transferred / the content's size.
    pub overhead: f64,
    /// Peak RSS during the fetch above the RSS before it, MB (both nodes in the process).
    pub extra_rss_mb: f64,
    /// Plain file copy of the same size on the same disk, MB/s.
    pub copy_mb_s: f64,
}

/// Child entry point: A adds `mb` MB, B fetches it over QUIC. Prints four numbers.
pub fn child(mb: u64) -> String {
    let size = mb * 1024 * 1024;
    let rt = crate::runtime();
    let (da, db) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let a = open_with(da.path(), |_| {});
    let b = open_with(db.path(), |_| {});
    let doc = a.create_document().expect("document");
    doc.add_member(&b.key_bundle().expect("bundle"))
        .expect("member");
    let reference = doc
        .add_attachment_from(
            Pattern { left: size, at: 0 },
            size,
            "application/octet-stream",
        )
        .expect("add");
    // The reference travels in the document, as an app would keep it.
    doc.map("files")
        .expect("map")
        .set("big", fieldsync::Value::String(reference.clone()))
        .expect("set");
    let (elapsed, transferred, base, peak) = rt.block_on(async {
        online(&a).await;
        online(&b).await;
        let invite = doc.invite().await.expect("invite");
        let doc_b = b.join(&invite).await.expect("join");
        crate::net::until_caught_up(&doc, &b, doc.id()).await;
        drop(doc_b);
        let base = crate::size::status_kb("VmRSS").unwrap_or(0);
        // Reset the peak to now (Linux: writing 5 to clear_refs resets VmHWM).
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let start = Instant::now();
        let fetched = b
            .fetch_attachment(doc.id(), &reference)
            .await
            .expect("fetch");
        assert!(fetched.complete, "fetch incomplete: {fetched:?}");
        let elapsed = start.elapsed();
        let peak = crate::size::peak_rss_kb().unwrap_or(0);
        a.stop_network().await.expect("stop");
        b.stop_network().await.expect("stop");
        (elapsed, fetched.transferred, base, peak)
    });
    let mut out = Vec::new();
    let n = b.read_attachment_to(&reference, &mut out).expect("read");
    assert_eq!(n, size);
    drop(out);
    // A plain copy of a file of the same size.
    let src = da.path().join("plain.bin");
    std::io::copy(
        &mut Pattern { left: size, at: 0 },
        &mut std::fs::File::create(&src).expect("file"),
    )
    .expect("write");
    let start = Instant::now();
    std::fs::copy(&src, db.path().join("plain.bin")).expect("copy");
    let copy = start.elapsed();
    format!(
        "{:.1} {:.3} {:.1} {:.1}",
        mb as f64 / elapsed.as_secs_f64(),
        transferred as f64 / size as f64,
        peak.saturating_sub(base) as f64 / 1024.0,
        mb as f64 / copy.as_secs_f64()
    )
}

/// Runs the child for `mb` MB.
pub fn measure(mb: u64) -> Result<Figures, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = crate::child::output(&exe, [OsStr::new(CHILD), OsStr::new(&mb.to_string())])?;
    let v: Vec<f64> = out
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match v.as_slice() {
        [fetch, overhead, rss, copy] => Ok(Figures {
            fetch_mb_s: *fetch,
            overhead: *overhead,
            extra_rss_mb: *rss,
            copy_mb_s: *copy,
        }),
        _ => Err(format!("unexpected child output {out:?}")),
    }
}
