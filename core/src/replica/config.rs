//! The settings of a node.

use std::path::PathBuf;
use std::sync::Arc;

use crate::replica::DeviceKeyStore;

/// Settings of a node.
#[derive(Clone)]
pub struct NodeConfig {
    /// Directory holding the node's database.
    pub data_dir: PathBuf,
    /// Largest encoded operation accepted from the network, in bytes.
    pub max_operation_bytes: usize,
    /// Largest operation body accepted or produced, in bytes.
    pub max_body_bytes: u64,
    /// A document snapshot is cached after this many operations.
    pub snapshot_every: u32,
    /// Most operations kept aside while waiting for their predecessors.
    pub max_parked: u64,
    /// Most operations one author may have kept aside (waiting for predecessors, or in
    /// quarantine until the roles that allow them arrive). Identities are free: this keeps
    /// one key, or many, from filling the area alone.
    pub max_parked_per_author: u64,
    /// How long an operation stays kept aside before it is dropped (a later sync brings it
    /// again if it is still wanted). Default 7 days.
    pub parked_expiry: std::time::Duration,
    /// Where the device key is kept; `None` keeps it in the SDK database.
    pub key_store: Option<Arc<dyn DeviceKeyStore>>,
    /// End-to-end encrypt documents (default `true`). When off, new documents are plain and
    /// plain bodies are accepted for every document; meant for tests and benchmarks. See
    /// `crate::replica::membership`.
    pub encrypt: bool,
    /// Local edits of each document that can be undone (`Document::undo`), per session;
    /// 0 turns undo off. Default 100.
    pub undo_steps: usize,
    /// The unit text handles count positions in unless told otherwise
    /// (`TextHandle::with_unit`). Default Unicode scalars; the mobile packages use UTF-16.
    pub text_unit: crate::document::TextUnit,
    /// A writer publishes a snapshot operation of a document (its state, signed and
    /// encrypted like an edit) after this many operations of the document since the last
    /// snapshot it published or received, counted from when the document was loaded; 0
    /// publishes only on request (`Document::publish_snapshot`). A device that joins or is
    /// far behind fetches the latest snapshot and the operations after it instead of the
    /// whole history. Default 10,000.
    pub publish_snapshot_every: u32,
    /// Which operations covered by a snapshot this node keeps (see [`Retention`]). Default
    /// [`Retention::KeepAll`].
    pub retention: Retention,
    /// Consecutive local edits of a document within this window become one signed
    /// operation (far fewer signatures, commits and messages in a burst of typing). Zero
    /// (the default) signs and stores every edit before the edit returns. With a window,
    /// an edit returns once applied in memory; it is durable once its window is signed
    /// (at the latest the window's length later, or at `Node::flush`): a crash loses at
    /// most the open window. 10-50 ms suits live typing.
    pub coalesce_window: std::time::Duration,
    /// Largest attachment accepted, in bytes (added here or fetched). Default 100 MB.
    pub max_attachment_bytes: u64,
    /// Storage budget for attachments fetched from peers, in encrypted bytes held (default
    /// 1 GB). Past it, the least recently fetched ones are evicted (they can be fetched
    /// again); attachments added on this device are never evicted. See
    /// `Node::collect_attachments`.
    pub attachment_budget_bytes: u64,
    /// Age below which an attachment no document references is kept anyway (default 10
    /// minutes): an app adds the content first and puts its reference in a document next.
    pub attachment_grace: std::time::Duration,
}

/// Which document operations a node keeps once a snapshot covers them. Control operations
/// (membership, roles, keys) are always kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Retention {
    /// Keep every operation: the whole history stays available (history views, diffs and
    /// undoing a removal's sweep see every edit). The default.
    #[default]
    KeepAll,
    /// Keep operations received in the last `days` days; older ones covered by the latest
    /// snapshot are pruned.
    KeepDays(u32),
    /// Keep only the operations after the latest snapshot: the smallest database.
    KeepSinceSnapshot,
}

impl NodeConfig {
    /// Defaults for a node stored in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            max_operation_bytes: 17 * 1024 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            snapshot_every: 256,
            max_parked: 100_000,
            max_parked_per_author: 2_000,
            parked_expiry: std::time::Duration::from_secs(7 * 24 * 3600),
            key_store: None,
            encrypt: true,
            undo_steps: 100,
            text_unit: crate::document::TextUnit::Unicode,
            publish_snapshot_every: 10_000,
            retention: Retention::KeepAll,
            coalesce_window: std::time::Duration::ZERO,
            max_attachment_bytes: 100 * 1000 * 1000,
            attachment_budget_bytes: 1000 * 1000 * 1000,
            attachment_grace: std::time::Duration::from_secs(600),
        }
    }
}

impl NodeConfig {
    /// The parking limits of this configuration.
    pub(crate) fn park_limits(&self) -> crate::store::parked::ParkLimits {
        crate::store::parked::ParkLimits {
            total: self.max_parked,
            per_author: self.max_parked_per_author,
            expiry_ms: i64::try_from(self.parked_expiry.as_millis()).unwrap_or(i64::MAX),
        }
    }
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("data_dir", &self.data_dir)
            .field("max_operation_bytes", &self.max_operation_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("snapshot_every", &self.snapshot_every)
            .field("encrypt", &self.encrypt)
            .field("publish_snapshot_every", &self.publish_snapshot_every)
            .field("retention", &self.retention)
            .field("coalesce_window", &self.coalesce_window)
            .finish()
    }
}
