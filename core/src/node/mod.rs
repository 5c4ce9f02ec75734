//! The node layer: the public facade. [`Node`] and [`Document`] hold the replica engine
//! (`crate::replica`) and the network slot (`crate::net`); every method is a short
//! delegation, so the rules live in one place below.

mod auto_fetch;
mod bundles;
mod counter;
mod direct;
mod document;
mod error;
mod handles;
mod links;
mod list;
mod map;
mod membership;
mod network;
mod observe;
mod text;

use std::path::Path;
use std::sync::Arc;

use p2panda_core::Hash;

use crate::base::events::EventStream;
use crate::base::ids::{AuthorId, DocumentId};
use crate::document::DocumentError;
use crate::net::{NetCommand, NetSlot};
use crate::replica::{IngestError, IngestOutcome, NodeConfig, Replica};
use crate::store::forks::ForkEvidence;
use crate::store::outbox::OutboxEntry;

pub use bundles::{Bundle, BundleImport};
pub use counter::CounterHandle;
pub use document::Document;
pub use document::HistoryVersion;
pub use error::{Error, ErrorKind, Result};
pub use handles::Handle;
pub use list::ListHandle;
pub use map::MapHandle;
pub use network::InviteOptions;
pub use observe::{ChangeItem, ChangeStream};
pub use text::TextHandle;

/// A FieldSync node: one device's replica of its documents. Cheap to clone; the node (and
/// its network) lives while any `Node` or [`Document`] handle does.
#[derive(Clone)]
pub struct Node {
    replica: Arc<Replica>,
    net: Arc<NetSlot>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.replica.author())
    }
}

impl Node {
    /// Opens (or creates) the node stored in `config.data_dir`.
    pub fn open(config: NodeConfig) -> Result<Self> {
        Ok(Node {
            replica: Replica::open(config)?,
            net: Arc::new(NetSlot::default()),
        })
    }

    /// True if `data_dir` holds a node (a database [`Node::open`] would open rather than
    /// create).
    pub fn exists(data_dir: impl AsRef<Path>) -> bool {
        Replica::exists(data_dir.as_ref())
    }

    /// This device's author id (its public key).
    pub fn author(&self) -> AuthorId {
        self.replica.author()
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.replica.config
    }

    fn handle(&self, id: DocumentId) -> Document {
        Document {
            replica: self.replica.clone(),
            net: self.net.clone(),
            id,
        }
    }

    /// Creates a new, empty document. With [`NodeConfig::encrypt`] on (the default) this
    /// creates its encryption group with this device as the only member and publishes the
    /// group's "create" control operation.
    pub fn create_document(&self) -> Result<Document> {
        let (id, ops) = self.replica.init_document()?;
        self.net.send(NetCommand::Subscribe(id));
        for op in ops {
            self.replica.publish_local(id, op);
        }
        Ok(self.handle(id))
    }

    /// Creates a document holding a copy of a Loro snapshot's content (from
    /// [`Document::export_snapshot`], a backup, or a plain Loro program), written as one
    /// edit of this device: the copy is signed by this device and this device is its only
    /// member, whoever wrote the original. Rich-text marks are dropped; trees are refused.
    ///
    /// # Errors
    /// `InvalidArgument` for bytes that are not a Loro snapshot (or hold a tree), or a
    /// snapshot above `NodeConfig::max_body_bytes`.
    pub fn import_snapshot(&self, snapshot: &[u8]) -> Result<Document> {
        let scratch = crate::document::snapshot::read_snapshot(
            snapshot,
            self.replica.config.max_body_bytes,
            false,
        )?;
        // A dry run first: a snapshot that cannot be copied creates no document.
        crate::document::tree::copy_document(&scratch, &loro::LoroDoc::new())?;
        let doc = self.create_document()?;
        doc.edit(|d| crate::document::tree::copy_document(&scratch, d))?;
        Ok(doc)
    }

    /// The content of the attachment `reference` names (from
    /// [`Document::add_attachment`], read from a document).
    ///
    /// # Errors
    /// `InvalidArgument` for a string that is no reference; `AttachmentUnavailable` when the
    /// attachment is not wholly on this device, or its stored chunks do not check out.
    pub fn read_attachment(&self, reference: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_attachment_to(reference, &mut out)?;
        Ok(out)
    }

    /// [`Node::read_attachment`] into `out`, a chunk at a time. Returns the bytes written.
    pub fn read_attachment_to(&self, reference: &str, out: impl std::io::Write) -> Result<u64> {
        let r = crate::wire::attachment::AttachmentRef::parse(reference)
            .map_err(|e| DocumentError::InvalidArgument(e.to_string()))?;
        Ok(self.replica.read_attachment(&r, out)?)
    }

    /// Deletes the attachments no document references any more (after a grace period) and
    /// evicts fetched ones past the storage budget (`NodeConfig::attachment_budget_bytes`,
    /// `attachment_grace`). Attachments added on this device are never evicted; an evicted
    /// or deleted one reads as `AttachmentUnavailable` until fetched again. Run it now and
    /// then (at app start, say): it reads every document holding attachments.
    pub fn collect_attachments(&self) -> Result<crate::AttachmentSweep> {
        Ok(self.replica.collect_attachments()?)
    }

    /// Gives the database pages that deletions and `Document::compact` freed back to the
    /// file system (SQLite's `VACUUM`). It rewrites the whole file: run it rarely (after a
    /// compaction, say), not after every edit.
    pub fn reclaim_space(&self) -> Result<()> {
        Ok(self.replica.reclaim_space()?)
    }

    /// Opens an existing document.
    pub fn document(&self, id: DocumentId) -> Result<Document> {
        self.replica.ensure_exists(id)?;
        Ok(self.handle(id))
    }

    /// Opens a document, registering it if this node has never seen it (used when joining).
    pub fn document_or_register(&self, id: DocumentId) -> Result<Document> {
        if self.replica.register(id).map_err(store_first)? {
            self.net.send(NetCommand::Subscribe(id));
        }
        Ok(self.handle(id))
    }

    /// Ids of all documents on this node.
    pub fn documents(&self) -> Result<Vec<DocumentId>> {
        Ok(self.replica.documents()?)
    }

    /// Deletes a document on this node: its content, log and outbox entries. A tombstone
    /// keeps sync from bringing it back.
    pub fn delete_document(&self, id: DocumentId) -> Result<()> {
        self.replica.delete_document(id).map_err(store_first)
    }

    /// Validates and applies an encoded operation received from another node.
    ///
    /// Checks, in order: size, envelope CBOR, header CBOR and Ed25519 signature, payload
    /// size, BLAKE3 payload hash, position in the author's log (seq and backlink). Idempotent.
    /// An operation that arrives before its predecessors is parked (returned as
    /// [`IngestError::SeqGap`]) and applied as soon as the gap closes.
    pub fn ingest(&self, bytes: &[u8]) -> Result<IngestOutcome, IngestError> {
        self.replica.ingest(bytes)
    }

    /// Ingests many encoded operations in one SQLite transaction (much faster than calling
    /// [`Node::ingest`] for each when a transport delivers them in bulk). Each operation is
    /// still validated and applied on its own: a refused one changes nothing and the others
    /// go on. Results are in input order.
    pub fn ingest_batch(&self, ops: &[Vec<u8>]) -> Vec<Result<IngestOutcome, IngestError>> {
        self.replica.ingest_batch(ops)
    }

    /// Evidence that authors of a document equivocated: per author log, two different
    /// operations it signed for one position (see [`crate::Event::ForkDetected`]).
    pub fn forks(&self, id: DocumentId) -> Result<Vec<ForkEvidence>> {
        self.replica.forks(id).map_err(store_first)
    }

    /// Every operation of a document, wire-encoded, in log order per author.
    pub fn operations(&self, id: DocumentId) -> Result<Vec<Vec<u8>>> {
        self.replica.operations(id).map_err(store_first)
    }

    /// Local operations no peer has acknowledged yet, oldest first.
    pub fn pending(&self, document: Option<DocumentId>) -> Result<Vec<OutboxEntry>> {
        Ok(self.replica.pending(document)?)
    }

    /// Marks operations as held by a peer; returns how many were pending.
    pub fn acknowledge(&self, hashes: &[Hash]) -> Result<usize> {
        Ok(self.replica.acknowledge(hashes)?)
    }

    /// Records a failed delivery attempt on outbox entries.
    pub fn record_delivery_failure(&self, hashes: &[Hash], error: &str) -> Result<()> {
        Ok(self.replica.record_delivery_failure(hashes, error)?)
    }

    /// Number of operations parked while waiting for their predecessors.
    pub fn parked_count(&self) -> Result<u64> {
        Ok(self.replica.parked_count()?)
    }

    /// Subscribes to node events.
    pub fn subscribe(&self) -> EventStream {
        self.replica.subscribe()
    }

    /// Whether another device writes with this device's identity (a restored backup, a
    /// copied data directory), and where it showed first: (document, seq of this device's
    /// log). Once it did, writes with this identity are refused; see
    /// [`crate::Event::IdentityCloned`] for the way out.
    pub fn identity_cloned(&self) -> Option<(DocumentId, u32)> {
        self.replica.identity_cloned()
    }

    /// Releases the data directory while handles of this node may still live (Kotlin's
    /// garbage-collected objects, say): its lock goes, so another node may open the
    /// directory, and this node's database becomes read-only, so every later write through
    /// it fails. Call it after stopping the network, when the node is done.
    pub fn release(&self) -> Result<()> {
        Ok(self.replica.release()?)
    }

    /// Replaces the store key (the key the app's key store holds, which wraps the data key
    /// that seals the database at rest) with a fresh one, and moves every sealed value to a
    /// new data key. Crash-safe: killed at any point, the node opens afterwards with the key
    /// its key store holds. Takes time in proportion to the database.
    pub fn rotate_store_key(&self) -> Result<()> {
        Ok(self.replica.rotate_store_key()?)
    }

    /// Writes a snapshot of every loaded document so the next open is fast.
    pub fn flush(&self) -> Result<()> {
        Ok(self.replica.flush()?)
    }

    /// Runs SQLite's integrity check on the node database.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        Ok(self.replica.integrity_check()?)
    }

    /// Rebuilds a document from its op log alone (ignoring the snapshot cache) and returns
    /// its JSON. Used to verify that cached state equals a replay of the log.
    pub fn replay_json(&self, id: DocumentId) -> Result<String> {
        self.replica.replay_json(id).map_err(store_first)
    }
}

impl Document {
    /// A handle on the same document for another purpose (e.g. its node's network API).
    fn node(&self) -> Node {
        Node {
            replica: self.replica.clone(),
            net: self.net.clone(),
        }
    }
}

/// The facade's error for a document call whose store failures callers match as
/// [`Error::Store`] (as these calls always reported them); other failures stay
/// [`Error::Document`].
fn store_first(e: DocumentError) -> Error {
    match e {
        DocumentError::Store(s) => Error::Store(s),
        other => Error::Document(other),
    }
}
