//! The op log seen through p2panda's store traits, so that `LogSync` serves our SQLite log
//! directly. Read-only: everything received goes through [`crate::Node`]'s validation.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use p2panda_core::{Hash, Topic, VerifyingKey};
use p2panda_store::logs::LogStore;
use p2panda_store::topics::TopicStore;
use rusqlite::Connection;

use crate::error::{IngestError, StoreError};
use crate::ids::{AuthorId, DocumentId};
use crate::operation::{decode_parts, FsOperation, LogKey};
use crate::store::{self, oplog};

/// Error of the sync store adapter.
#[derive(Debug, thiserror::Error)]
pub enum SyncStoreError {
    /// Reading the database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored operation no longer decodes.
    #[error("stored operation is unreadable: {0}")]
    Decode(#[from] IngestError),
}

/// A read connection to the node database implementing p2panda's log and topic stores.
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
    /// Opens a read connection on the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = store::open_connection(path, true)?;
        Ok(SyncStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, SyncStoreError>,
    ) -> Result<T, SyncStoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }

    fn entries(
        &self,
        author: &VerifyingKey,
        log: &LogKey,
        after: Option<u32>,
        until: Option<u32>,
    ) -> Result<Vec<(FsOperation, Vec<u8>)>, SyncStoreError> {
        self.with(|conn| {
            let rows = oplog::log_entries(
                conn,
                &AuthorId::from(*author),
                DocumentId::from(log.document),
                log.kind,
                after,
                until,
            )?;
            rows.into_iter()
                .map(|r| {
                    let op = decode_parts(&r.header, r.body, u64::MAX)?;
                    Ok((op, r.header))
                })
                .collect()
        })
    }
}

impl LogStore<FsOperation, VerifyingKey, LogKey, u32, Hash> for SyncStore {
    type Error = SyncStoreError;

    async fn get_latest_entry(
        &self,
        author: &VerifyingKey,
        log_id: &LogKey,
    ) -> Result<Option<FsOperation>, Self::Error> {
        let latest = self.with(|conn| {
            Ok(oplog::latest(
                conn,
                &AuthorId::from(*author),
                DocumentId::from(log_id.document),
                log_id.kind,
            )?)
        })?;
        match latest {
            Some((seq, _)) => Ok(self
                .entries(author, log_id, seq.checked_sub(1), Some(seq))?
                .pop()
                .map(|(op, _)| op)),
            None => Ok(None),
        }
    }

    async fn get_latest_entry_tx(
        &self,
        author: &VerifyingKey,
        log_id: &LogKey,
    ) -> Result<Option<FsOperation>, Self::Error> {
        self.get_latest_entry(author, log_id).await
    }

    async fn get_log_heights(
        &self,
        author: &VerifyingKey,
        logs: &[LogKey],
    ) -> Result<Option<BTreeMap<LogKey, u32>>, Self::Error> {
        let author = AuthorId::from(*author);
        let heights = self.with(|conn| {
            let mut out = BTreeMap::new();
            for log in logs {
                if let Some((seq, _)) =
                    oplog::latest(conn, &author, DocumentId::from(log.document), log.kind)?
                {
                    out.insert(*log, seq);
                }
            }
            Ok(out)
        })?;
        Ok((!heights.is_empty()).then_some(heights))
    }

    async fn get_log_size(
        &self,
        author: &VerifyingKey,
        log_id: &LogKey,
        after: Option<u32>,
        until: Option<u32>,
    ) -> Result<Option<(u32, u32)>, Self::Error> {
        let author = AuthorId::from(*author);
        self.with(|conn| {
            let (count, bytes) = oplog::log_size(
                conn,
                &author,
                DocumentId::from(log_id.document),
                log_id.kind,
                after,
                until,
            )?;
            Ok((count > 0).then_some((count, bytes)))
        })
    }

    async fn get_log_entries(
        &self,
        author: &VerifyingKey,
        log_id: &LogKey,
        after: Option<u32>,
        until: Option<u32>,
    ) -> Result<Option<Vec<(FsOperation, Vec<u8>)>>, Self::Error> {
        let entries = self.entries(author, log_id, after, until)?;
        Ok((!entries.is_empty()).then_some(entries))
    }

    async fn prune_entries(
        &self,
        _author: &VerifyingKey,
        _log_id: &LogKey,
        _until: &u32,
    ) -> Result<u64, Self::Error> {
        // FieldSync never prunes through the sync layer.
        Ok(0)
    }
}

impl TopicStore<Topic, VerifyingKey, LogKey> for SyncStore {
    type Error = SyncStoreError;

    async fn associate(
        &self,
        _topic: &Topic,
        _author: &VerifyingKey,
        _data_id: &LogKey,
    ) -> Result<bool, Self::Error> {
        // Logs are associated with their document by the `document` column of the op log.
        Ok(true)
    }

    async fn remove(
        &self,
        _topic: &Topic,
        _author: &VerifyingKey,
        _data_id: &LogKey,
    ) -> Result<bool, Self::Error> {
        Ok(false)
    }

    async fn resolve(
        &self,
        topic: &Topic,
    ) -> Result<BTreeMap<VerifyingKey, Vec<LogKey>>, Self::Error> {
        let document = DocumentId::from(Hash::from(*topic.as_bytes()));
        self.with(|conn| {
            let mut out: BTreeMap<VerifyingKey, Vec<LogKey>> = BTreeMap::new();
            for (author, kind) in oplog::logs_of(conn, document)? {
                out.entry(author.verifying_key()).or_default().push(LogKey {
                    document: document.as_hash(),
                    kind,
                });
            }
            Ok(out)
        })
    }
}
