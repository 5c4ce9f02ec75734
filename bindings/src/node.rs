//! The FFI `Node`: one device's replica of its documents.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::document::Document;
use crate::error::FieldSyncError;
use crate::events::EventSubscription;
use crate::guard::{guard_async, off_thread};
use crate::history::NodeOptions;
use crate::key_store::{DeviceKeyStore, KeyStoreAdapter};
use crate::network::{NetworkInfo, NetworkOptions, PeerAddress};
use crate::validate;

/// What fetching an attachment did (`Node.fetchAttachment`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentFetch {
    /// Every chunk is on this device now.
    pub complete: bool,
    /// Bytes received in this fetch.
    pub transferred: u64,
    /// Peers that sent a chunk not matching the manifest (dropped).
    pub corrupt_peers: Vec<String>,
    /// Peers that do not hold the attachment or do not serve it to this device.
    pub refused_by: Vec<String>,
    /// Peers that could not be reached or failed mid-way: "peer id: reason".
    pub failed: Vec<String>,
}

impl From<fieldsync::AttachmentFetch> for AttachmentFetch {
    fn from(f: fieldsync::AttachmentFetch) -> Self {
        AttachmentFetch {
            complete: f.complete,
            transferred: f.transferred,
            corrupt_peers: f.corrupt_peers.iter().map(|p| p.to_string()).collect(),
            refused_by: f.refused_by.iter().map(|p| p.to_string()).collect(),
            failed: f.failed.iter().map(|(p, e)| format!("{p}: {e}")).collect(),
        }
    }
}

/// A local operation that no peer has acknowledged yet (the outbox).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PendingOp {
    /// Operation id (BLAKE3 hash, hex).
    pub hash: String,
    /// Document the operation belongs to.
    pub document: String,
    /// When the operation was written, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// How many times sending was attempted.
    pub attempts: u32,
    /// The last error seen while sending, if any.
    pub last_error: Option<String>,
}

impl From<fieldsync::OutboxEntry> for PendingOp {
    fn from(e: fieldsync::OutboxEntry) -> Self {
        PendingOp {
            hash: e.hash.to_hex(),
            document: e.document.to_string(),
            created_at_ms: e.created_at,
            attempts: e.attempts,
            last_error: e.last_error,
        }
    }
}

/// A FieldSync node: the device's identity, its documents in a SQLite database, and (later) its
/// network endpoint.
///
/// Open one node per data directory and keep it for the lifetime of the app. All methods are
/// thread-safe. Synchronous methods touch only the local database and return quickly, but do
/// not call them on the UI thread in a tight loop.
///
/// Kotlin: `Node.open(dataDir)` returns an `AutoCloseable`; closing it (or leaving `use {}`)
/// shuts the node down like `Node.shutdown`: network stopped, data flushed, directory
/// released, documents and handles fail with `Closed`. Swift: `try Node.open(dataDir:)`;
/// shut down the same way when the last reference to the node goes, whatever documents are
/// still referenced.
#[derive(uniffi::Object)]
pub struct Node {
    pub(crate) inner: fieldsync::Node,
    /// Cancelled by `Node.shutdown`; documents, handles and subscriptions hold clones.
    pub(crate) shutdown: CancellationToken,
}

/// Shuts the node down when the app's last reference goes (Kotlin `close()`, Swift
/// `deinit`): documents hold the core node, not this object, so without this their handles
/// would keep the network running until they are collected.
impl Drop for Node {
    fn drop(&mut self) {
        if self.shutdown.is_cancelled() {
            return;
        }
        self.shutdown.cancel();
        let inner = self.inner.clone();
        let task = crate::runtime::runtime().spawn(async move {
            if let Err(e) = wind_down(inner).await {
                tracing::warn!(target: "fieldsync_ffi", "closing the node: {e}");
            }
        });
        // Waited for on the app's thread (close() returns with the network stopped and the
        // directory free); only spawned when dropped on one of the SDK's own threads.
        if tokio::runtime::Handle::try_current().is_err() {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::runtime::runtime().block_on(task)
            }));
        }
    }
}

/// What shutting a node down does, after its token is cancelled (`Node.shutdown`, and
/// `Drop`): stops the network (not running is fine; anything else is logged), then flushes
/// and releases the data directory, which is free for a new node even while documents of
/// this one are still referenced (they fail with `Closed`). The directory is released even
/// if the flush fails; the flush's error is returned then.
async fn wind_down(inner: fieldsync::Node) -> Result<(), FieldSyncError> {
    if let Err(e) = inner.stop_network().await {
        if !matches!(e, fieldsync::Error::Net(fieldsync::NetError::NotRunning)) {
            tracing::warn!(target: "fieldsync_ffi", "stopping the network on shutdown: {e}");
        }
    }
    tokio::task::spawn_blocking(move || {
        let flushed = inner.flush();
        inner.release()?;
        flushed
    })
    .await
    .map_err(|e| FieldSyncError::internal(e.to_string()))??;
    Ok(())
}

impl Node {
    /// The core node, unless the node was shut down.
    pub(crate) fn live(&self) -> Result<&fieldsync::Node, FieldSyncError> {
        if self.shutdown.is_cancelled() {
            return Err(FieldSyncError::closed());
        }
        Ok(&self.inner)
    }

    /// A clone of the core node for an async body, unless the node was shut down.
    pub(crate) fn live_owned(&self) -> Result<fieldsync::Node, FieldSyncError> {
        self.live().cloned()
    }

    pub(crate) fn wrap(&self, doc: fieldsync::Document) -> Arc<Document> {
        Arc::new(Document::new(
            doc,
            self.inner.clone(),
            self.shutdown.clone(),
        ))
    }
}

#[uniffi::export]
impl Node {
    /// Opens (or creates) the node stored in `data_dir`, creating the directory if needed.
    ///
    /// `key_store` lets the app keep the device key and the store key in the Android Keystore
    /// / iOS Keychain; by default (`null`/`nil`) the device key is kept in the node's
    /// (sealed) database and the store key in the file `store.key` of the data directory.
    /// The directory is made private to the app's user and locked for this node.
    ///
    /// Errors:
    /// - `InvalidArgument`: `data_dir` is empty, longer than 4096 bytes or contains NUL.
    /// - `Busy`: another node has this data directory open.
    /// - `WrongKey`: the store key does not open the database (nothing was changed).
    /// - `Storage`: the directory cannot be created or the database cannot be opened
    ///   (unwritable, corrupt, written by a newer FieldSync).
    /// - `Crypto`: the key store failed or returned a key that is not 32 bytes.
    ///
    /// `options` (default: every edit signed on its own, a snapshot every 10,000
    /// operations, the whole history kept) sets coalescing, snapshots and retention.
    #[uniffi::constructor(default(key_store = None, options = None))]
    pub async fn open(
        data_dir: String,
        key_store: Option<Arc<dyn DeviceKeyStore>>,
        options: Option<NodeOptions>,
    ) -> Result<Arc<Self>, FieldSyncError> {
        off_thread(CancellationToken::new(), move || {
            let dir = validate::data_dir(&data_dir)?;
            let mut config = fieldsync::NodeConfig::new(dir);
            options.unwrap_or_default().apply(&mut config);
            // Kotlin and Swift strings index UTF-16 code units.
            config.text_unit = fieldsync::TextUnit::Utf16;
            config.key_store = key_store
                .map(|ks| Arc::new(KeyStoreAdapter(ks)) as Arc<dyn fieldsync::DeviceKeyStore>);
            let inner = fieldsync::Node::open(config)?;
            tracing::info!(target: "fieldsync_ffi", author = %inner.author(), "node opened");
            Ok(Arc::new(Node {
                inner,
                shutdown: CancellationToken::new(),
            }))
        })
        .await
    }

    /// This device's author id: its Ed25519 public key as 64 hex characters.
    pub fn author_id(&self) -> String {
        self.inner.author().to_string()
    }

    /// This device's public key bundle: hand it to a member of a document (e.g. in a QR code)
    /// so they can add this device with `Document.addMember`.
    ///
    /// Errors: `Crypto`, `Storage`, `Closed`.
    pub async fn key_bundle(self: Arc<Self>) -> Result<Vec<u8>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.live()?.key_bundle()?)
        })
        .await
    }

    /// Sends `payload` to the device `peer` (an author id), end-to-end encrypted over a
    /// ratchet session; it is stored, delivered in order when the peer is reachable, and
    /// arrives there as `FieldSyncEvent.DirectMessage`. Needs the peer's key bundle (from an
    /// invite it issued, or announced in a shared document). Returns the message number.
    ///
    /// Errors: `InvalidArgument` (bad id, unknown key bundle, payload too large), `Crypto`, `Storage`,
    /// `Closed`.
    pub async fn send_direct(
        self: Arc<Self>,
        peer: String,
        payload: Vec<u8>,
    ) -> Result<u64, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let node = self.live()?;
            if payload.len() > node.config().max_operation_bytes / 2 {
                return Err(FieldSyncError::invalid("direct message payload too large"));
            }
            let peer: fieldsync::AuthorId = peer
                .parse()
                .map_err(|e: fieldsync::IdError| FieldSyncError::invalid(e.to_string()))?;
            Ok(node.send_direct(peer, &payload)?)
        })
        .await
    }

    /// Revokes every invite issued for `document`: devices holding one can no longer join by
    /// request (members already added stay). Returns how many were live.
    ///
    /// Errors: `InvalidArgument` (bad id), `Storage`, `Closed`.
    pub async fn revoke_invites(self: Arc<Self>, document: String) -> Result<u64, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let id: fieldsync::DocumentId = document
                .parse()
                .map_err(|e: fieldsync::IdError| FieldSyncError::invalid(e.to_string()))?;
            Ok(self.live()?.revoke_invites(id)? as u64)
        })
        .await
    }

    /// Creates a new, empty document.
    ///
    /// Errors: `Storage`, `Closed`.
    pub async fn create_document(self: Arc<Self>) -> Result<Arc<Document>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.wrap(self.live()?.create_document()?))
        })
        .await
    }

    /// Opens an existing document by id.
    ///
    /// Errors:
    /// - `InvalidArgument`: `id` is not 64 hex characters.
    /// - `NotFound`: no such document on this node (never created, joined, or deleted).
    /// - `Storage`, `Closed`.
    pub async fn open_document(
        self: Arc<Self>,
        id: String,
    ) -> Result<Arc<Document>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let id = validate::document_id(&id)?;
            Ok(self.wrap(self.live()?.document(id)?))
        })
        .await
    }

    /// Ids of all documents on this node.
    ///
    /// Errors: `Storage`, `Closed`.
    pub async fn document_ids(self: Arc<Self>) -> Result<Vec<String>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .live()?
                .documents()?
                .into_iter()
                .map(|d| d.to_string())
                .collect())
        })
        .await
    }

    /// Deletes a document on this node: content, history and pending operations. Sync never
    /// brings it back. Open `Document` objects of it fail with `NotFound` afterwards.
    ///
    /// Errors: `InvalidArgument` (malformed id), `NotFound`, `Storage`, `Closed`.
    pub async fn delete_document(self: Arc<Self>, id: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let id = validate::document_id(&id)?;
            Ok(self.live()?.delete_document(id)?)
        })
        .await
    }

    /// Subscribes to this node's events. See `EventSubscription`. After
    /// `Node.shutdown` the subscription is returned already ended.
    pub fn subscribe(&self) -> Arc<EventSubscription> {
        Arc::new(EventSubscription::new(
            self.inner.subscribe(),
            self.shutdown.child_token(),
        ))
    }

    /// Local operations of all documents that no peer has acknowledged yet, oldest first.
    ///
    /// Errors: `Storage`, `Closed`.
    pub async fn pending_ops(self: Arc<Self>) -> Result<Vec<PendingOp>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .live()?
                .pending(None)?
                .into_iter()
                .map(PendingOp::from)
                .collect())
        })
        .await
    }

    /// Whether another device writes with this device's identity (see the event
    /// `IdentityCloned`): writes with it are refused once it does.
    ///
    /// Errors: `Closed`.
    pub async fn identity_cloned(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.live()?.identity_cloned().is_some())
        })
        .await
    }

    /// Replaces the store key with a fresh one (saved through the key store) and moves the
    /// whole database to a new data key. Crash-safe: whenever the app is killed, the node
    /// opens afterwards with the key its key store holds. Takes time in proportion to the
    /// database: call it off the main thread.
    ///
    /// Errors: `Storage`, `Closed`, `Crypto` (the key store failed; the old key still opens).
    pub async fn rotate_store_key(self: Arc<Self>) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.live()?.rotate_store_key()?)
        })
        .await
    }

    /// Writes a snapshot of every loaded document so the next open is fast. Edits are durable
    /// without it.
    ///
    /// Errors: `Storage`, `Closed`.
    pub async fn flush(self: Arc<Self>) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.live()?.flush()?)).await
    }

    /// The content of the attachment `reference` names (a string from
    /// `Document.addAttachment`, read from a document). Every stored chunk is checked
    /// before it is returned.
    ///
    /// Errors: `InvalidArgument` (not a reference), `NotFound` (the attachment is not, or
    /// not wholly, on this device, or its stored bytes are damaged), `Storage`, `Closed`.
    pub async fn read_attachment(
        self: Arc<Self>,
        reference: String,
    ) -> Result<Vec<u8>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.live()?.read_attachment(&reference)?)
        })
        .await
    }

    /// Gives the database pages that deletions and `Document.compact` freed back to the
    /// file system (SQLite's VACUUM: it rewrites the whole file, so run it rarely, e.g.
    /// after a compaction, never on the UI thread's critical path).
    ///
    /// Errors: `Storage`, `Closed`.
    pub async fn reclaim_space(self: Arc<Self>) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.live()?.reclaim_space()?)
        })
        .await
    }

    /// Shuts the node down: flushes, ends every event subscription, releases the data
    /// directory (a new node may open it at once) and makes every later call on this node
    /// and its documents fail with `Closed`. Idempotent. Without it, the directory is
    /// released when the node and all its documents are closed (Kotlin) / released (Swift).
    ///
    /// Errors: `Storage` if the final flush fails (the node is shut down anyway).
    ///
    /// Cancel safety: The node is marked shut down before the first await; cancelling only skips the flush.
    pub async fn shutdown(&self) -> Result<(), FieldSyncError> {
        if self.shutdown.is_cancelled() {
            return Ok(());
        }
        self.shutdown.cancel();
        let inner = self.inner.clone();
        guard_async(wind_down(inner)).await
    }

    /// Starts networking: binds QUIC, contacts bootstrap and remembered peers and syncs every
    /// document. Edits made offline go out now. Returns this node's id and addresses.
    ///
    /// Errors:
    /// - `InvalidArgument`: malformed `bind_ip`, bootstrap peer or relay URL.
    /// - `Network`: already running, or binding / starting failed.
    /// - `Closed`.
    ///
    /// Cancel safety: Cancelling while starting aborts the start; the network may then need a
    /// `Node.stopNetwork` before it can be started again.
    pub async fn start_network(
        &self,
        options: NetworkOptions,
    ) -> Result<NetworkInfo, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let config = fieldsync::NetworkConfig::try_from(options)?;
            Ok(node?.start_network(config).await?.into())
        })
        .await
    }

    /// Stops networking. The node keeps working offline; edits wait in the outbox and go out
    /// after the next `Node.startNetwork`.
    ///
    /// Errors: `Network` if the network is not running; `Closed`.
    pub async fn stop_network(&self) -> Result<(), FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move { Ok(node?.stop_network().await?) }).await
    }

    /// Tells the node that the device's network changed: call it from the platform's
    /// connectivity callback (Android `ConnectivityManager.NetworkCallback`, iOS
    /// `NWPathMonitor`; the packages' `NetworkChangeMonitor` helpers do it), e.g. on a switch
    /// from Wi-Fi to mobile data or after sleep. The QUIC socket is rebound and every known
    /// peer is dialled again at once, instead of waiting for dead paths to time out. With
    /// `options`, the network restarts with them (another port, say); without, with the
    /// options it was started with. Returns the new addresses, or `null`/`nil` when the
    /// network is not running (then there is nothing to do).
    ///
    /// Errors: `InvalidArgument` (malformed options), `Network` (rebinding failed: the network is
    /// stopped; start it again), `Closed`.
    #[uniffi::method(default(options = None))]
    pub async fn network_changed(
        &self,
        options: Option<NetworkOptions>,
    ) -> Result<Option<NetworkInfo>, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let config = options
                .map(fieldsync::NetworkConfig::try_from)
                .transpose()?;
            Ok(node?.network_changed(config).await?.map(NetworkInfo::from))
        })
        .await
    }

    /// Whether the network is running.
    ///
    /// Errors: `Closed`.
    pub async fn is_online(&self) -> Result<bool, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move { Ok(node?.is_online().await) }).await
    }

    /// The running network's node id and addresses.
    ///
    /// Errors: `Network` if the network is not running; `Closed`.
    pub async fn network_info(&self) -> Result<NetworkInfo, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move { Ok(node?.network_info().await?.into()) }).await
    }

    /// Joins a document from an invite string (from `Document.invite()` on another device, e.g.
    /// scanned from a QR code): registers the document, remembers the inviting peer and, while
    /// the network runs, connects and catches up in the background. Returns the (possibly still
    /// empty) document; watch `DocumentChanged` events for its content.
    ///
    /// Errors:
    /// - `InvalidInvite`: not an invite, malformed, or issued by this node.
    /// - `NotFound`: the document was deleted on this node.
    /// - `Storage`, `Closed`.
    pub async fn join(&self, invite: String) -> Result<Arc<Document>, FieldSyncError> {
        let node = self.live_owned();
        let shutdown = self.shutdown.clone();
        guard_async(async move {
            let node = node?;
            let doc = node.join(&invite).await?;
            Ok(Arc::new(Document::new(doc, node, shutdown)))
        })
        .await
    }

    /// Adds a peer to contact (remembered across restarts).
    ///
    /// Errors: `InvalidArgument` (malformed node id or address), `Storage`, `Closed`.
    pub async fn add_peer(&self, peer: PeerAddress) -> Result<(), FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let peer = fieldsync::PeerAddr::try_from(peer)?;
            Ok(node?.add_peer(peer).await?)
        })
        .await
    }

    /// Fetches the attachment `reference` names (read from `document`) from the document's
    /// peers until it is complete: each chunk is checked against the attachment's manifest
    /// (a peer sending a wrong one is dropped and the next asked), progress arrives as
    /// `FieldSyncEvent.AttachmentProgress`, and a fetch cut short (network lost, app closed,
    /// the call cancelled) resumes where it stopped. Returns what happened; read the content
    /// with `readAttachment` once `complete`.
    ///
    /// Errors: `InvalidArgument` (bad id or reference), `Network` (not started), `Storage`,
    /// `Closed`.
    pub async fn fetch_attachment(
        &self,
        document: String,
        reference: String,
    ) -> Result<AttachmentFetch, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let id: fieldsync::DocumentId = document
                .parse()
                .map_err(|e: fieldsync::IdError| FieldSyncError::invalid(e.to_string()))?;
            let report = node?.fetch_attachment(id, &reference).await?;
            Ok(AttachmentFetch::from(report))
        })
        .await
    }

    /// True once `Node.shutdown` was called.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
