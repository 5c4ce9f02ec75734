//! Wire format of a FieldSync operation.
//!
//! An operation is a p2panda-core [`Operation`]: a header signed with Ed25519 (author, seq,
//! backlink, BLAKE3 payload hash and size, and our [`FieldSyncExtensions`]) plus a body. On
//! the wire and in [`crate::Node::ingest`] both travel in one CBOR array `[header, body]`
//! of byte strings.

use p2panda_core::{Body, Hash, Header, Operation, SigningKey};
use serde::{Deserialize, Serialize};

use crate::base::ids::DocumentId;
use crate::base::log::LogKind;
use crate::base::pool::{parallel_chunks, threads};
use crate::wire::verify::{self, Unverified};
use crate::wire::WireError;

/// Header extensions of every FieldSync operation. Kept tiny: p2panda 0.7.1 caps every CBOR
/// item in a header at 512 entries, so payload data always goes in the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSyncExtensions {
    /// Document id.
    #[serde(rename = "d")]
    pub document: Hash,
    /// Log kind.
    #[serde(rename = "k")]
    pub kind: LogKind,
}

/// A FieldSync operation.
pub type FsOperation = Operation<FieldSyncExtensions>;
/// A FieldSync operation header.
pub type FsHeader = Header<FieldSyncExtensions>;

/// Builds and signs the next operation of a log.
pub fn build_operation(
    key: &SigningKey,
    document: DocumentId,
    kind: LogKind,
    previous: Option<(u32, Hash)>,
    body: Vec<u8>,
) -> FsOperation {
    let mut builder = Header::builder().body(&body);
    if let Some((seq, hash)) = previous {
        builder = builder.chain(seq + 1, hash);
    }
    let header = builder.build(
        key,
        FieldSyncExtensions {
            document: document.as_hash(),
            kind,
        },
    );
    Operation::from_parts(header, Some(Body::from(body)))
}

/// Encodes header and body as the CBOR array `[header, body]`.
pub fn encode_wire(header: &[u8], body: Option<&[u8]>) -> Vec<u8> {
    use ciborium::Value;
    let value = Value::Array(vec![
        Value::Bytes(header.to_vec()),
        body.map(|b| Value::Bytes(b.to_vec()))
            .unwrap_or(Value::Null),
    ]);
    let mut out = Vec::with_capacity(header.len() + body.map_or(0, |b| b.len()) + 16);
    // Serialising a Value into a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&value, &mut out);
    out
}

/// Encodes an operation for the wire.
pub fn encode_operation(op: &FsOperation) -> Vec<u8> {
    encode_wire(&op.header.encode(), op.body.as_ref().map(|b| b.as_bytes()))
}

/// Splits wire bytes into header and body bytes. The caller bounds the input length first.
pub fn decode_wire(bytes: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), WireError> {
    use ciborium::Value;
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 4)
        .map_err(|e| WireError::Malformed(e.to_string()))?;
    if !reader.is_empty() {
        return Err(WireError::Malformed(format!(
            "{} trailing bytes after the envelope",
            reader.len()
        )));
    }
    let Value::Array(items) = value else {
        return Err(WireError::Malformed("expected a CBOR array".into()));
    };
    let mut items = items.into_iter();
    match (items.next(), items.next(), items.next()) {
        (Some(Value::Bytes(h)), Some(Value::Bytes(b)), None) => Ok((h, Some(b))),
        (Some(Value::Bytes(h)), Some(Value::Null), None) => Ok((h, None)),
        _ => Err(WireError::Malformed(
            "expected [header bytes, body bytes]".into(),
        )),
    }
}

/// Decodes and authenticates an operation: the header is decoded and its signature checked
/// (`verify_strict`), then payload hash and size are checked against the body.
pub fn decode_operation(
    bytes: &[u8],
    max_operation_bytes: usize,
    max_body_bytes: u64,
) -> Result<FsOperation, WireError> {
    authenticate_wire(bytes, max_operation_bytes, max_body_bytes).map(|a| a.op)
}

/// [`decode_operation`] for many operations at once: the same checks and results, in order,
/// with the work spread over the cores and the signatures checked in Ed25519 batches (about
/// 40 % of the cost of checking each on its own).
pub fn decode_operations(
    ops: &[Vec<u8>],
    max_operation_bytes: usize,
    max_body_bytes: u64,
) -> Vec<Result<FsOperation, WireError>> {
    authenticate_many(ops, Vec::as_slice, max_operation_bytes, max_body_bytes)
        .into_iter()
        .map(|a| a.map(|a| a.op))
        .collect()
}

/// An authenticated operation with the header bytes it was decoded from. The store keeps
/// these bytes as received: the operation's hash is their BLAKE3 digest, and encoding the
/// decoded header again cost 9 % of the ingest thread's time.
pub(crate) struct Authenticated {
    /// The decoded, authenticated operation.
    pub op: FsOperation,
    /// The header's bytes, as signed and hashed.
    pub header: Vec<u8>,
}

/// [`decode_operation`], keeping the header's bytes.
pub(crate) fn authenticate_wire(
    bytes: &[u8],
    max_operation_bytes: usize,
    max_body_bytes: u64,
) -> Result<Authenticated, WireError> {
    let (header, body) = wire_parts(bytes, max_operation_bytes)?;
    authenticate(header, body, max_body_bytes)
}

/// Bounds the wire bytes of an operation and splits them into header and body bytes.
fn wire_parts(
    bytes: &[u8],
    max_operation_bytes: usize,
) -> Result<(Vec<u8>, Option<Vec<u8>>), WireError> {
    if bytes.len() > max_operation_bytes {
        return Err(WireError::OversizeOperation {
            size: bytes.len(),
            max: max_operation_bytes,
        });
    }
    decode_wire(bytes)
}

/// Most signatures checked in one batch by [`authenticate_many`]: larger batches cost less
/// per signature, smaller ones spread a delivery over more threads.
const SIGNATURE_BATCH: usize = 128;

/// Fewest signatures a thread of [`authenticate_many`] checks as one batch.
const SIGNATURE_BATCH_MIN: usize = 16;

/// [`authenticate_wire`] for many operations at once, in order, on all cores: each thread
/// decodes a group of operations and checks their signatures as one Ed25519 batch (see
/// `verify.rs`), for about 40 % of the cost of checking each on its own.
/// Results are those of [`authenticate_wire`] for each item.
pub(crate) fn authenticate_many<T: Sync>(
    items: &[T],
    bytes: impl Fn(&T) -> &[u8] + Sync,
    max_operation_bytes: usize,
    max_body_bytes: u64,
) -> Vec<Result<Authenticated, WireError>> {
    let group = items
        .len()
        .div_ceil(2 * threads())
        .clamp(SIGNATURE_BATCH_MIN, SIGNATURE_BATCH);
    parallel_chunks(items, group, |chunk| {
        let decoded = chunk
            .iter()
            .map(|item| decode_unverified(bytes(item), max_operation_bytes))
            .collect();
        authenticate_decoded(decoded, max_body_bytes)
    })
}

/// The first half of [`authenticate_wire`]: bounds, envelope and header decoding, without
/// the signature check.
fn decode_unverified(bytes: &[u8], max_operation_bytes: usize) -> Result<Unverified, WireError> {
    let (header, body) = wire_parts(bytes, max_operation_bytes)?;
    unverified(header, body)
}

/// Decodes header bytes, without the signature check, into an operation with `body`.
fn unverified(header: Vec<u8>, body: Option<Vec<u8>>) -> Result<Unverified, WireError> {
    let (decoded, signed) = FsHeader::decode_unverified(&header)
        .map_err(|e| WireError::MalformedHeader(e.to_string()))?;
    Ok(Unverified {
        op: Operation::from_parts(decoded, body.map(Body::from)),
        header,
        signed,
    })
}

/// The second half of [`authenticate_wire`] for a group: the signatures, checked as a batch,
/// then the checks of [`validate_decoded`], in that order for each operation.
fn authenticate_decoded(
    decoded: Vec<Result<Unverified, WireError>>,
    max_body_bytes: u64,
) -> Vec<Result<Authenticated, WireError>> {
    let pending: Vec<&Unverified> = decoded.iter().filter_map(|d| d.as_ref().ok()).collect();
    let mut verdicts = verify::verify(&pending).into_iter();
    decoded
        .into_iter()
        .map(|d| finish(d?, verdicts.next().unwrap_or(false), max_body_bytes))
        .collect()
}

/// Authenticates a decoded operation whose signature `holds` (or not): the signature first,
/// then the checks of [`validate_decoded`].
fn finish(
    decoded: Unverified,
    holds: bool,
    max_body_bytes: u64,
) -> Result<Authenticated, WireError> {
    if !holds {
        return Err(WireError::InvalidSignature);
    }
    validate_decoded(&decoded.op, max_body_bytes)?;
    Ok(Authenticated {
        op: decoded.op,
        header: decoded.header,
    })
}

/// Checks that an operation received on `document`'s sync topic belongs to that document.
pub(crate) fn check_document(
    document: DocumentId,
    received: Authenticated,
) -> Result<Authenticated, WireError> {
    if DocumentId::from(received.op.header.extensions.document) != document {
        return Err(WireError::InvalidOperation(
            "operation belongs to another document than its sync topic".into(),
        ));
    }
    Ok(received)
}

/// Decodes and validates an operation given as separate header and body bytes.
pub fn decode_parts(
    header_bytes: &[u8],
    body: Option<Vec<u8>>,
    max_body_bytes: u64,
) -> Result<FsOperation, WireError> {
    authenticate(header_bytes.to_vec(), body, max_body_bytes).map(|a| a.op)
}

/// A header decoded without checking its signature: only for headers this node checked
/// before it stored them.
pub(crate) fn stored_header(bytes: &[u8]) -> Result<FsHeader, WireError> {
    FsHeader::decode_unverified(bytes)
        .map(|(h, _)| h)
        .map_err(|e| WireError::MalformedHeader(e.to_string()))
}

/// A header alone (no body), its signature checked strictly and its invariants held; at
/// most `max_bytes` long. `what` names it in errors (a fork proof, a snapshot cover).
pub(crate) fn signed_header(
    bytes: &[u8],
    max_bytes: usize,
    what: &str,
) -> Result<FsHeader, WireError> {
    if bytes.len() > max_bytes {
        return Err(WireError::Malformed(format!(
            "{what} header of {} bytes",
            bytes.len()
        )));
    }
    Ok(authenticate(bytes.to_vec(), None, u64::MAX)?.op.header)
}

/// [`decode_parts`], keeping the header's bytes.
pub(crate) fn authenticate(
    header_bytes: Vec<u8>,
    body: Option<Vec<u8>>,
    max_body_bytes: u64,
) -> Result<Authenticated, WireError> {
    let decoded = unverified(header_bytes, body)?;
    let holds = decoded.holds();
    finish(decoded, holds, max_body_bytes)
}

/// The checks of [`validate`] except the signature, for a header whose signature has just
/// been checked: declared size within bounds, payload fields consistent, backlink
/// iff seq > 0, body matching the signed hash and size.
fn validate_decoded(op: &FsOperation, max_body_bytes: u64) -> Result<(), WireError> {
    let h = &op.header;
    if u64::from(h.payload_size) > max_body_bytes {
        return Err(WireError::PayloadTooLarge {
            size: h.payload_size.into(),
            max: max_body_bytes,
        });
    }
    if h.payload_hash.is_some() != (h.payload_size > 0) {
        return Err(WireError::InvalidOperation(
            "payload hash and size are inconsistent".into(),
        ));
    }
    if h.backlink.is_some() != (h.seq_num > 0) {
        return Err(WireError::InvalidOperation(
            "backlink must be present exactly when seq > 0".into(),
        ));
    }
    if let Some(body) = &op.body {
        if h.payload_hash != Some(body.hash()) || h.payload_size != body.size() {
            return Err(WireError::PayloadHashMismatch);
        }
    }
    Ok(())
}

/// Checks an authenticated operation: declared payload size within bounds, body matching the
/// signed BLAKE3 payload hash and size, and header invariants (backlink iff seq > 0).
pub fn validate(op: &FsOperation, max_body_bytes: u64) -> Result<(), WireError> {
    use p2panda_core::operation::OperationError;
    if u64::from(op.header.payload_size) > max_body_bytes {
        return Err(WireError::PayloadTooLarge {
            size: op.header.payload_size.into(),
            max: max_body_bytes,
        });
    }
    p2panda_core::validate_operation(op).map_err(|e| match e {
        OperationError::PayloadMismatch => WireError::PayloadHashMismatch,
        OperationError::SignatureMismatch | OperationError::MissingSignature => {
            WireError::InvalidSignature
        }
        other => WireError::InvalidOperation(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = SigningKey::generate();
        let doc = DocumentId::random();
        let op0 = build_operation(&key, doc, LogKind::Delta, None, b"hello".to_vec());
        let op1 = build_operation(
            &key,
            doc,
            LogKind::Delta,
            Some((0, op0.hash)),
            b"world".to_vec(),
        );
        let bytes = encode_operation(&op1);
        let back = decode_operation(&bytes, 1 << 20, 1 << 20).unwrap();
        assert_eq!(back.hash, op1.hash);
        assert_eq!(back.header.seq_num, 1);
        assert_eq!(back.header.extensions.document, doc.as_hash());
        let bad = encode_wire(&op1.header.encode(), Some(b"evil"));
        assert!(matches!(
            decode_operation(&bad, 1 << 20, 1 << 20),
            Err(WireError::PayloadHashMismatch)
        ));
    }
}
