//! Logs: every author keeps one log per document and kind, identified by [`LogId`].

use serde::{Deserialize, Serialize};

use crate::base::ids::{AuthorId, DocumentId};

/// Which log of an author an operation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LogKind {
    /// Document updates (Loro update bytes in the body).
    Delta,
    /// Group membership and key agreement messages.
    Control,
    /// Snapshots of the document's state (see `wire/snapshot.rs`): each one supersedes the
    /// author's earlier ones, which may be dropped (p2panda's prune semantics).
    Snapshot,
}

impl LogKind {
    /// Numeric code stored in SQLite.
    pub fn code(self) -> i64 {
        match self {
            LogKind::Delta => 0,
            LogKind::Control => 1,
            LogKind::Snapshot => 2,
        }
    }

    /// Inverse of [`LogKind::code`].
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(LogKind::Delta),
            1 => Some(LogKind::Control),
            2 => Some(LogKind::Snapshot),
            _ => None,
        }
    }
}

/// One author's log of one kind for one document.
pub type LogId = (AuthorId, DocumentId, LogKind);
