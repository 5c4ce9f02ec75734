//! The replica layer: the engine of one device's replica, without the network.
//!
//! [`Replica`] owns the store, the identity, the key ring and the loaded documents behind one
//! lock. Local writes ([`write`]), the one load/replay path ([`load`]), ingest of received
//! operations ([`ingest`], with an explicit [`batch::Batch`]), membership and the key ring
//! ([`membership`], [`keyring`]) and direct sessions ([`direct`]) are its parts. The network
//! layer holds a `Weak<Replica>`; the public facade (`crate::node`) holds an `Arc`.

pub(crate) mod attachment_gc;
pub(crate) mod attachments;
pub(crate) mod authz;
pub(crate) mod batch;
pub(crate) mod cloning;
pub(crate) mod coalesce;
mod config;
pub(crate) mod direct;
mod error;
pub(crate) mod forks;
mod identity;
pub(crate) mod ingest;
pub(crate) mod keyring;
pub(crate) mod load;
pub(crate) mod membership;
pub(crate) mod observe;
pub(crate) mod snapshot;
pub(crate) mod write;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use loro::LoroDoc;
use p2panda_core::Hash;
use tokio::sync::broadcast;

use crate::base::events::{Event, EventStream};
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::log::{LogId, LogKind};
use crate::base::version::VersionVector;
use crate::document::cache::LoadedDoc;
use crate::document::DocumentError;
use crate::store::documents::{self, DocumentState};
use crate::store::outbox::{self, OutboxEntry};
use crate::store::{oplog, parked, Store, StoreError};
use crate::wire::operation::{self, FsOperation};

pub use attachment_gc::AttachmentSweep;
pub use config::{NodeConfig, Retention};
pub use error::{IdentityError, IngestError, ReplicaError};
use identity::Identity;
pub use identity::{DeviceKeyStore, FileKeyStore};
pub use ingest::IngestOutcome;
use keyring::KeyRing;

/// What the replica's lock guards.
pub(crate) struct ReplicaState {
    pub(crate) store: Store,
    pub(crate) docs: HashMap<DocumentId, LoadedDoc>,
    pub(crate) keys: KeyRing,
    /// Per document and log kind, the highest seq of our own log a peer has acknowledged
    /// since start: outbox entries up to it are gone, so the next acknowledgement only
    /// looks at the seqs after it (peers announce their heights after every batch).
    pub(crate) acknowledged: HashMap<(DocumentId, LogKind), u32>,
    /// The roles of documents, rebuilt from their auth operations on first use.
    pub(crate) auth: HashMap<DocumentId, crate::auth::state::DocAuth>,
    /// Documents' `legacy` flags (no role checks), read once.
    pub(crate) legacy: HashMap<DocumentId, bool>,
    /// Forked logs and the seq each is frozen at (see [`forks`]): the `forks` table, in
    /// memory, so every received operation is checked without a lookup.
    pub(crate) forks: HashMap<LogId, u32>,
    /// Where another device's use of this identity showed first (see [`cloning`]).
    pub(crate) cloned: Option<(DocumentId, u32)>,
    /// The app's store key the database is open with (for a rotation).
    pub(crate) store_key: crate::store::cipher::KeyBytes,
    /// Observers of documents (see [`observe`]).
    pub(crate) observers: HashMap<DocumentId, Arc<observe::DocHub>>,
}

impl ReplicaState {
    /// Drops everything cached from the store, after a rolled-back batch: loaded documents,
    /// key ring state and roles reload on use; the frozen logs are read again at once.
    pub(crate) fn forget_cached(&mut self) {
        self.drop_all_loaded();
        self.keys.forget_all();
        self.auth.clear();
        match crate::store::forks::frozen_logs(self.store.conn()) {
            Ok(frozen) => self.forks = frozen.into_iter().collect(),
            // Keeping the in-memory set refuses at worst more than the store says, until
            // the next start reads it.
            Err(e) => tracing::warn!("reading the forked logs failed: {e}"),
        }
    }
}

/// One device's replica of its documents: the engine behind `Node` and `Document` handles.
pub(crate) struct Replica {
    state: Mutex<ReplicaState>,
    events: broadcast::Sender<Event>,
    pub(crate) identity: Identity,
    pub(crate) config: NodeConfig,
    local_ops: broadcast::Sender<(DocumentId, FsOperation)>,
    db_path: PathBuf,
    /// Documents' `plain` flags, read once (see [`Replica::is_plain`]).
    plain_docs: Mutex<HashMap<DocumentId, bool>>,
    /// Signs coalesced edits when their window closes (see [`coalesce`]).
    pub(crate) coalescer: coalesce::Coalescer,
}

impl Replica {
    /// Opens (or creates) the replica stored in `config.data_dir`.
    pub(crate) fn open(config: NodeConfig) -> Result<Arc<Self>, ReplicaError> {
        // The directory first: a path that cannot be one is a store error, before any key
        // file is looked for in it.
        crate::store::private_dir(&config.data_dir)?;
        let store_key = identity::store_key(&config.data_dir, config.key_store.as_ref())?;
        let store = Store::open(&config.data_dir, &store_key)?;
        let db_path = store.path().to_path_buf();
        let identity = Identity::load_or_create(&store, config.key_store.as_ref())?;
        let keys = load_key_ring(&store, &identity.author())?;
        let cloned = store
            .meta_get(cloning::META_CLONED)?
            .as_deref()
            .and_then(cloning::decode);
        let forks = crate::store::forks::frozen_logs(store.conn())?
            .into_iter()
            .collect();
        let (events, _) = broadcast::channel(4096);
        let (local_ops, _) = broadcast::channel(4096);
        let (coalescer, due) = coalesce::channel();
        let windows = !config.coalesce_window.is_zero();
        let replica = Arc::new(Replica {
            state: Mutex::new(ReplicaState {
                store,
                docs: HashMap::new(),
                keys,
                acknowledged: HashMap::new(),
                auth: HashMap::new(),
                legacy: HashMap::new(),
                forks,
                cloned,
                store_key,
                observers: HashMap::new(),
            }),
            events,
            identity,
            config,
            local_ops,
            db_path,
            plain_docs: Mutex::new(HashMap::new()),
            coalescer,
        });
        if windows {
            coalesce::start(Arc::downgrade(&replica), due);
        }
        replica.refresh_key_bundle()?;
        Ok(replica)
    }

    /// Whether `data_dir` holds a node database.
    pub(crate) fn exists(data_dir: &std::path::Path) -> bool {
        data_dir.join(crate::store::DB_FILE).is_file()
    }

    /// This device's author id.
    pub(crate) fn author(&self) -> AuthorId {
        self.identity.author()
    }

    /// Subscribes to the replica's events.
    pub(crate) fn subscribe(&self) -> EventStream {
        EventStream::new(self.events.subscribe())
    }

    /// Hands a local operation to whoever listens (the network layer), once committed.
    pub(crate) fn publish_local(&self, id: DocumentId, op: FsOperation) {
        let _ = self.local_ops.send((id, op));
    }

    /// The device signing key (for the network layer).
    pub(crate) fn signing_key(&self) -> &p2panda_core::SigningKey {
        self.identity.signing_key()
    }

    /// Path of the node database.
    pub(crate) fn db_path(&self) -> PathBuf {
        self.db_path.clone()
    }

    /// Releases the data directory (see `Node::release`).
    pub(crate) fn release(&self) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.drop_all_loaded();
        st.store.release()
    }

    /// The data key's cipher, for the network layer's read connection.
    pub(crate) fn store_cipher(&self) -> crate::store::sealed::SharedCipher {
        self.lock().store.cipher().clone()
    }

    /// Replaces the store key with a fresh one: every sealed value moves to a new data key
    /// wrapped by it, and the app's key store (or the default file) receives it. Crash-safe:
    /// whatever point a crash interrupts, the database opens with the key the key store
    /// holds afterwards (see `Store::rotate_key`).
    pub(crate) fn rotate_store_key(&self) -> Result<(), ReplicaError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let old = st.store_key.clone();
        let new = crate::store::cipher::random_key();
        let ks = identity::store_key_store(&self.config.data_dir, self.config.key_store.as_ref());
        let mut key_store_failed = None;
        let rotated = st.store.rotate_key(&old, &new, || {
            ks.save_store_key(&new[..]).map_err(|e| {
                key_store_failed = Some(e.clone());
                StoreError::Io(std::io::Error::other(e))
            })
        });
        if let Some(e) = key_store_failed {
            // The old key still opens the database (see `Store::rotate_key`).
            return Err(IdentityError::KeyStore(e).into());
        }
        rotated?;
        st.store_key = new;
        Ok(())
    }

    /// Operations this node writes, as they are committed.
    pub(crate) fn local_ops_receiver(&self) -> broadcast::Receiver<(DocumentId, FsOperation)> {
        self.local_ops.subscribe()
    }

    /// Largest encoded operation accepted from the network.
    pub(crate) fn max_operation_bytes(&self) -> usize {
        self.config.max_operation_bytes
    }

    /// Whether this node holds `document` and serves it to peers.
    pub(crate) fn serves(&self, document: DocumentId) -> bool {
        documents::state(self.lock().store.conn(), document).is_ok_and(|s| s == DocumentState::Live)
    }

    /// A peer holds our log of `document` up to `seq`: acknowledge those outbox entries.
    pub(crate) fn acknowledge_up_to(
        &self,
        document: DocumentId,
        kind: LogKind,
        seq: u32,
    ) -> Result<usize, StoreError> {
        let me = self.identity.author();
        let mut st = self.lock();
        // Never remember more than our log holds: operations written after an announcement
        // beyond it (a peer restored from elsewhere, or lying) must still be acknowledged.
        let Some((ours, _)) = oplog::latest(st.store.conn(), &me, document, kind)? else {
            return Ok(0);
        };
        let upto = seq.min(ours);
        let after = st.acknowledged.get(&(document, kind)).copied();
        if after.is_some_and(|done| done >= upto) {
            return Ok(0);
        }
        let tx = st.store.transaction()?;
        let n = outbox::acknowledge_range(&tx, document, kind, after, upto)?;
        tx.commit()?;
        st.acknowledged.insert((document, kind), upto);
        Ok(n)
    }

    /// Reads a value of the node's key/value metadata.
    pub(crate) fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.lock().store.meta_get(key)
    }

    /// Writes a value of the node's key/value metadata.
    pub(crate) fn meta_set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.lock().store.meta_set(key, value)
    }

    /// Version vector of a document, for announcing heads.
    pub(crate) fn heads(
        &self,
        document: DocumentId,
        kind: LogKind,
    ) -> Result<VersionVector, StoreError> {
        oplog::version_vector_of(self.lock().store.conn(), document, kind)
    }

    /// The replica's state, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ReplicaState> {
        // A poisoned lock only means another thread panicked mid-call; the store is
        // transactional, so the state is still consistent and usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reports an event to subscribers (none listening is fine).
    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Refuses app input too large to fit in one operation body.
    pub(crate) fn check_input_size(&self, len: usize) -> Result<(), DocumentError> {
        // Leave room for CRDT metadata inside the body limit.
        let max = self.config.max_body_bytes.saturating_sub(1024) as usize;
        if len > max {
            return Err(DocumentError::InvalidArgument(format!(
                "input of {len} bytes exceeds the maximum of {max} bytes"
            )));
        }
        Ok(())
    }

    /// Runs `f` on the loaded document `id` (the read path: no write, no event).
    pub(crate) fn read<T>(
        &self,
        id: DocumentId,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        let mut st = self.lock();
        let doc = self.loaded(&mut st, id)?;
        f(&doc.loro)
    }

    /// Version vector of document `id`: for each author, the highest seq held.
    pub(crate) fn version_vector(&self, id: DocumentId) -> Result<VersionVector, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        Ok(oplog::version_vector(st.store.conn(), id)?)
    }

    /// Operations held for document `id`, all authors and logs.
    pub(crate) fn op_count(&self, id: DocumentId) -> Result<u64, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        Ok(oplog::count(st.store.conn(), id)?)
    }

    /// Local operations of document `id` no peer has acknowledged yet.
    pub(crate) fn pending_count(&self, id: DocumentId) -> Result<u64, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        Ok(outbox::pending_count(st.store.conn(), id)?)
    }

    /// `Ok` if document `id` exists and is not deleted, under the caller's lock.
    pub(crate) fn ensure_live(
        &self,
        st: &ReplicaState,
        id: DocumentId,
    ) -> Result<(), DocumentError> {
        match documents::state(st.store.conn(), id)? {
            DocumentState::Live => Ok(()),
            _ => Err(DocumentError::NotFound(id)),
        }
    }

    /// `Ok` if document `id` exists here and is not deleted.
    pub(crate) fn ensure_exists(&self, id: DocumentId) -> Result<(), DocumentError> {
        self.ensure_live(&self.lock(), id)
    }

    /// Registers document `id` if this node has never seen it; true if it was new. A
    /// deleted document stays deleted ([`DocumentError::NotFound`]).
    pub(crate) fn register(&self, id: DocumentId) -> Result<bool, DocumentError> {
        let mut st = self.lock();
        match documents::state(st.store.conn(), id)? {
            DocumentState::Deleted => Err(DocumentError::NotFound(id)),
            DocumentState::Unknown => {
                let tx = st.store.transaction()?;
                documents::ensure(&tx, id)?;
                tx.commit()?;
                Ok(true)
            }
            DocumentState::Live => Ok(false),
        }
    }

    /// Ids of all documents on this node.
    pub(crate) fn documents(&self) -> Result<Vec<DocumentId>, StoreError> {
        documents::list(self.lock().store.conn())
    }

    /// Deletes a document on this node: its content, log and outbox entries, leaving a
    /// tombstone.
    pub(crate) fn delete_document(&self, id: DocumentId) -> Result<(), DocumentError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        self.ensure_live(st, id)?;
        let tx = st.store.transaction()?;
        oplog::delete_document(&tx, id)?;
        crate::store::forks::delete_document(&tx, id)?;
        crate::store::joins::delete_document(&tx, id)?;
        outbox::delete_document(&tx, id)?;
        documents::mark_deleted(&tx, id)?;
        tx.commit()?;
        st.drop_loaded(id);
        st.forks.retain(|(_, document, _), _| *document != id);
        Ok(())
    }

    /// Every operation of a document, wire-encoded, in log order per author.
    pub(crate) fn operations(&self, id: DocumentId) -> Result<Vec<Vec<u8>>, DocumentError> {
        let st = self.lock();
        self.ensure_live(&st, id)?;
        let conn = st.store.conn();
        let mut out = Vec::new();
        for (author, kind, _) in oplog::heights(conn, id)? {
            for op in oplog::log_entries(conn, &author, id, kind, None, None)? {
                out.push(operation::encode_wire(&op.header, op.body.as_deref()));
            }
        }
        Ok(out)
    }

    /// Local operations no peer has acknowledged yet, oldest first.
    pub(crate) fn pending(
        &self,
        document: Option<DocumentId>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        outbox::pending(self.lock().store.conn(), document)
    }

    /// Marks operations as held by a peer; returns how many were pending.
    pub(crate) fn acknowledge(&self, hashes: &[Hash]) -> Result<usize, StoreError> {
        let mut st = self.lock();
        let tx = st.store.transaction()?;
        let n = outbox::acknowledge(&tx, hashes)?;
        tx.commit()?;
        Ok(n)
    }

    /// Records a failed delivery attempt on outbox entries.
    pub(crate) fn record_delivery_failure(
        &self,
        hashes: &[Hash],
        error: &str,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        let tx = st.store.transaction()?;
        outbox::record_attempt(&tx, hashes, Some(error))?;
        tx.commit()?;
        Ok(())
    }

    /// Number of operations parked while waiting for their predecessors.
    pub(crate) fn parked_count(&self) -> Result<u64, StoreError> {
        parked::count(self.lock().store.conn())
    }

    /// Runs SQLite's integrity check on the node database.
    pub(crate) fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.lock().store.integrity_check()
    }
}

/// Loads the device's key material, turning a panic on damaged key material into an error.
///
/// p2panda-encryption 0.7.1 panics (`key_manager.rs`, "we know the item exists in the set")
/// when a restored pre-key state is inconsistent, which a bit flip inside the stored key blob
/// produces: SQLite does not checksum row contents. A damaged database must give an error on
/// open, never a crash (found by `the corrupt_db integration tests`). Only effective with
/// `panic = "unwind"`, FieldSync's setting in every profile.
fn load_key_ring(store: &Store, me: &AuthorId) -> Result<KeyRing, ReplicaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        KeyRing::load_or_create(store, me)
    }))
    .unwrap_or_else(|_| {
        Err(StoreError::Corrupt("the device key material in the database is damaged".into()).into())
    })
}

impl Drop for Replica {
    fn drop(&mut self) {
        // Coalesced edits are signed and stored first (they reach peers from the outbox
        // next time): closing loses nothing.
        if self.window().is_some() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut guard = self.lock();
                self.sign_all_windows(&mut guard);
            }));
        }
        let st = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        // Snapshots are only a cache. Saving one panics when the last handle is dropped while
        // thread-locals are destroyed (Loro uses thread-locals; found by fuzzing), and a
        // panic there aborts the process: skip the snapshot instead.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let Ok(tx) = st.store.transaction() {
                for (id, doc) in st.docs.iter() {
                    if doc.since_snapshot > 0 {
                        let _ = write::save_snapshot(&tx, *id, &doc.loro);
                    }
                }
                let _ = tx.commit();
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `s` to the text "t" of `id`: one local operation.
    fn push(replica: &Replica, id: DocumentId, s: &str) {
        replica
            .edit(id, |d| {
                let t = d.get_text("t");
                t.insert(t.len_unicode(), s).map_err(write::engine)
            })
            .unwrap();
    }

    #[test]
    fn acknowledgements_remove_each_seq_range_once() {
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(NodeConfig::new(dir.path())).unwrap();
        let (id, ops) = replica.init_document().unwrap();
        assert_eq!(ops.len(), 2, "genesis and group creation");
        for i in 0..5 {
            push(&replica, id, &i.to_string());
        }
        let pending = || replica.pending(Some(id)).unwrap().len();
        // Five delta operations (seqs 0..=4) and the two control operations: the genesis
        // and the group's creation.
        assert_eq!(pending(), 7);
        let ack = |kind, seq| replica.acknowledge_up_to(id, kind, seq).unwrap();
        assert_eq!(ack(LogKind::Delta, 2), 3);
        // A repeated or older announcement touches nothing.
        assert_eq!(ack(LogKind::Delta, 2), 0);
        assert_eq!(ack(LogKind::Delta, 1), 0);
        assert_eq!(ack(LogKind::Delta, 4), 2);
        assert_eq!(
            pending(),
            2,
            "only the control operations are still pending"
        );
        // An announcement beyond our log does not hide operations written after it.
        assert_eq!(ack(LogKind::Delta, 9), 0);
        push(&replica, id, "5");
        assert_eq!(pending(), 3);
        assert_eq!(ack(LogKind::Delta, 9), 1);
        assert_eq!(ack(LogKind::Control, 1), 2);
        assert_eq!(pending(), 0);
    }
}
