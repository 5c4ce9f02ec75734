//! Invite strings (scanned from QR codes or pasted by users).
//!
//! Input: one mode byte, then the payload. Mode 0: the payload as text. Otherwise the
//! payload is the CBOR behind the `fs1:` prefix (base64url-encoded here), which reaches the
//! structure checks directly. Invariant: a parsed invite re-encodes to an equal invite.

#![no_main]

use base64::Engine;
use fieldsync::Invite;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let text = if mode == 0 {
        String::from_utf8_lossy(payload).into_owned()
    } else {
        format!(
            "fs1:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
        )
    };
    if let Ok(invite) = Invite::parse(&text) {
        let again = Invite::parse(&invite.encode()).expect("re-encoded invite parses");
        assert_eq!(again, invite);
    }
});
