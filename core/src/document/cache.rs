//! The in-memory document cache entry and the snapshot policy: when a loaded document's
//! snapshot is due.

use loro::{LoroDoc, Subscription, UndoManager};

/// The open coalescing window of a loaded document: this device's Loro counters
/// `start..end` are committed to the document and not yet signed (see
/// `crate::replica::coalesce`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) start: i32,
    pub(crate) end: i32,
    /// Bytes of the edits' updates, exported one by one.
    pub(crate) bytes: u64,
    pub(crate) opened: std::time::Instant,
}

/// A document loaded in memory, with the count that decides when its snapshot is due, its
/// undo manager and its observers' subscription.
pub(crate) struct LoadedDoc {
    pub(crate) loro: LoroDoc,
    /// This device's edits that can be undone (`None` when undo is off). Lives as long as
    /// the loaded document: a document rebuilt from the store starts with none.
    pub(crate) undo: Option<UndoManager>,
    /// The observers' Loro subscription, while the document has observers.
    pub(crate) observing: Option<Subscription>,
    /// Operations applied since the cached snapshot was saved.
    pub(crate) since_snapshot: u64,
    /// Operations applied since a snapshot operation was published or accepted (counted
    /// from the load): drives `NodeConfig::publish_snapshot_every`.
    pub(crate) since_published: u64,
    /// This device's edits committed to `loro` and not yet signed (see
    /// `crate::replica::coalesce`).
    pub(crate) window: Option<Window>,
    /// Operations between snapshots: `NodeConfig::snapshot_every` or a quarter of the
    /// document's operations, whichever is larger. Exporting a snapshot costs in proportion
    /// to the document, so a fixed interval made writing and catching up quadratic; a
    /// growing one keeps the cost per operation constant and bounds the replay on the next
    /// open to a fifth of the log.
    interval: u64,
}

impl LoadedDoc {
    /// A loaded document; `undo_steps` local edits can be undone (0: none). Changes are
    /// recorded with their time and never merged: each commit is one version in the
    /// history.
    pub(crate) fn new(loro: LoroDoc, ops_in_snapshot: u64, every: u32, undo_steps: usize) -> Self {
        loro.set_record_timestamp(true);
        loro.set_change_merge_interval(-1);
        let undo = (undo_steps > 0).then(|| {
            let mut undo = UndoManager::new(&loro);
            undo.set_max_undo_steps(undo_steps);
            undo
        });
        LoadedDoc {
            loro,
            undo,
            observing: None,
            since_snapshot: 0,
            since_published: 0,
            window: None,
            interval: snapshot_interval(every, ops_in_snapshot),
        }
    }

    /// Counts `n` applied operations; true when a snapshot is due.
    pub(crate) fn count_ops(&mut self, n: u64) -> bool {
        self.since_snapshot += n;
        self.since_published += n;
        self.since_snapshot >= self.interval
    }

    /// Records a saved snapshot covering `total_ops` operations.
    pub(crate) fn snapshotted(&mut self, total_ops: u64, every: u32) {
        self.since_snapshot = 0;
        self.interval = snapshot_interval(every, total_ops);
    }
}

/// Operations until the next snapshot of a document holding `total_ops`.
fn snapshot_interval(every: u32, total_ops: u64) -> u64 {
    u64::from(every.max(1)).max(total_ops / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_with_the_document() {
        assert_eq!(snapshot_interval(256, 0), 256);
        assert_eq!(snapshot_interval(256, 4000), 1000);
        assert_eq!(snapshot_interval(0, 0), 1, "an interval is never zero");
        let mut doc = LoadedDoc::new(LoroDoc::new(), 0, 2, 0);
        assert!(!doc.count_ops(1));
        assert!(doc.count_ops(1), "due after `every` operations");
        doc.snapshotted(400, 2);
        assert!(!doc.count_ops(99));
        assert!(doc.count_ops(1), "due after a quarter of the operations");
    }
}
