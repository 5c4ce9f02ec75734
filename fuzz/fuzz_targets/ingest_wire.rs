//! Raw bytes from a peer: envelope CBOR, header CBOR, signature, payload checks, then ingest
//! into a node. Must never panic; a rejected input must leave the store as it was. The
//! batched decoder (signatures checked as one Ed25519 batch, as a catch-up does) must give
//! the input the same result as the one-by-one decoder, and must still accept the valid
//! operations beside it.

#![no_main]

use std::sync::OnceLock;

use fieldsync::internals::operation::{
    build_operation, decode_operation, decode_operations, encode_operation, LogKind,
};
use fieldsync_fuzz::{author, document, Nodes};
use libfuzzer_sys::fuzz_target;

const MAX_OPERATION: usize = 300 * 1024;
const MAX_BODY: u64 = 256 * 1024;

/// Two valid operations of the fuzzing author's log, wire-encoded.
fn valid() -> &'static [Vec<u8>; 2] {
    static VALID: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    VALID.get_or_init(|| {
        let first = build_operation(&author(), document(), LogKind::Delta, None, vec![1]);
        let second = build_operation(
            &author(),
            document(),
            LogKind::Delta,
            Some((first.header.seq_num, first.hash)),
            vec![2],
        );
        [encode_operation(&first), encode_operation(&second)]
    })
}

fuzz_target!(|data: &[u8]| {
    let decoded = decode_operation(data, MAX_OPERATION, MAX_BODY);
    let [first, second] = valid();
    let batch = decode_operations(
        &[first.clone(), data.to_vec(), second.clone()],
        MAX_OPERATION,
        MAX_BODY,
    );
    assert!(batch[0].is_ok() && batch[2].is_ok(), "valid neighbours refused");
    match (&decoded, &batch[1]) {
        (Ok(one), Ok(many)) => assert_eq!(one.hash, many.hash),
        (Err(one), Err(many)) => assert_eq!(one.to_string(), many.to_string()),
        (one, many) => panic!("one by one {one:?}, in a batch {many:?}"),
    }
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
