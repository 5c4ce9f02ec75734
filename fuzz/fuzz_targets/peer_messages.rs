//! Messages a peer sends besides operations: signed gossip (app payloads, heads, pushed
//! operations) and the catch-up heights frame.
//!
//! Input: one mode byte, then the payload.
//! - 0: the payload as a raw gossip message (signature check first).
//! - 1: the payload as gossip content (kind, then the 8-byte nonce and the message payload)
//!   signed here by the fixed fuzzing author, so the kind and content decoders behind the
//!   signature check are reached; it must verify and name that author, unless its content
//!   is malformed.
//! - 2: the payload as a catch-up heights frame; accepted frames list at most 100,000 logs.
//! - 3: the payload as a version vector; accepted ones survive a re-encoding round trip.

#![no_main]

use fieldsync::internals::net::ephemeral;
use fieldsync::{AuthorId, VersionVector};
use fieldsync_fuzz::author;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => {
            let _ = ephemeral::open(payload);
        }
        1 => {
            let Some((&kind, content)) = payload.split_first() else {
                return;
            };
            let key = author();
            let mut signed = vec![kind];
            signed.extend_from_slice(content);
            let signature = key.sign(&signed);
            let mut message = vec![kind];
            message.extend_from_slice(key.verifying_key().as_bytes());
            message.extend_from_slice(&signature.to_bytes());
            message.extend_from_slice(content);
            if let Some((sender, _)) = ephemeral::open(&message) {
                assert_eq!(sender, AuthorId::from(key.verifying_key()));
            }
        }
        2 => {
            if let Some(logs) = fieldsync::internals::catchup_heights(payload) {
                assert!(logs <= 100_000);
            }
        }
        _ => {
            if let Some(vv) = VersionVector::from_bytes(payload) {
                assert_eq!(VersionVector::from_bytes(&vv.to_bytes()), Some(vv));
            }
        }
    }
});
