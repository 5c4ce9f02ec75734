//! A read connection on the node database for the network layer, so that serving a peer's
//! catch-up never waits for the writer.

use std::path::Path;
use std::sync::{Arc, Mutex};

use p2panda_core::Hash;
use rusqlite::Connection;

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::LogKind;
use crate::net::catchup::Heights;
use crate::store::oplog::{self, StoredOperation};
use crate::store::sealed::{self, SharedCipher};
use crate::store::StoreError;
use crate::store::{self};

/// A read-only connection to the node database.
#[derive(Clone)]
pub struct SyncStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SyncStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncStore")
    }
}

impl SyncStore {
    /// Opens a read connection on the database at `path`, opening sealed values with the
    /// node's `cipher`.
    pub fn open(path: &Path, cipher: &SharedCipher) -> Result<Self, StoreError> {
        let conn = store::open_connection(path, true)?;
        sealed::register(&conn, cipher)?;
        Ok(SyncStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }

    /// Highest seq of every log of a document, with the head's hash.
    pub fn heights(&self, doc: DocumentId) -> Result<Heights, StoreError> {
        self.with(|c| oplog::heads_with_hashes(c, doc))
    }

    /// Hash of the operation at `seq` of a log, if held.
    pub fn hash_at(
        &self,
        doc: DocumentId,
        author: AuthorId,
        kind: LogKind,
        seq: u32,
    ) -> Result<Option<Hash>, StoreError> {
        self.with(|c| oplog::hash_at(c, &author, doc, kind, seq))
    }

    /// The covers (author, seq) of the snapshot operation at `seq` of `author`'s snapshot
    /// log, if held and well formed.
    pub fn snapshot_covers(
        &self,
        doc: DocumentId,
        author: AuthorId,
        seq: u32,
    ) -> Result<Option<Vec<(AuthorId, u32)>>, StoreError> {
        let body = self.with(|c| oplog::live_snapshot_body(c, doc, &author, seq))?;
        Ok(body
            .and_then(|b| crate::wire::snapshot::decode_stored(&b).ok())
            .map(|body| body.covers.into_iter().map(|c| (c.author, c.seq)).collect()))
    }

    /// The bases of a document's update logs: author -> the seq up to which its
    /// operations are not held (see `store/bases.rs`).
    pub fn bases(&self, doc: DocumentId) -> Result<Vec<(AuthorId, u32)>, StoreError> {
        Ok(self
            .with(|c| crate::store::bases::of_document(c, doc, LogKind::Delta))?
            .into_iter()
            .map(|(a, s, _)| (a, s))
            .collect())
    }

    /// Up to `limit` operations of one log with `after < seq <= until`, in order.
    pub fn entries(
        &self,
        doc: DocumentId,
        author: AuthorId,
        kind: LogKind,
        after: Option<u32>,
        until: u32,
        limit: u32,
    ) -> Result<Vec<StoredOperation>, StoreError> {
        let until = until.min(
            after
                .map_or(0, |a| a.saturating_add(1))
                .saturating_add(limit - 1),
        );
        self.with(|c| oplog::log_entries(c, &author, doc, kind, after, Some(until)))
    }
}
