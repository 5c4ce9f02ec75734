//! What the ingest of a batch of received operations remembers about the store while the
//! batch runs: each log's head once looked up or extended, the documents found live, and
//! which logs have parked operations. Each was a SQLite lookup per operation (together a
//! fifth of the ingest thread's time in a 100k catch-up), though consecutive operations of a
//! batch mostly extend the same log of the same document.
//!
//! The batch holds the node lock from start to end, so only the batch itself writes to the
//! store meanwhile; it tells the memo what it wrote ([`BatchMemo::extended`],
//! [`BatchMemo::live`], [`BatchMemo::parked`]) and drops it with the batch (also when the
//! batch is rolled back). A control operation may append to this node's own logs as a side
//! effect (a key bundle, a group message): the heads are forgotten after one
//! ([`BatchMemo::forget_heads`]).

use std::collections::{HashMap, HashSet};

use p2panda_core::Hash;
use rusqlite::Connection;

use crate::base::ids::DocumentId;
use crate::base::log::LogId;
use crate::document::deferred::DeferredImports;
use crate::store::{oplog, parked, StoreError};

/// One batch of received operations, passed by `&mut` through the ingest path. A single
/// operation is ingested with the empty batch (`Batch::default()`): no memo, no deferral.
#[derive(Default)]
pub(crate) struct Batch {
    /// What the batch learnt about the store; `None`: every lookup reads the store.
    pub(crate) memo: Option<BatchMemo>,
    /// The batch's Loro updates, imported at its end; `None`: each update is imported as
    /// its operation is stored.
    pub(crate) deferred: Option<DeferredImports>,
    /// Documents where a removal took effect during a deferred batch: their revoked
    /// updates are swept after the batch's imports (see `crate::replica::authz`).
    pub(crate) revoked: Vec<DocumentId>,
    /// Logs frozen during a deferred batch (a fork was found): their operations from the
    /// fork on are removed after the batch's imports (see `crate::replica::forks`).
    pub(crate) frozen: Vec<LogId>,
    /// Documents that accepted a snapshot during the batch, compacted at its end under
    /// `NodeConfig::retention` (see `crate::replica::snapshot`).
    pub(crate) compact: Vec<DocumentId>,
}

/// The memo of one batch (see the module documentation).
pub(crate) struct BatchMemo {
    /// Head (seq, hash) of each log looked up or extended in this batch; `None`: empty log.
    heads: HashMap<LogId, Option<(u32, Hash)>>,
    /// Documents known to be live.
    live: HashSet<DocumentId>,
    /// Logs that may have parked operations: those with some at the start of the batch and
    /// those parked since.
    parked: HashSet<LogId>,
}

impl BatchMemo {
    /// A memo for a batch starting now: knows which logs have parked operations.
    pub(crate) fn load(conn: &Connection) -> Result<Self, StoreError> {
        Ok(Self {
            heads: HashMap::new(),
            live: HashSet::new(),
            parked: parked::logs(conn)?.into_iter().collect(),
        })
    }

    /// The head (seq, hash) of `log`, looked up in the store the first time.
    pub(crate) fn head(
        &mut self,
        conn: &Connection,
        log: LogId,
    ) -> Result<Option<(u32, Hash)>, StoreError> {
        if let Some(head) = self.heads.get(&log) {
            return Ok(*head);
        }
        let head = oplog::latest(conn, &log.0, log.1, log.2)?;
        self.heads.insert(log, head);
        Ok(head)
    }

    /// `log` was extended by the operation at `seq` with `hash`.
    pub(crate) fn extended(&mut self, log: LogId, seq: u32, hash: Hash) {
        self.heads.insert(log, Some((seq, hash)));
    }

    /// Forgets every head: the next lookup of each reads the store again.
    pub(crate) fn forget_heads(&mut self) {
        self.heads.clear();
    }

    /// Whether `document` is known to be live.
    pub(crate) fn is_live(&self, document: DocumentId) -> bool {
        self.live.contains(&document)
    }

    /// `document` is live.
    pub(crate) fn live(&mut self, document: DocumentId) {
        self.live.insert(document);
    }

    /// Whether `log` may have parked operations.
    pub(crate) fn may_have_parked(&self, log: &LogId) -> bool {
        self.parked.contains(log)
    }

    /// An operation of `log` was parked.
    pub(crate) fn parked(&mut self, log: LogId) {
        self.parked.insert(log);
    }
}
