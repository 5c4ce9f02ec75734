//! Operations that pass the signature check (signed here by the fixed fuzzing author) with a
//! fuzzed body: reaches body scheme parsing, Loro update checks and import, decryption and
//! group control processing.
//!
//! Input: one mode byte, then the body. Mode bit 0: log kind (0 delta, 1 control); bit 1:
//! node (0 plain, 1 encrypted); bit 2: a fresh document per input (seq 0) instead of the
//! fixed document (chained after the last accepted operation).
//! Invariant: after an accepted delta the document equals a replay of its op log.

#![no_main]

use fieldsync::internals::operation::{build_operation, encode_operation, LogKind};
use fieldsync::{DocumentId, IngestOutcome};
use fieldsync_fuzz::{author, document, Nodes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let kind = if mode & 1 == 0 {
        LogKind::Delta
    } else {
        LogKind::Control
    };
    let encrypted = mode & 2 != 0;
    let doc = if mode & 4 != 0 {
        DocumentId::from_slice(blake3::hash(data).as_bytes()).expect("32 bytes")
    } else {
        document()
    };
    let key = author();
    Nodes::with(|n| {
        let prev = n.heads.get(&(encrypted, doc, kind)).copied();
        let op = build_operation(&key, doc, kind, prev, body.to_vec());
        let node = if encrypted { &n.encrypted } else { &n.plain };
        match node.ingest(&encode_operation(&op)) {
            Ok(IngestOutcome::Duplicate) => {}
            Ok(outcome) => {
                n.heads
                    .insert((encrypted, doc, kind), (op.header.seq_num, op.hash));
                if matches!(outcome, IngestOutcome::Applied { .. }) {
                    let live = node
                        .document(doc)
                        .and_then(|d| Ok(d.to_json()?))
                        .expect("applied document is readable");
                    let replay = node.replay_json(doc).expect("replay");
                    assert_eq!(live, replay, "document differs from a replay of its log");
                }
            }
            Err(_) => {}
        }
    });
});
