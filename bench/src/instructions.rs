//! A figure free of the machine's speed drift: the instructions the receiving node executes per
//! ingested operation, counted by valgrind's callgrind in a child process, and the parts of
//! that count spent in the functions that bound sync throughput.
//!
//! Timings on the development machine drift by up to a quarter within minutes; instruction
//! counts of the same binary and input repeat. The child opens a receiver prepared by this
//! process, ingests operations read from a file in slices of 512 (as a catch-up stores them)
//! and exits; a second child with an empty file counts what opening and closing the node costs,
//! which is subtracted.

use std::ffi::OsStr;
use std::path::Path;

/// First argument that makes `fieldsync-bench` run as the ingesting child.
pub const CHILD: &str = "ingest-file";

/// Parts of the count reported on their own: a label and the function (as callgrind names it)
/// whose inclusive count, over all threads, is the part's.
const PARTS: &[(&str, &str)] = &[
    (
        "Ed25519 batch verification",
        "ed25519_dalek::batch::verify_batch",
    ),
    (
        "author key decompression in p2panda's header decoding",
        "p2panda_core::identity::VerifyingKey::from_bytes",
    ),
    (
        "Loro attribution check",
        "fieldsync::document::attribution::check",
    ),
    (
        "decryption",
        "fieldsync::replica::keyring::KeyRing::open_delta",
    ),
    (
        "Loro import",
        "loro_internal::loro::<impl loro_internal::LoroDoc>::import_with_history_mode",
    ),
    ("SQLite statements", "sqlite3_step"),
];

/// Instructions per ingested operation: the total and each of [`PARTS`].
pub struct PerOp {
    /// Operations the counted child ingested.
    pub ops: usize,
    /// All instructions of the receiving process per operation, opening and closing excluded.
    pub total: f64,
    /// (label, instructions per operation) for each part, in [`PARTS`] order; `None` when the
    /// function did not show in the profile (inlined into its caller by another build).
    pub parts: Vec<(&'static str, Option<f64>)>,
}

impl PerOp {
    /// The table cell: total, then each part with its share of the total.
    pub fn describe(&self) -> String {
        let k = |x: f64| format!("{:.0}k", x / 1000.0);
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|(label, n)| match n {
                Some(n) => format!("{label} {} ({:.0}%)", k(*n), 100.0 * n / self.total),
                None => format!("{label} not seen (inlined)"),
            })
            .collect();
        let rest = self.total - self.parts.iter().filter_map(|(_, n)| *n).sum::<f64>();
        format!(
            "{} instructions: {}; the rest {} ({:.0}%)",
            k(self.total),
            parts.join(", "),
            k(rest),
            100.0 * rest / self.total
        )
    }
}

/// Child-process entry point: open the node in `dir`, ingest the operations in `wire` and
/// return how many it ingested (each must be accepted).
pub fn child(dir: &Path, wire: &Path) -> usize {
    let bytes = std::fs::read(wire).expect("read operations file");
    let ops = split(&bytes);
    let node = crate::local::open(dir, true);
    let mut ingested = 0;
    for chunk in ops.chunks(512) {
        for r in node.ingest_batch(chunk) {
            r.expect("ingest");
            ingested += 1;
        }
    }
    ingested
}

/// Operations written by [`join`]: each a little-endian u32 length and its bytes.
fn split(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        assert!(rest.len() >= len, "truncated operations file");
        out.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    out
}

/// The operations file [`split`] reads.
fn join(ops: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops {
        out.extend_from_slice(&(op.len() as u32).to_le_bytes());
        out.extend_from_slice(op);
    }
    out
}

/// Counts, for `n` single-edit encrypted operations written by one node, the instructions a
/// second node executes to ingest them. Fails with the reason when valgrind is missing or a
/// child fails.
pub fn receiver_per_op(n: usize) -> Result<PerOp, String> {
    crate::child::output(Path::new("valgrind"), ["--version"])
        .map_err(|_| "valgrind not installed (apt-get install valgrind)".to_string())?;
    let (_da, db, a, b, doc) = crate::local::two_nodes(true);
    crate::local::fill(&doc, n);
    let wire = a.operations(doc.id()).map_err(|e| e.to_string())?;
    drop((doc, a, b));
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let empty = work.path().join("none.ops");
    let full = work.path().join("all.ops");
    std::fs::write(&empty, []).map_err(|e| e.to_string())?;
    std::fs::write(&full, join(&wire)).map_err(|e| e.to_string())?;
    let base = count(db.path(), &empty, &work.path().join("base.cg"), 0)?;
    let run = count(db.path(), &full, &work.path().join("run.cg"), wire.len())?;
    let per = |x: u64, y: u64| x.saturating_sub(y) as f64 / wire.len() as f64;
    Ok(PerOp {
        ops: wire.len(),
        total: per(run.total, base.total),
        parts: PARTS
            .iter()
            .zip(run.parts.iter().zip(&base.parts))
            .map(|((label, _), (r, b))| (*label, r.map(|r| per(r, b.unwrap_or(0)))))
            .collect(),
    })
}

/// Inclusive instruction counts of one child run.
struct Counts {
    total: u64,
    parts: Vec<Option<u64>>,
}

/// Runs the child under callgrind on `wire`, checks it ingested `expect` operations, and reads
/// the counts back with `callgrind_annotate`.
fn count(dir: &Path, wire: &Path, out: &Path, expect: usize) -> Result<Counts, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut out_arg = std::ffi::OsString::from("--callgrind-out-file=");
    out_arg.push(out);
    let args: [&OsStr; 6] = [
        OsStr::new("--tool=callgrind"),
        &out_arg,
        exe.as_os_str(),
        OsStr::new(CHILD),
        dir.as_os_str(),
        wire.as_os_str(),
    ];
    let stdout = crate::child::output(Path::new("valgrind"), args)?;
    let ingested: usize = stdout
        .trim()
        .parse()
        .map_err(|_| format!("unexpected child output {stdout:?}"))?;
    if ingested != expect {
        return Err(format!(
            "the child ingested {ingested} of {expect} operations"
        ));
    }
    let annotated = crate::child::output(
        Path::new("callgrind_annotate"),
        [
            OsStr::new("--inclusive=yes"),
            OsStr::new("--threshold=100"),
            out.as_os_str(),
        ],
    )?;
    parse(&annotated)
}

/// The program total and each part's inclusive count from `callgrind_annotate` output.
fn parse(annotated: &str) -> Result<Counts, String> {
    let number = |line: &str| -> Option<u64> {
        line.split_whitespace()
            .next()?
            .replace(',', "")
            .parse()
            .ok()
    };
    let total = annotated
        .lines()
        .find(|l| l.contains("PROGRAM TOTALS"))
        .and_then(number)
        .ok_or("callgrind_annotate printed no program total")?;
    let parts = PARTS
        .iter()
        .map(|(_, function)| {
            // A line reads "  1,234 (12.34%)  file:function [object]"; the part is the
            // function named exactly so (not a closure or a recursion of it).
            annotated
                .lines()
                .find(|l| {
                    l.split_once(':')
                        .and_then(|(_, f)| f.split(" [").next())
                        .is_some_and(|f| f == *function)
                })
                .and_then(number)
        })
        .collect();
    Ok(Counts { total, parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_file_round_trips() {
        let ops = vec![vec![1, 2, 3], vec![], vec![9; 300]];
        assert_eq!(split(&join(&ops)), ops);
    }

    #[test]
    fn describes_shares_and_the_rest() {
        let p = PerOp {
            ops: 10,
            total: 200_000.0,
            parts: vec![("verify", Some(150_000.0)), ("gone", None)],
        };
        assert_eq!(
            p.describe(),
            "200k instructions: verify 150k (75%), gone not seen (inlined); the rest 50k (25%)"
        );
    }

    #[test]
    fn reads_totals_and_parts_from_annotate_output() {
        let text = "\
--------------------------------------------------------------------------------
2,000,000 (100.0%)  PROGRAM TOTALS
--------------------------------------------------------------------------------
1,500,000 (75.00%)  ???:ed25519_dalek::batch::verify_batch [/x]
  900,000 (45.00%)  ???:sqlite3_step'2 [/x]
  100,000 ( 5.00%)  ???:sqlite3_step [/x]
";
        let c = parse(text).unwrap();
        assert_eq!(c.total, 2_000_000);
        assert_eq!(c.parts[0], Some(1_500_000));
        assert_eq!(
            c.parts[5],
            Some(100_000),
            "the recursion's line is not the function's"
        );
        assert_eq!(c.parts[1], None, "a function not listed");
        assert!(parse("no totals here").is_err());
    }
}
