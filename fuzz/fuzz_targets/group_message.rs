//! Encrypted bodies and group control messages from a peer.
//!
//! Input: one mode byte, then the payload.
//! - 0: decrypt the payload as a ciphertext envelope (must not panic).
//! - 1: encrypt the payload and decrypt it again (must round-trip).
//! - 2: payload = position (2 bytes) | xor mask (1 byte, non-zero) | plaintext: encrypt,
//!   flip bits at the position, decrypt: must fail (the envelope is tamper-evident).
//! - 3: receive the payload as a control message of the fixed fuzzing author for the fixed
//!   document's group, on a group state that waits to be welcomed.
//! - 4: parse the payload as a key bundle and verify it.

#![no_main]

use fieldsync::internals::crypto::{DeviceKeys, DocumentGroup, GroupId, KeyBundle};
use fieldsync_fuzz::{author, document};
use libfuzzer_sys::fuzz_target;

struct Crypto {
    me: DeviceKeys,
    group: DocumentGroup,
}

thread_local! {
    static CRYPTO: Crypto = {
        let key = p2panda_core::SigningKey::from_bytes(&[9; 32]);
        let me = DeviceKeys::generate(key.verifying_key()).expect("device keys");
        let group_id = GroupId::from_bytes([3; 32]);
        let (group, _) = DocumentGroup::create(&me, group_id, &[]).expect("create group");
        Crypto { me, group }
    };
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    CRYPTO.with(|c| match mode % 5 {
        0 => {
            let _ = c.group.decrypt(payload);
        }
        1 => {
            let envelope = c.group.encrypt(payload).expect("encrypt");
            assert_eq!(c.group.decrypt(&envelope).expect("decrypt"), payload);
        }
        2 => {
            let [p0, p1, mask, plaintext @ ..] = payload else {
                return;
            };
            if *mask == 0 {
                return;
            }
            let mut envelope = c.group.encrypt(plaintext).expect("encrypt");
            let at = usize::from(u16::from_be_bytes([*p0, *p1])) % envelope.len();
            envelope[at] ^= mask;
            assert!(
                c.group.decrypt(&envelope).is_err(),
                "tampered envelope (byte {at}) decrypted"
            );
        }
        3 => {
            let group_id = GroupId::from(document().as_hash());
            let mut waiting = DocumentGroup::new(&c.me, group_id);
            let _ = waiting.receive(&c.me, author().verifying_key(), payload);
        }
        _ => {
            if let Ok(bundle) = KeyBundle::from_bytes(payload) {
                let _ = bundle.verify();
            }
        }
    });
});
