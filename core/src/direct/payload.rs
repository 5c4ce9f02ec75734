//! What a direct message carries, and the binding of its content to its envelope.
//!
//! The plaintext handed to the ratchet is CBOR `[from, to, counter, tag, ...]`: sender,
//! recipient and counter are repeated *inside* the ciphertext, so a message re-wrapped in
//! another device's envelope, or renumbered, is refused ([`DirectError::Misbound`]).

use ciborium::Value;

use crate::base::ids::{AuthorId, DocumentId};
use crate::direct::DirectError;
use crate::wire::invite::TOKEN_LEN;

const TAG_APP: u64 = 0;
const TAG_JOIN: u64 = 1;

/// The content of a direct message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectPayload {
    /// Bytes for the app (delivered as [`crate::Event::DirectMessage`]).
    App(Vec<u8>),
    /// A device that holds an invite asks to be added to a document's group.
    JoinRequest {
        /// The document of the invite.
        document: DocumentId,
        /// The invite's token.
        token: Vec<u8>,
        /// The requesting device's key bundle.
        key_bundle: Vec<u8>,
    },
}

/// Encodes the plaintext for the ratchet.
pub(crate) fn encode(
    from: &AuthorId,
    to: &AuthorId,
    counter: u64,
    payload: &DirectPayload,
) -> Vec<u8> {
    let mut items = vec![
        Value::Bytes(from.as_bytes().to_vec()),
        Value::Bytes(to.as_bytes().to_vec()),
        Value::Integer(counter.into()),
    ];
    match payload {
        DirectPayload::App(bytes) => {
            items.push(Value::Integer(TAG_APP.into()));
            items.push(Value::Bytes(bytes.clone()));
        }
        DirectPayload::JoinRequest {
            document,
            token,
            key_bundle,
        } => {
            items.push(Value::Integer(TAG_JOIN.into()));
            items.push(Value::Bytes(document.as_bytes().to_vec()));
            items.push(Value::Bytes(token.clone()));
            items.push(Value::Bytes(key_bundle.clone()));
        }
    }
    let mut out = Vec::new();
    // Writing CBOR into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&Value::Array(items), &mut out);
    out
}

fn bytes(v: Value) -> Result<Vec<u8>, DirectError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(DirectError::Malformed("expected bytes".into())),
    }
}

/// Decodes a plaintext and checks that it names `from`, `to` and `counter`.
pub(crate) fn decode(
    plaintext: &[u8],
    from: &AuthorId,
    to: &AuthorId,
    counter: u64,
) -> Result<DirectPayload, DirectError> {
    let bad = |m: &str| DirectError::Malformed(m.to_string());
    let mut reader = plaintext;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 4)
        .map_err(|e| DirectError::Malformed(e.to_string()))?;
    if !reader.is_empty() {
        return Err(bad("trailing bytes in content"));
    }
    let Value::Array(items) = value else {
        return Err(bad("content is not an array"));
    };
    let mut items = items.into_iter();
    let mut next = || items.next().ok_or_else(|| bad("content too short"));
    let inner_from = bytes(next()?)?;
    let inner_to = bytes(next()?)?;
    let inner_counter = next()?.as_integer().and_then(|c| u64::try_from(c).ok());
    if inner_from != from.as_bytes() || inner_to != to.as_bytes() || inner_counter != Some(counter)
    {
        return Err(DirectError::Misbound);
    }
    let tag = next()?.as_integer().and_then(|t| u64::try_from(t).ok());
    let payload = match tag {
        Some(TAG_APP) => DirectPayload::App(bytes(next()?)?),
        Some(TAG_JOIN) => {
            let document =
                DocumentId::from_slice(&bytes(next()?)?).map_err(|_| bad("document id"))?;
            let token = bytes(next()?)?;
            if token.len() != TOKEN_LEN {
                return Err(bad("invite token length"));
            }
            DirectPayload::JoinRequest {
                document,
                token,
                key_bundle: bytes(next()?)?,
            }
        }
        _ => return Err(bad("unknown content tag")),
    };
    if next().is_ok() {
        return Err(bad("trailing content fields"));
    }
    Ok(payload)
}
