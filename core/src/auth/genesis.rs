//! A document's genesis: its id is derived from the creator's key and a nonce, so only the
//! creator can write the auth "create" every replica accepts for it.

use crate::base::ids::{AuthorId, DocumentId};

const CONTEXT: &str = "fieldsync 2026-12 document genesis v1";

/// The id of the document `creator` creates with `nonce`.
pub(crate) fn document_id(creator: &AuthorId, nonce: &[u8; 32]) -> DocumentId {
    let mut hasher = blake3::Hasher::new_derive_key(CONTEXT);
    hasher.update(creator.as_bytes());
    hasher.update(nonce);
    DocumentId::from_bytes(*hasher.finalize().as_bytes())
}

/// True if `creator` with `nonce` is the genesis of `document`.
pub(crate) fn is_genesis_of(document: DocumentId, creator: &AuthorId, nonce: &[u8; 32]) -> bool {
    document_id(creator, nonce) == document
}
