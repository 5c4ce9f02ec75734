//! The document layer: pure Loro. Values apps store, the canonical JSON of a document, the
//! attribution rule for received updates, the in-memory cache entry with its snapshot policy,
//! text inserts in pieces every replica applies in linear time, the deferred import of a batch's updates, paths into nested containers, JSON in and out of containers, text units, the changes observers receive, and history (versions, views, diffs). No I/O: the replica layer feeds it bytes.

pub(crate) mod attribution;
pub(crate) mod cache;
pub mod change;
pub(crate) mod deferred;
mod error;
pub mod history;
pub(crate) mod json;
pub mod path;
pub(crate) mod snapshot;
pub(crate) mod text;
pub(crate) mod tree;
pub mod units;
pub mod value;

pub use change::{Change, ChangeDiff};
pub use error::{DocumentError, InvalidUpdate};
pub use history::{HistoryEntry, Version};
pub use path::{Path, PathSegment};
pub use units::TextUnit;
pub use value::Value;
