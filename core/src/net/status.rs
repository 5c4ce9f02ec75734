//! Sync status of a document as the app sees it.

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::join::JoinState;

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
    /// The known peers with when each was last connected (`None`: not since the node
    /// opened), connected ones first.
    pub peers: Vec<PeerSeen>,
    /// This device's request to be admitted, while it waits or after a refusal (`None`
    /// when it made none or reads the document).
    pub join: Option<JoinState>,
}

/// A peer of a document and when it was last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSeen {
    /// The peer.
    pub peer: AuthorId,
    /// Whether it is in a sync session for the document now.
    pub connected: bool,
    /// When it was last connected (ms since the Unix epoch); `None` if not since the node
    /// opened.
    pub last_seen_ms: Option<i64>,
    /// The path the last sync session with it took (`None`: no session since the node
    /// opened).
    pub path: Option<PeerPath>,
}

/// How a sync session with a peer reached it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerPath {
    /// Through a relay server (`false`: a direct UDP path, hole-punched or on the LAN).
    pub relayed: bool,
    /// The path's round-trip time estimate, in milliseconds.
    pub rtt_ms: u32,
    /// When it was observed (ms since the Unix epoch), at the end of the session.
    pub at_ms: i64,
}
