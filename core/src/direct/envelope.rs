//! The signed envelope of a direct message.
//!
//! Wire format: CBOR array `[1, from, to, counter, sealed, signature]` where `from` and `to`
//! are 32-byte Ed25519 device keys, `counter` numbers the messages of one sender to one
//! recipient from 1, `sealed` is the 2SM ciphertext and `signature` is the sender's Ed25519
//! signature over `DOMAIN` followed by the CBOR of the first five fields.

use ciborium::Value;
use p2panda_core::{Signature, SigningKey};

use crate::base::ids::AuthorId;
use crate::direct::DirectError;

const VERSION: u64 = 1;
const DOMAIN: &[u8] = b"fieldsync/direct/v1";

/// A direct message as it travels between two devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The sending device.
    pub from: AuthorId,
    /// The receiving device.
    pub to: AuthorId,
    /// Position of the message in the sender's stream to the recipient (from 1).
    pub counter: u64,
    /// The 2SM ciphertext.
    pub sealed: Vec<u8>,
}

fn fields(e: &Envelope) -> Vec<Value> {
    vec![
        Value::Integer(VERSION.into()),
        Value::Bytes(e.from.as_bytes().to_vec()),
        Value::Bytes(e.to.as_bytes().to_vec()),
        Value::Integer(e.counter.into()),
        Value::Bytes(e.sealed.clone()),
    ]
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing CBOR into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(value, &mut out);
    out
}

fn signed_bytes(e: &Envelope) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    out.extend_from_slice(&cbor(&Value::Array(fields(e))));
    out
}

impl Envelope {
    /// Signs and encodes the envelope; `key` must be the key of `from`.
    pub fn seal(&self, key: &SigningKey) -> Vec<u8> {
        let signature = key.sign(&signed_bytes(self));
        let mut items = fields(self);
        items.push(Value::Bytes(signature.to_bytes().to_vec()));
        cbor(&Value::Array(items))
    }

    /// Decodes an envelope and verifies its signature (nothing else: the caller checks the
    /// recipient and the counter).
    pub fn open(bytes: &[u8]) -> Result<Self, DirectError> {
        let bad = |m: &str| DirectError::Malformed(m.to_string());
        let mut reader = bytes;
        let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 4)
            .map_err(|e| DirectError::Malformed(e.to_string()))?;
        if !reader.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let Value::Array(items) = value else {
            return Err(bad("expected an array"));
        };
        let [version, from, to, counter, sealed, signature]: [Value; 6] =
            items.try_into().map_err(|_| bad("expected six fields"))?;
        if version.as_integer().and_then(|v| u64::try_from(v).ok()) != Some(VERSION) {
            return Err(bad("unsupported version"));
        }
        let id = |v: Value, what: &str| match v {
            Value::Bytes(b) => AuthorId::from_slice(&b).map_err(|_| bad(what)),
            _ => Err(bad(what)),
        };
        let from = id(from, "sender")?;
        let to = id(to, "recipient")?;
        let counter = counter
            .as_integer()
            .and_then(|c| u64::try_from(c).ok())
            .filter(|c| *c > 0)
            .ok_or_else(|| bad("counter"))?;
        let Value::Bytes(sealed) = sealed else {
            return Err(bad("ciphertext"));
        };
        let signature: [u8; 64] = match signature {
            Value::Bytes(b) => b.try_into().map_err(|_| bad("signature"))?,
            _ => return Err(bad("signature")),
        };
        let envelope = Envelope {
            from,
            to,
            counter,
            sealed,
        };
        let signature = Signature::from_bytes(&signature);
        if !from
            .verifying_key()
            .verify(&signed_bytes(&envelope), &signature)
        {
            return Err(DirectError::InvalidSignature);
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = SigningKey::generate();
        let e = Envelope {
            from: AuthorId::from(key.verifying_key()),
            to: AuthorId::from(SigningKey::generate().verifying_key()),
            counter: 3,
            sealed: vec![7; 40],
        };
        let bytes = e.seal(&key);
        assert_eq!(Envelope::open(&bytes).unwrap(), e);
        for i in 0..bytes.len() {
            let mut t = bytes.clone();
            t[i] ^= 0x01;
            assert!(Envelope::open(&t).is_err(), "flip at {i} accepted");
        }
        assert!(Envelope::open(&bytes[..bytes.len() - 1]).is_err());
        assert!(Envelope::open(&[]).is_err());
    }
}
