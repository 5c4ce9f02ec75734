//! Snapshot operation bodies (covered logs and the state) from another device.
//!
//! Invariant: a decoded body re-encodes to bytes that decode to an equal body, and its
//! covered authors are strictly increasing.

#![no_main]

use fieldsync::internals::snapshot::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = decode(data) {
        assert!(body.covers.windows(2).all(|w| w[0].0 < w[1].0));
        let again = decode(&encode(&body.covers, &body.state)).expect("re-encoded body decodes");
        assert_eq!(again, body);
    }
});
