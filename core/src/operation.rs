//! Wire format of a FieldSync operation.
//!
//! An operation is a p2panda-core [`Operation`]: a header signed with Ed25519 (author, seq,
//! backlink, BLAKE3 payload hash and size, and our [`FieldSyncExtensions`]) plus a body. On
//! the wire and in [`crate::Node::ingest`] both travel in one CBOR array `[header, body]`
//! of byte strings.

use p2panda_core::{Body, Hash, Header, Operation, SigningKey};
use serde::{Deserialize, Serialize};

use crate::error::IngestError;
use crate::ids::DocumentId;
use crate::signature_batch::{self, Unverified};

/// Which log of an author an operation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogKind {
    /// Document updates (Loro update bytes in the body).
    Delta,
    /// Group membership and key agreement messages.
    Control,
}

impl LogKind {
    /// Numeric code stored in SQLite.
    pub fn code(self) -> i64 {
        match self {
            LogKind::Delta => 0,
            LogKind::Control => 1,
        }
    }

    /// Inverse of [`LogKind::code`].
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(LogKind::Delta),
            1 => Some(LogKind::Control),
            _ => None,
        }
    }
}

/// The log id used with p2panda's log stores: one log per (document, kind) per author.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogKey {
    /// Document (and topic) the log belongs to.
    pub document: Hash,
    /// Kind of log.
    pub kind: LogKind,
}

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

impl FieldSyncExtensions {
    /// The log this operation belongs to.
    pub fn log_key(&self) -> LogKey {
        LogKey {
            document: self.document,
            kind: self.kind,
        }
    }
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
pub fn decode_wire(bytes: &[u8]) -> Result<(Vec<u8>, Option<Vec<u8>>), IngestError> {
    use ciborium::Value;
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 4)
        .map_err(|e| IngestError::Malformed(e.to_string()))?;
    if !reader.is_empty() {
        return Err(IngestError::Malformed(format!(
            "{} trailing bytes after the envelope",
            reader.len()
        )));
    }
    let Value::Array(items) = value else {
        return Err(IngestError::Malformed("expected a CBOR array".into()));
    };
    let mut items = items.into_iter();
    match (items.next(), items.next(), items.next()) {
        (Some(Value::Bytes(h)), Some(Value::Bytes(b)), None) => Ok((h, Some(b))),
        (Some(Value::Bytes(h)), Some(Value::Null), None) => Ok((h, None)),
        _ => Err(IngestError::Malformed(
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
) -> Result<FsOperation, IngestError> {
    authenticate_wire(bytes, max_operation_bytes, max_body_bytes).map(|a| a.op)
}

/// [`decode_operation`] for many operations at once: the same checks and results, in order,
/// with the work spread over the cores and the signatures checked in Ed25519 batches (about
/// 40 % of the cost of checking each on its own).
pub fn decode_operations(
    ops: &[Vec<u8>],
    max_operation_bytes: usize,
    max_body_bytes: u64,
) -> Vec<Result<FsOperation, IngestError>> {
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
) -> Result<Authenticated, IngestError> {
    let (header, body) = wire_parts(bytes, max_operation_bytes)?;
    authenticate(header, body, max_body_bytes)
}

/// Bounds the wire bytes of an operation and splits them into header and body bytes.
fn wire_parts(
    bytes: &[u8],
    max_operation_bytes: usize,
) -> Result<(Vec<u8>, Option<Vec<u8>>), IngestError> {
    if bytes.len() > max_operation_bytes {
        return Err(IngestError::OversizeOperation {
            size: bytes.len(),
            max: max_operation_bytes,
        });
    }
    decode_wire(bytes)
}

/// Fewest items worth splitting across threads (below, one thread is faster).
const PARALLEL_MIN: usize = 64;

/// Items a thread of [`parallel_map`] claims at a time.
const PARALLEL_CHUNK: usize = 16;

/// Threads [`parallel_chunks`] uses: `available_parallelism`, read once (it reads the
/// cgroup's CPU quota from /sys on every call: 1 % of the ingest thread in `perf`).
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Maps `f` over `items` on up to `available_parallelism` threads (the caller's and scoped
/// ones), keeping the order. Decoding a batch of received operations is dominated by Ed25519
/// verification, which is independent per operation: this spreads it over the cores.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < PARALLEL_MIN {
        return items.iter().map(f).collect();
    }
    parallel_chunks(items, PARALLEL_CHUNK, |chunk| {
        chunk.iter().map(&f).collect()
    })
}

/// Maps `f` over consecutive chunks of at most `chunk` items on up to `available_parallelism`
/// threads (the caller's and scoped ones) and concatenates the results in order; `f` returns
/// one result per item of its chunk.
///
/// Threads claim chunks as they go rather than a fixed share each: the ingest thread runs
/// beside them, so fixed halves finished at different times and left a core idle until the
/// slower half was done.
pub(crate) fn parallel_chunks<T: Sync, R: Send>(
    items: &[T],
    chunk: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let chunk = chunk.max(1);
    let threads = threads();
    if threads < 2 || items.len() <= chunk {
        return f(items);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Each thread returns the chunks it mapped, with their start index.
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let start = next.fetch_add(chunk, std::sync::atomic::Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + chunk).min(items.len());
            done.push((start, f(&items[start..end])));
        }
    };
    let mut chunks = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut chunks = work();
        for helper in helpers {
            match helper.join() {
                Ok(part) => chunks.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        chunks
    });
    chunks.sort_unstable_by_key(|(start, _)| *start);
    chunks.into_iter().flat_map(|(_, part)| part).collect()
}

/// Most signatures checked in one batch by [`authenticate_many`]: larger batches cost less
/// per signature, smaller ones spread a delivery over more threads.
const SIGNATURE_BATCH: usize = 128;

/// Fewest signatures a thread of [`authenticate_many`] checks as one batch.
const SIGNATURE_BATCH_MIN: usize = 16;

/// [`authenticate_wire`] for many operations at once, in order, on all cores: each thread
/// decodes a group of operations and checks their signatures as one Ed25519 batch (see
/// `signature_batch.rs`), for about 40 % of the cost of checking each on its own.
/// Results are those of [`authenticate_wire`] for each item.
pub(crate) fn authenticate_many<T: Sync>(
    items: &[T],
    bytes: impl Fn(&T) -> &[u8] + Sync,
    max_operation_bytes: usize,
    max_body_bytes: u64,
) -> Vec<Result<Authenticated, IngestError>> {
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
fn decode_unverified(bytes: &[u8], max_operation_bytes: usize) -> Result<Unverified, IngestError> {
    let (header, body) = wire_parts(bytes, max_operation_bytes)?;
    unverified(header, body)
}

/// Decodes header bytes, without the signature check, into an operation with `body`.
fn unverified(header: Vec<u8>, body: Option<Vec<u8>>) -> Result<Unverified, IngestError> {
    let (decoded, signed) = FsHeader::decode_unverified(&header)
        .map_err(|e| IngestError::MalformedHeader(e.to_string()))?;
    Ok(Unverified {
        op: Operation::from_parts(decoded, body.map(Body::from)),
        header,
        signed,
    })
}

/// The second half of [`authenticate_wire`] for a group: the signatures, checked as a batch,
/// then the checks of [`validate_decoded`], in that order for each operation.
fn authenticate_decoded(
    decoded: Vec<Result<Unverified, IngestError>>,
    max_body_bytes: u64,
) -> Vec<Result<Authenticated, IngestError>> {
    let pending: Vec<&Unverified> = decoded.iter().filter_map(|d| d.as_ref().ok()).collect();
    let mut verdicts = signature_batch::verify(&pending).into_iter();
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
) -> Result<Authenticated, IngestError> {
    if !holds {
        return Err(IngestError::InvalidSignature);
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
) -> Result<Authenticated, IngestError> {
    if DocumentId::from(received.op.header.extensions.document) != document {
        return Err(IngestError::InvalidOperation(
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
) -> Result<FsOperation, IngestError> {
    authenticate(header_bytes.to_vec(), body, max_body_bytes).map(|a| a.op)
}

/// [`decode_parts`], keeping the header's bytes.
pub(crate) fn authenticate(
    header_bytes: Vec<u8>,
    body: Option<Vec<u8>>,
    max_body_bytes: u64,
) -> Result<Authenticated, IngestError> {
    let decoded = unverified(header_bytes, body)?;
    let holds = decoded.holds();
    finish(decoded, holds, max_body_bytes)
}

/// The checks of [`validate`] except the signature, for a header whose signature has just
/// been checked: declared size within bounds, payload fields consistent, backlink
/// iff seq > 0, body matching the signed hash and size.
fn validate_decoded(op: &FsOperation, max_body_bytes: u64) -> Result<(), IngestError> {
    let h = &op.header;
    if u64::from(h.payload_size) > max_body_bytes {
        return Err(IngestError::PayloadTooLarge {
            size: h.payload_size.into(),
            max: max_body_bytes,
        });
    }
    if h.payload_hash.is_some() != (h.payload_size > 0) {
        return Err(IngestError::InvalidOperation(
            "payload hash and size are inconsistent".into(),
        ));
    }
    if h.backlink.is_some() != (h.seq_num > 0) {
        return Err(IngestError::InvalidOperation(
            "backlink must be present exactly when seq > 0".into(),
        ));
    }
    if let Some(body) = &op.body {
        if h.payload_hash != Some(body.hash()) || h.payload_size != body.size() {
            return Err(IngestError::PayloadHashMismatch);
        }
    }
    Ok(())
}

/// Checks an authenticated operation: declared payload size within bounds, body matching the
/// signed BLAKE3 payload hash and size, and header invariants (backlink iff seq > 0).
pub fn validate(op: &FsOperation, max_body_bytes: u64) -> Result<(), IngestError> {
    use p2panda_core::operation::OperationError;
    if u64::from(op.header.payload_size) > max_body_bytes {
        return Err(IngestError::PayloadTooLarge {
            size: op.header.payload_size.into(),
            max: max_body_bytes,
        });
    }
    p2panda_core::validate_operation(op).map_err(|e| match e {
        OperationError::PayloadMismatch => IngestError::PayloadHashMismatch,
        OperationError::SignatureMismatch | OperationError::MissingSignature => {
            IngestError::InvalidSignature
        }
        other => IngestError::InvalidOperation(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order_and_results() {
        for n in [0, 1, 63, 64, 65, 1000] {
            let items: Vec<u32> = (0..n).collect();
            let out = parallel_map(&items, |x| u64::from(*x) * 3);
            assert_eq!(
                out,
                items.iter().map(|x| u64::from(*x) * 3).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn parallel_map_passes_a_panic_on_to_the_caller() {
        let items: Vec<u32> = (0..1000).collect();
        for bad in [0, 500, 999] {
            let result = std::panic::catch_unwind(|| {
                parallel_map(&items, |x| {
                    assert_ne!(*x, bad, "item {bad} fails");
                    *x
                })
            });
            assert!(result.is_err(), "a panic on item {bad} reaches the caller");
        }
    }

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
            Err(IngestError::PayloadHashMismatch)
        ));
    }
}
