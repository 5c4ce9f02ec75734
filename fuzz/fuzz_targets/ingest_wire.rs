//! Raw bytes from a peer: envelope CBOR, header CBOR, signature, payload checks, then ingest
//! into a node. Must never panic; a rejected input must leave the store as it was.

#![no_main]

use fieldsync::operation::decode_operation;
use fieldsync_fuzz::Nodes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let decoded = decode_operation(data, 300 * 1024, 256 * 1024);
    Nodes::with(|n| {
        for node in [&n.plain, &n.encrypted] {
            let parked = node.parked_count().expect("parked count");
            let result = node.ingest(data);
            if decoded.is_err() {
                assert!(result.is_err(), "ingest accepted what decode refused");
                assert_eq!(node.parked_count().expect("parked count"), parked);
            }
        }
    });
});
