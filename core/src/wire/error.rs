//! Errors of the wire layer: why received bytes are not an authentic operation.
//!
//! The replica reports them to callers as the matching [`crate::IngestError`] variants (one
//! typed `From`, variant for variant).

use thiserror::Error;

/// Why bytes could not be decoded or authenticated as a FieldSync operation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The encoded operation is larger than the configured maximum.
    #[error("operation of {size} bytes exceeds the maximum of {max} bytes")]
    OversizeOperation {
        /// Size of the received bytes.
        size: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The header declares a payload larger than the configured maximum.
    #[error("declared payload of {size} bytes exceeds the maximum of {max} bytes")]
    PayloadTooLarge {
        /// Declared payload size.
        size: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The bytes are not a well-formed operation envelope (garbage or truncated CBOR).
    #[error("malformed operation envelope: {0}")]
    Malformed(String),
    /// The header could not be decoded (bad CBOR, bad field, unknown extensions).
    #[error("malformed operation header: {0}")]
    MalformedHeader(String),
    /// The Ed25519 signature over the header does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The body does not match the BLAKE3 payload hash or size in the signed header.
    #[error("body does not match the signed payload hash")]
    PayloadHashMismatch,
    /// The header is internally inconsistent (e.g. a backlink on seq 0), or the operation
    /// arrived on another document's topic.
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    /// The body does not start with a known body scheme.
    #[error("invalid document update: {0}")]
    UnknownBody(String),
}
