//! The document layer: pure Loro. Values apps store, the canonical JSON of a document, the
//! attribution rule for received updates, the in-memory cache entry with its snapshot policy,
//! text inserts in pieces every replica applies in linear time, and the deferred import of a batch's updates. No I/O: the replica layer feeds it bytes.

pub(crate) mod attribution;
pub(crate) mod cache;
pub(crate) mod deferred;
mod error;
pub(crate) mod json;
pub(crate) mod text;
pub mod value;

pub use error::{DocumentError, InvalidUpdate};
pub use value::Value;
