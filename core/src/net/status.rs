//! Sync status of a document as the app sees it.

use crate::base::ids::{AuthorId, DocumentId};

/// Where a document stands with respect to its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncStatus {
    /// The document.
    pub document: DocumentId,
    /// Whether the network is running.
    pub online: bool,
    /// Local operations no peer has acknowledged yet.
    pub pending_local_ops: u64,
    /// Peers currently in a sync session for this document.
    pub connected_peers: Vec<AuthorId>,
    /// Peers this node has synced this document with at some point.
    pub known_peers: Vec<AuthorId>,
    /// Operations from peers that were rejected (forged, malformed, ...).
    pub rejected_ops: u64,
    /// When a catch-up of this document with a peer last finished, in milliseconds since
    /// the Unix epoch (`None` since the node opened: not yet).
    pub last_sync_ms: Option<i64>,
}
