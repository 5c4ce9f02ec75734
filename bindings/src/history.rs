//! Node settings: snapshot operations, the retention policy, coalesced edits, the
//! attachment budget.

/// Settings of a node beyond its data directory (`Node.open`'s `options`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct NodeOptions {
    /// Consecutive local edits of a document within this many milliseconds become one
    /// signed operation (fewer signatures, writes and messages while typing). 0 (the
    /// default) stores every edit before the call returns. With a window, an edit is
    /// durable once its window is signed, at the latest this long later or at
    /// `Node.flush`: a crash loses at most the open window. 10-50 ms suits live typing.
    #[uniffi(default = 0)]
    pub coalesce_window_ms: u32,
    /// A writer publishes a snapshot of a document after this many operations since the
    /// last one it published or received (0: only on `Document.publishSnapshot`). New and
    /// far-behind devices fetch the snapshot and what follows it, not the whole history.
    #[uniffi(default = 10000)]
    pub publish_snapshot_every: u32,
    /// Which operations a snapshot covers this node keeps.
    #[uniffi(default = None)]
    pub retention: Option<Retention>,
    /// Storage budget for attachments fetched from peers, in bytes (default 1 GB): past
    /// it, the oldest fetched ones are evicted (fetchable again). Attachments added on this
    /// device are never evicted.
    #[uniffi(default = 1000000000)]
    pub attachment_budget_bytes: u64,
    /// Seconds an attachment no document references is kept anyway (default 600): apps
    /// add the content first and put its reference in a document next.
    #[uniffi(default = 600)]
    pub attachment_grace_secs: u32,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            coalesce_window_ms: 0,
            publish_snapshot_every: 10_000,
            retention: None,
            attachment_budget_bytes: 1_000_000_000,
            attachment_grace_secs: 600,
        }
    }
}

impl NodeOptions {
    /// Applies the options to a core configuration.
    pub(crate) fn apply(&self, config: &mut fieldsync::NodeConfig) {
        config.coalesce_window =
            std::time::Duration::from_millis(u64::from(self.coalesce_window_ms));
        config.publish_snapshot_every = self.publish_snapshot_every;
        if let Some(r) = self.retention {
            config.retention = r.into();
        }
        config.attachment_budget_bytes = self.attachment_budget_bytes;
        config.attachment_grace =
            std::time::Duration::from_secs(u64::from(self.attachment_grace_secs));
    }
}

/// Which document operations a node keeps once a snapshot covers them. Membership, roles
/// and keys are always kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Retention {
    /// Keep every operation: the whole history stays (the default).
    KeepAll,
    /// Keep the operations received in the last `days` days.
    KeepDays {
        /// Days to keep.
        days: u32,
    },
    /// Keep only what follows the latest snapshot: the smallest database.
    KeepSinceSnapshot,
}

impl From<Retention> for fieldsync::Retention {
    fn from(r: Retention) -> Self {
        match r {
            Retention::KeepAll => fieldsync::Retention::KeepAll,
            Retention::KeepDays { days } => fieldsync::Retention::KeepDays(days),
            Retention::KeepSinceSnapshot => fieldsync::Retention::KeepSinceSnapshot,
        }
    }
}
