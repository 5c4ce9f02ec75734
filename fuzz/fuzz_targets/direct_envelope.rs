//! Direct messages from another device: the signed envelope, the ratchet ciphertext inside
//! it and the payload inside that (`core/src/direct/`), and the receiving node's
//! `Node::receive_direct`, which runs them all against its stored ratchet sessions.
//!
//! Two encrypting nodes share one directory per process (re-created every
//! [`RESET_EVERY`] inputs): R, and S, which joined a document of R's by invite, so each
//! holds a ratchet session with the other.
//!
//! Input: one mode byte, then the payload.
//! - 0: the payload as an envelope: `Envelope::open` and R's `receive_direct` must agree on
//!   a refusal; an envelope of the fixed fuzzing author must survive re-sealing.
//! - 1: flags (1) | counter (8, big endian) | ciphertext: an envelope the fixed fuzzing
//!   author signs (to R, or to S with flag bit 0; counter 1 unless flag bit 1), so R's
//!   ratchet decoder is reached with an unknown sender's first message. Sealing then
//!   opening must round-trip (a counter of 0 is refused).
//! - 2: counter (8, big endian) | plaintext: the payload decoder, for the fixed fuzzing
//!   author writing to a fixed peer. An accepted payload re-encodes to the same payload,
//!   and is refused (`Misbound`) with sender and recipient swapped or another counter.
//! - 3: flags (1) | counter (8) | fields: a payload built from the bytes (app bytes, or a
//!   join request: document (32) | token | key bundle) must survive encode then decode.
//! - 4: flags (1) | position (2) | xor mask (1) | app bytes: S sends the bytes to R (R to S
//!   with flag bit 0) through the real ratchet; with flag bit 1 and a non-zero mask the
//!   envelope is first delivered with bits flipped and must be refused; the real envelope
//!   must then open to the same bytes and counter (a refusal changes no session); with
//!   flag bit 2 delivering it again must be refused as a replay.

#![no_main]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use fieldsync::internals::direct::{decode_payload, encode_payload, Envelope, TOKEN_LEN};
use fieldsync::{AuthorId, DirectError, DirectPayload, DocumentId, Node, NodeConfig};
use fieldsync_fuzz::{author, RESET_EVERY};
use libfuzzer_sys::fuzz_target;
use p2panda_core::SigningKey;

/// Secret key bytes of the fixed peer the payload modes address.
const PEER_SEED: [u8; 32] = [9; 32];

/// Polls a future that completes without a runtime (the node's invite and join do while
/// its network is not started).
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

struct Pair {
    r: Node,
    s: Node,
    used: u32,
    // Dropped after the nodes.
    _dir: tempfile::TempDir,
}

impl Pair {
    fn open() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = Node::open(NodeConfig::new(dir.path().join("r"))).expect("open R");
        let s = Node::open(NodeConfig::new(dir.path().join("s"))).expect("open S");
        let doc = r.create_document().expect("create document");
        let invite = block_on(doc.invite()).expect("invite");
        block_on(s.join(&invite)).expect("join");
        let request = s.pending_direct(r.author()).expect("pending").remove(0);
        let received = r.receive_direct(&request).expect("join request");
        assert_eq!(received.admitted, Some(doc.id()));
        s.acknowledge_direct(r.author(), received.counter)
            .expect("acknowledge");
        Pair {
            r,
            s,
            used: 0,
            _dir: dir,
        }
    }

    /// Runs `f` on the shared pair, re-created every [`RESET_EVERY`] calls. A `static`, not
    /// a thread-local (see `fieldsync_fuzz::Nodes::with`).
    fn with<T>(f: impl FnOnce(&Pair) -> T) -> T {
        static PAIR: Mutex<Option<Pair>> = Mutex::new(None);
        let mut slot = PAIR.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|p| p.used >= RESET_EVERY) {
            *slot = None;
            *slot = Some(Pair::open());
        }
        let pair = slot.as_mut().expect("just opened");
        pair.used += 1;
        f(pair)
    }
}

fn id(key: &SigningKey) -> AuthorId {
    AuthorId::from(key.verifying_key())
}

fn counter_of(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*head), rest))
}

fn raw_envelope(bytes: &[u8]) {
    let opened = Envelope::open(bytes);
    let received = Pair::with(|p| p.r.receive_direct(bytes));
    match opened {
        Err(e) => {
            let r = received.expect_err("receive_direct accepted an envelope open refuses");
            assert_eq!(r.to_string(), e.to_string());
        }
        Ok(envelope) => {
            let key = author();
            if envelope.from == id(&key) {
                assert_eq!(
                    Envelope::open(&envelope.seal(&key)).expect("re-sealed"),
                    envelope
                );
            }
        }
    }
}

fn signed_envelope(payload: &[u8]) {
    let Some((&flags, rest)) = payload.split_first() else {
        return;
    };
    let Some((counter, sealed)) = counter_of(rest) else {
        return;
    };
    let counter = if flags & 2 == 0 { 1 } else { counter };
    let key = author();
    Pair::with(|p| {
        let to = if flags & 1 == 0 {
            p.r.author()
        } else {
            p.s.author()
        };
        let envelope = Envelope {
            from: id(&key),
            to,
            counter,
            sealed: sealed.to_vec(),
        };
        let bytes = envelope.seal(&key);
        match Envelope::open(&bytes) {
            Ok(opened) => assert_eq!(opened, envelope),
            Err(e) => assert_eq!(counter, 0, "sealed envelope refused: {e}"),
        }
        let received = p.r.receive_direct(&bytes);
        if counter == 0 {
            assert!(matches!(received, Err(DirectError::Malformed(_))));
        } else if flags & 1 != 0 {
            assert!(matches!(received, Err(DirectError::NotForUs(_))));
        }
    });
}

fn payload_decode(payload: &[u8]) {
    let Some((counter, plaintext)) = counter_of(payload) else {
        return;
    };
    let (from, to) = (id(&author()), id(&SigningKey::from_bytes(&PEER_SEED)));
    let Ok(decoded) = decode_payload(plaintext, &from, &to, counter) else {
        return;
    };
    let again = encode_payload(&from, &to, counter, &decoded);
    assert_eq!(
        decode_payload(&again, &from, &to, counter).expect("re-encoded payload"),
        decoded
    );
    assert!(matches!(
        decode_payload(plaintext, &to, &from, counter),
        Err(DirectError::Misbound)
    ));
    assert!(matches!(
        decode_payload(plaintext, &from, &to, counter.wrapping_add(1)),
        Err(DirectError::Misbound)
    ));
}

fn payload_round_trip(payload: &[u8]) {
    let Some((&flags, rest)) = payload.split_first() else {
        return;
    };
    let Some((counter, fields)) = counter_of(rest) else {
        return;
    };
    let content = if flags & 1 == 0 {
        DirectPayload::App(fields.to_vec())
    } else {
        let Some((document, rest)) = fields.split_first_chunk::<32>() else {
            return;
        };
        if rest.len() < TOKEN_LEN {
            return;
        }
        let (token, key_bundle) = rest.split_at(TOKEN_LEN);
        DirectPayload::JoinRequest {
            document: DocumentId::from_slice(document).expect("32 bytes"),
            token: token.to_vec(),
            key_bundle: key_bundle.to_vec(),
        }
    };
    let (from, to) = (id(&author()), id(&SigningKey::from_bytes(&PEER_SEED)));
    let plaintext = encode_payload(&from, &to, counter, &content);
    assert_eq!(
        decode_payload(&plaintext, &from, &to, counter).expect("encoded payload"),
        content
    );
}

fn ratchet(payload: &[u8]) {
    let [flags, p0, p1, mask, app @ ..] = payload else {
        return;
    };
    Pair::with(|p| {
        let (sender, receiver) = if flags & 1 == 0 {
            (&p.s, &p.r)
        } else {
            (&p.r, &p.s)
        };
        let to = receiver.author();
        let counter = sender.send_direct(to, app).expect("send_direct");
        let envelope = sender
            .pending_direct(to)
            .expect("pending_direct")
            .pop()
            .expect("queued envelope");
        if flags & 2 != 0 && *mask != 0 {
            let mut tampered = envelope.clone();
            let at = usize::from(u16::from_be_bytes([*p0, *p1])) % tampered.len();
            tampered[at] ^= mask;
            assert!(
                receiver.receive_direct(&tampered).is_err(),
                "tampered envelope (byte {at}) opened"
            );
        }
        let got = receiver.receive_direct(&envelope).expect("receive_direct");
        assert_eq!(got.from, sender.author());
        assert_eq!(got.counter, counter);
        assert_eq!(got.payload, DirectPayload::App(app.to_vec()));
        assert_eq!(got.admitted, None);
        if flags & 4 != 0 {
            assert!(matches!(
                receiver.receive_direct(&envelope),
                Err(DirectError::Replayed { .. })
            ));
        }
        sender
            .acknowledge_direct(to, counter)
            .expect("acknowledge_direct");
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => raw_envelope(payload),
        1 => signed_envelope(payload),
        2 => payload_decode(payload),
        3 => payload_round_trip(payload),
        _ => ratchet(payload),
    }
});
