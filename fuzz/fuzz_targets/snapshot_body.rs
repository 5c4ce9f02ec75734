//! Snapshot operation bodies (covered logs and the state) from another device.
//!
//! Invariant: a decoded body re-encodes to bytes that decode to an equal body, its covered
//! authors are strictly increasing and every cover is a signed header of the document's
//! update logs (the fuzzer's document: the seeds' one).

#![no_main]

use fieldsync::internals::snapshot::{decode, encode};
use fieldsync::DocumentId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let doc = DocumentId::from(p2panda_core::Hash::digest(b"fuzz document"));
    if let Ok(body) = decode(data, doc) {
        assert!(body.covers.windows(2).all(|w| w[0].author < w[1].author));
        let again =
            decode(&encode(&body.covers, &body.state), doc).expect("re-encoded body decodes");
        assert_eq!(again, body);
    }
});
