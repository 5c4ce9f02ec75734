//! Offline bundles: what one device sends another about a document, as a file instead of a
//! connection, and QR-sized chunks of such a file.
//!
//! A bundle is `"FSB1"`, the exporting device (32 bytes), the document (32), the time of
//! export (ms since the epoch, 8), the exporter's half of a catch-up exchange (fork proofs,
//! heights pages, an operation count, the operations, an end frame: `net/catchup.rs`), and
//! the exporter's Ed25519 signature over everything before it (64). The signature is checked
//! before anything else is read, so one changed byte refuses the whole file. The operations
//! inside are each signed by their authors and their content is encrypted to the
//! document's group: a carrier (a relay device) can check and pass them on without reading
//! them; the receiver checks every one like network ingest.
//!
//! A chunk is `"FSQ1"`, the BLAKE3 hash of the whole bundle (32), its index and the chunk
//! count (2 + 2, big-endian), then its part of the bundle. Chunks can be read in any order
//! and more than once; the bundle is whole when every index arrived, and only if its hash
//! matches.

use p2panda_core::{Signature, SigningKey};
use thiserror::Error;

use crate::base::ids::{AuthorId, DocumentId};

/// Tag of a bundle file.
pub const BUNDLE_TAG: &[u8; 4] = b"FSB1";
/// Tag of a bundle chunk.
pub const CHUNK_TAG: &[u8; 4] = b"FSQ1";
/// Largest bundle read or assembled (memory per import is bounded by this).
pub const MAX_BUNDLE_BYTES: usize = 256 << 20;
/// Bytes before a bundle's exchange: tag, exporter, document, time.
pub const HEADER_BYTES: usize = 4 + 32 + 32 + 8;
const SIGNATURE_BYTES: usize = 64;
/// Bytes of a chunk before its part of the bundle.
pub const CHUNK_HEADER_BYTES: usize = 4 + 32 + 2 + 2;
/// Smallest chunk size accepted when splitting.
pub const MIN_CHUNK_BYTES: usize = CHUNK_HEADER_BYTES + 16;

/// Why bytes are not a bundle, or chunks do not make one.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error("bundle of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Size of the bytes.
        size: usize,
        /// The maximum.
        max: usize,
    },
    /// Not a bundle (wrong tag, cut short) or its contents do not follow the format.
    #[error("not a FieldSync bundle: {0}")]
    Malformed(String),
    /// The exporter's signature does not verify: the file was changed after export.
    #[error("the bundle's signature does not verify: it was changed after export")]
    BadSignature,
    /// Not a bundle chunk, or a chunk that contradicts the ones read before.
    #[error("not a bundle chunk: {0}")]
    MalformedChunk(String),
    /// A chunk of another bundle than the chunks read before.
    #[error("a chunk of another bundle")]
    OtherBundle,
    /// Every chunk arrived but their bytes do not hash to the bundle's hash.
    #[error("the chunks do not make the bundle they name")]
    ChunkMismatch,
    /// This node's store failed while reading or writing the bundle's operations.
    #[error("store: {0}")]
    Store(String),
    /// A chunk size too small to carry anything.
    #[error("chunk size {0} is below the minimum of {MIN_CHUNK_BYTES} bytes")]
    ChunkSize(usize),
}

/// The parts of a bundle whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The device that exported it.
    pub exporter: AuthorId,
    /// The document.
    pub document: DocumentId,
    /// When it was exported (ms since the epoch, the exporter's clock).
    pub created_ms: u64,
    /// The exporter's half of a catch-up exchange.
    pub exchange: &'a [u8],
}

/// The header a bundle starts with.
pub fn header(exporter: AuthorId, document: DocumentId, created_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES);
    out.extend_from_slice(BUNDLE_TAG);
    out.extend_from_slice(exporter.as_bytes());
    out.extend_from_slice(document.as_bytes());
    out.extend_from_slice(&created_ms.to_be_bytes());
    out
}

/// Appends the exporter's signature over `bundle` (header and exchange), making it whole.
pub fn seal(mut bundle: Vec<u8>, key: &SigningKey) -> Vec<u8> {
    let signature = key.sign(&bundle);
    bundle.extend_from_slice(&signature.to_bytes());
    bundle
}

/// Checks a bundle's size, tag and signature, and returns its parts.
pub fn open(bytes: &[u8]) -> Result<Opened<'_>, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge {
            size: bytes.len(),
            max: MAX_BUNDLE_BYTES,
        });
    }
    if bytes.len() < HEADER_BYTES + SIGNATURE_BYTES || &bytes[..4] != BUNDLE_TAG {
        return Err(BundleError::Malformed(
            "no bundle tag, or shorter than a bundle".into(),
        ));
    }
    let (signed, signature) = bytes.split_at(bytes.len() - SIGNATURE_BYTES);
    let exporter = AuthorId::from_slice(&signed[4..36])
        .map_err(|_| BundleError::Malformed("exporter".into()))?;
    let signature: [u8; SIGNATURE_BYTES] = signature
        .try_into()
        .map_err(|_| BundleError::Malformed("signature".into()))?;
    if !exporter
        .verifying_key()
        .verify(signed, &Signature::from_bytes(&signature))
    {
        return Err(BundleError::BadSignature);
    }
    let document = DocumentId::from_slice(&signed[36..68])
        .map_err(|_| BundleError::Malformed("document".into()))?;
    let created_ms = u64::from_be_bytes(
        signed[68..76]
            .try_into()
            .map_err(|_| BundleError::Malformed("time".into()))?,
    );
    Ok(Opened {
        exporter,
        document,
        created_ms,
        exchange: &signed[HEADER_BYTES..],
    })
}

/// Splits a bundle into chunks of at most `chunk_bytes` bytes each (header included).
pub fn chunks(bundle: &[u8], chunk_bytes: usize) -> Result<Vec<Vec<u8>>, BundleError> {
    if chunk_bytes < MIN_CHUNK_BYTES {
        return Err(BundleError::ChunkSize(chunk_bytes));
    }
    let part = chunk_bytes - CHUNK_HEADER_BYTES;
    let count = bundle.len().div_ceil(part).max(1);
    let count = u16::try_from(count).map_err(|_| BundleError::TooLarge {
        size: bundle.len(),
        max: part * usize::from(u16::MAX),
    })?;
    let hash = blake3::hash(bundle);
    let mut out = Vec::with_capacity(usize::from(count));
    for index in 0..count {
        let start = usize::from(index) * part;
        let end = (start + part).min(bundle.len());
        let mut chunk = Vec::with_capacity(CHUNK_HEADER_BYTES + end - start);
        chunk.extend_from_slice(CHUNK_TAG);
        chunk.extend_from_slice(hash.as_bytes());
        chunk.extend_from_slice(&index.to_be_bytes());
        chunk.extend_from_slice(&count.to_be_bytes());
        chunk.extend_from_slice(&bundle[start..end]);
        out.push(chunk);
    }
    Ok(out)
}

/// Chunks read so far of one bundle, in any order, duplicates ignored.
#[derive(Debug, Default)]
pub struct ChunkAssembler {
    hash: Option<[u8; 32]>,
    parts: Vec<Option<Vec<u8>>>,
    held: usize,
    bytes: usize,
    part_len: Option<usize>,
}

impl ChunkAssembler {
    /// An assembler with no chunk yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chunks read of the bundle's total (0 of 0 before the first).
    pub fn progress(&self) -> (usize, usize) {
        (self.held, self.parts.len())
    }

    /// Adds one chunk. Returns the whole bundle once the last missing chunk arrived and
    /// the bytes hash to the bundle's hash; `None` while chunks are missing. A chunk of
    /// another bundle, or one that contradicts earlier chunks, is refused and changes
    /// nothing.
    pub fn add(&mut self, chunk: &[u8]) -> Result<Option<Vec<u8>>, BundleError> {
        let bad = |m: &str| BundleError::MalformedChunk(m.to_string());
        if chunk.len() < CHUNK_HEADER_BYTES || &chunk[..4] != CHUNK_TAG {
            return Err(bad("no chunk tag, or shorter than a chunk header"));
        }
        let hash: [u8; 32] = chunk[4..36].try_into().map_err(|_| bad("hash"))?;
        let index = usize::from(u16::from_be_bytes([chunk[36], chunk[37]]));
        let count = usize::from(u16::from_be_bytes([chunk[38], chunk[39]]));
        let part = &chunk[CHUNK_HEADER_BYTES..];
        if count == 0 || index >= count {
            return Err(bad("index out of range"));
        }
        match self.hash {
            Some(h) if h != hash => return Err(BundleError::OtherBundle),
            Some(_) if self.parts.len() != count => return Err(bad("chunk count changed")),
            _ => {}
        }
        // Every chunk but the last carries the same number of bytes.
        let last = index + 1 == count;
        if !last {
            match self.part_len {
                Some(len) if len != part.len() => return Err(bad("chunk size changed")),
                _ => {}
            }
        }
        let projected = self.part_len.unwrap_or(part.len()).saturating_mul(count);
        if !last && projected > MAX_BUNDLE_BYTES + part.len() {
            return Err(BundleError::TooLarge {
                size: projected,
                max: MAX_BUNDLE_BYTES,
            });
        }
        if self.hash.is_none() {
            self.hash = Some(hash);
            self.parts = vec![None; count];
        }
        if !last {
            self.part_len = Some(part.len());
        }
        if self.parts[index].is_some() {
            return Ok(None);
        }
        if self.bytes + part.len() > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge {
                size: self.bytes + part.len(),
                max: MAX_BUNDLE_BYTES,
            });
        }
        self.bytes += part.len();
        self.parts[index] = Some(part.to_vec());
        self.held += 1;
        if self.held < count {
            return Ok(None);
        }
        let mut bundle = Vec::with_capacity(self.bytes);
        for p in self.parts.iter().flatten() {
            bundle.extend_from_slice(p);
        }
        if blake3::hash(&bundle).as_bytes() != &hash {
            // Start over: which chunk lied is unknown.
            *self = ChunkAssembler::default();
            return Err(BundleError::ChunkMismatch);
        }
        Ok(Some(bundle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(key: &SigningKey, exchange: &[u8]) -> Vec<u8> {
        let mut b = header(
            AuthorId::from(key.verifying_key()),
            DocumentId::random(),
            42,
        );
        b.extend_from_slice(exchange);
        seal(b, key)
    }

    #[test]
    fn a_changed_byte_anywhere_breaks_the_signature() {
        let key = SigningKey::generate();
        let b = bundle(&key, &[7u8; 300]);
        let opened = open(&b).unwrap();
        assert_eq!(opened.exchange, &[7u8; 300][..]);
        assert_eq!(opened.created_ms, 42);
        for i in 0..b.len() {
            let mut t = b.clone();
            t[i] ^= 0x01;
            assert!(open(&t).is_err(), "byte {i}");
        }
        assert!(matches!(open(&b[..50]), Err(BundleError::Malformed(_))));
    }

    #[test]
    fn chunks_assemble_in_any_order_with_duplicates() {
        let key = SigningKey::generate();
        let exchange: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let b = bundle(&key, &exchange);
        let chunks = chunks(&b, 2048).unwrap();
        assert!(chunks.iter().all(|c| c.len() <= 2048));
        let mut order: Vec<usize> = (0..chunks.len()).rev().collect();
        order.insert(2, 1);
        order.insert(0, chunks.len() - 1);
        let mut a = ChunkAssembler::new();
        let mut whole = None;
        for i in order {
            if let Some(done) = a.add(&chunks[i]).unwrap() {
                whole = Some(done);
            }
        }
        assert_eq!(whole.unwrap(), b);
        // A chunk of another bundle is refused and changes nothing.
        let other = super::chunks(&bundle(&key, b"x"), 2048).unwrap();
        let mut a = ChunkAssembler::new();
        a.add(&chunks[0]).unwrap();
        assert_eq!(a.add(&other[0]), Err(BundleError::OtherBundle));
        assert_eq!(a.progress(), (1, chunks.len()));
        // A lying chunk: the bundle does not assemble.
        let mut a = ChunkAssembler::new();
        let mut bad = chunks.clone();
        let last = bad[3].len() - 1;
        bad[3][last] ^= 1;
        let mut result = Ok(None);
        for c in &bad {
            result = a.add(c);
        }
        assert_eq!(result, Err(BundleError::ChunkMismatch));
        assert_eq!(super::chunks(&b, 10), Err(BundleError::ChunkSize(10)));
    }
}
