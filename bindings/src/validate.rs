//! Checks on every value the app hands in, before it reaches the core.

use fieldsync::{AuthorId, DocumentId};

use crate::error::FieldSyncError;

/// Longest id string accepted (ids are 64 hex characters; some slack for whitespace).
const MAX_ID_CHARS: usize = 128;
/// Longest data directory path accepted, in bytes.
const MAX_PATH_BYTES: usize = 4096;

/// Parses a document id (64 hex characters).
pub(crate) fn document_id(s: &str) -> Result<DocumentId, FieldSyncError> {
    if s.trim().is_empty() {
        return Err(FieldSyncError::invalid("document id must not be empty"));
    }
    if s.len() > MAX_ID_CHARS {
        return Err(FieldSyncError::invalid(format!(
            "document id of {} bytes is too long (expected 64 hex characters)",
            s.len()
        )));
    }
    Ok(s.parse::<DocumentId>()?)
}

/// Parses an author id (64 hex characters of an Ed25519 public key).
pub(crate) fn author_id(s: &str) -> Result<AuthorId, FieldSyncError> {
    if s.trim().is_empty() {
        return Err(FieldSyncError::invalid("author id must not be empty"));
    }
    if s.len() > MAX_ID_CHARS {
        return Err(FieldSyncError::invalid(format!(
            "author id of {} bytes is too long (expected 64 hex characters)",
            s.len()
        )));
    }
    Ok(s.parse::<AuthorId>()?)
}

/// Checks a data directory path: not empty, not absurdly long, no NUL byte.
pub(crate) fn data_dir(s: &str) -> Result<std::path::PathBuf, FieldSyncError> {
    if s.trim().is_empty() {
        return Err(FieldSyncError::invalid("data directory must not be empty"));
    }
    if s.len() > MAX_PATH_BYTES {
        return Err(FieldSyncError::invalid(format!(
            "data directory path of {} bytes exceeds {MAX_PATH_BYTES} bytes",
            s.len()
        )));
    }
    if s.contains('\0') {
        return Err(FieldSyncError::invalid(
            "data directory path contains a NUL byte",
        ));
    }
    Ok(s.into())
}

/// Checks text to insert: it must not be empty (an empty insert is always a caller bug).
/// The upper size bound is the core's (the configured maximum operation body).
pub(crate) fn non_empty_text(s: &str) -> Result<(), FieldSyncError> {
    if s.is_empty() {
        return Err(FieldSyncError::invalid("text to insert must not be empty"));
    }
    Ok(())
}

/// Longest map key accepted, in bytes (the core's limit for names and keys).
const MAX_KEY_BYTES: usize = 256;

/// Checks a map key for reads (writes are checked by the core with the same rule).
pub(crate) fn map_key(key: &str) -> Result<(), FieldSyncError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(FieldSyncError::invalid(format!(
            "key must be 1..={MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Converts an index or length from the app into `usize`.
pub(crate) fn index(v: u32) -> Result<usize, FieldSyncError> {
    usize::try_from(v).map_err(|_| FieldSyncError::invalid(format!("index {v} is too large")))
}

/// Converts a length from the core into the `u32` the FFI exposes.
pub(crate) fn length(v: usize) -> Result<u32, FieldSyncError> {
    u32::try_from(v).map_err(|_| FieldSyncError::internal(format!("length {v} exceeds u32")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(matches!(
            document_id(""),
            Err(FieldSyncError::InvalidArgument { .. })
        ));
        assert!(matches!(
            document_id(&"a".repeat(1 << 20)),
            Err(FieldSyncError::InvalidArgument { .. })
        ));
        assert!(matches!(
            document_id("not hex"),
            Err(FieldSyncError::InvalidArgument { .. })
        ));
        let id = DocumentId::random();
        assert_eq!(document_id(&id.to_string()).unwrap(), id);
        assert!(author_id(&"00".repeat(31)).is_err());
    }

    #[test]
    fn paths_are_checked() {
        assert!(data_dir("").is_err());
        assert!(data_dir("a\0b").is_err());
        assert!(data_dir(&"x".repeat(5000)).is_err());
        assert!(data_dir("/tmp/x").is_ok());
    }
}
