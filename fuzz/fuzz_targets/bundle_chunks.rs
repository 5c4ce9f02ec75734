//! Offline bundles and QR chunks from another device or a camera.
//!
//! Invariants: a bundle opens only with its exporter's valid signature (random bytes never
//! do; a bundle signed by the fuzzer's key opens to what was signed), and chunks read in any
//! order assemble only into bytes whose BLAKE3 hash they all name, never panicking.

#![no_main]

use fieldsync::internals::bundle::{chunks, header, open, seal, ChunkAssembler, CHUNK_HEADER_BYTES};
use fieldsync::{AuthorId, DocumentId};
use libfuzzer_sys::fuzz_target;
use p2panda_core::SigningKey;

fuzz_target!(|data: &[u8]| {
    // As a bundle file.
    assert!(open(data).is_err() || data.len() >= 76 + 64);
    // As a signed bundle around these bytes: opens to them, a flipped byte does not open.
    let key = SigningKey::from_bytes(&[9; 32]);
    let doc = DocumentId::from(p2panda_core::Hash::digest(b"fuzz document"));
    let mut bundle = header(AuthorId::from(key.verifying_key()), doc, 1);
    bundle.extend_from_slice(data);
    let bundle = seal(bundle, &key);
    assert_eq!(open(&bundle).expect("own bundle opens").exchange, data);
    if !data.is_empty() {
        let mut flipped = bundle.clone();
        flipped[76 + data.len() / 2] ^= 1;
        assert!(open(&flipped).is_err());
    }
    // As a sequence of chunks: each prefixed by one length byte.
    let mut assembler = ChunkAssembler::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let len = (len as usize + CHUNK_HEADER_BYTES).min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        rest = tail;
        if let Ok(Some(whole)) = assembler.add(chunk) {
            assert_eq!(&chunk[4..36], blake3::hash(&whole).as_bytes());
        }
    }
    // The bundle's own chunks, read back to front with duplicates, give the bundle.
    let size = (64 + data.len() % 512).max(bundle.len() / 60_000 + 64);
    let parts = chunks(&bundle, size).expect("chunk size above the minimum");
    let mut assembler = ChunkAssembler::new();
    let mut whole = None;
    for part in parts.iter().rev().chain(parts.iter().take(1)) {
        if let Some(done) = assembler.add(part).expect("own chunk") {
            whole = Some(done);
        }
    }
    assert_eq!(whole.as_deref(), Some(&bundle[..]));
});
