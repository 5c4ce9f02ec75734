//! Sync without the QUIC network: offline bundles (a file, or QR-sized chunks) and links the
//! app supplies (`SyncLink`, implemented in Kotlin or Swift over BLE, Wi-Fi Aware,
//! Multipeer...).

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use crate::document::Document;
use crate::error::FieldSyncError;
use crate::guard::guard_async;
use crate::node::Node;
use crate::validate;

/// A bundle written by `Node.exportBundle`: one file of a document's operations, signed by
/// this device, the content still encrypted to the document's members.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SyncBundle {
    /// The file's bytes: save it, share it, or split it with `bundleChunks`.
    pub bytes: Vec<u8>,
    /// Operations it holds.
    pub operations: u64,
}

/// What `Node.importBundle` did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct BundleImport {
    /// The device that exported the bundle (node id, 64 hex characters).
    pub exporter: String,
    /// The document (64 hex characters).
    pub document: String,
    /// Operations the bundle held, each checked like one received over the network.
    pub operations: u64,
}

/// Which side of a link this device is: one device initiates, the other responds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum LinkRole {
    /// Names its documents first.
    Initiator,
    /// Answers first, then names its documents.
    Responder,
}

/// What `Node.syncOverLink` did.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct LinkReport {
    /// The peer, authenticated by its node key (64 hex characters).
    pub peer: String,
    /// Documents synced.
    pub documents: u32,
    /// Documents one side refused (no role in them, or not held).
    pub refused: u32,
    /// Operations sent.
    pub sent_ops: u64,
    /// Operations received, each checked before it was applied.
    pub received_ops: u64,
}

/// A reliable, ordered connection to one other device that the app provides: a BLE L2CAP
/// channel, a Wi-Fi Aware or Multipeer stream, a pipe in a test. FieldSync authenticates
/// the peer and encrypts everything itself, so the link may be open to anyone.
///
/// `send` gets at most `mtu()` bytes per call; `receive` may return bytes cut or joined
/// anywhere (a byte stream) or exactly as sent (messages), as long as nothing is lost,
/// duplicated or reordered. Return `null`/`nil` from `receive` once the link closed. Keep
/// the link open until `syncOverLink` returned on both devices.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait SyncLink: Send + Sync {
    /// Sends `bytes` (at most `mtu()` of them) to the peer.
    async fn send(&self, bytes: Vec<u8>) -> Result<(), FieldSyncError>;
    /// The next bytes from the peer, or `null`/`nil` once the link closed.
    async fn receive(&self) -> Result<Option<Vec<u8>>, FieldSyncError>;
    /// Most bytes one `send` carries; at least 128.
    fn mtu(&self) -> u32;
}

/// Adapts the app's link to the core's.
struct LinkAdapter(Arc<dyn SyncLink>);

impl fieldsync::Link for LinkAdapter {
    fn send(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), fieldsync::LinkError>> {
        Box::pin(async move {
            self.0
                .send(bytes)
                .await
                .map_err(|e| fieldsync::LinkError::Io(e.to_string()))
        })
    }

    fn receive(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, fieldsync::LinkError>> {
        Box::pin(async move {
            self.0
                .receive()
                .await
                .map_err(|e| fieldsync::LinkError::Io(e.to_string()))
        })
    }

    fn mtu(&self) -> usize {
        let link = &self.0;
        crate::guard::guard(|| Ok(link.mtu())).map_or(0, |m| m as usize)
    }
}

/// Splits a bundle into chunks of at most `chunkBytes` bytes each (e.g. 2,048: one QR code
/// in binary mode), readable in any order and more than once by `BundleChunks`.
///
/// Errors: `InvalidArgument` (a chunk size under 56 bytes, or more than 65,535 chunks).
#[uniffi::export]
pub fn bundle_chunks(bundle: Vec<u8>, chunk_bytes: u32) -> Result<Vec<Vec<u8>>, FieldSyncError> {
    let bundle = fieldsync::Bundle {
        bytes: bundle,
        operations: 0,
    };
    Ok(bundle.chunks(chunk_bytes as usize)?)
}

/// Chunks of one bundle as they are read (from QR codes, say): in any order, duplicates
/// ignored. `add` returns the whole bundle once the last missing chunk arrived.
#[derive(uniffi::Object)]
pub struct BundleChunks {
    inner: Mutex<fieldsync::BundleChunks>,
}

#[uniffi::export]
impl BundleChunks {
    /// An empty set.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(BundleChunks {
            inner: Mutex::new(fieldsync::BundleChunks::new()),
        })
    }

    /// Adds one chunk; returns the bundle once every chunk arrived (pass it to
    /// `Node.importBundle`), else `null`/`nil`. A chunk of another bundle, or one that
    /// contradicts the chunks read before, is refused and changes nothing.
    ///
    /// Errors: `InvalidArgument`.
    pub fn add(&self, chunk: Vec<u8>) -> Result<Option<Vec<u8>>, FieldSyncError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(inner.add(&chunk)?)
    }

    /// Chunks read so far (duplicates counted once).
    pub fn received(&self) -> u32 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .progress()
            .0 as u32
    }

    /// Chunks the bundle has (0 before the first chunk).
    pub fn total(&self) -> u32 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .progress()
            .1 as u32
    }
}

#[uniffi::export]
impl Node {
    /// What this device holds of `document`, for another device's `exportBundle` to write
    /// only what is missing here. A few dozen bytes per author.
    ///
    /// Errors: `InvalidArgument` (bad id), `NotFound`, `Storage`, `Closed`.
    pub async fn bundle_request(&self, document: String) -> Result<Vec<u8>, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let id = validate::document_id(&document)?;
            Ok(node?.bundle_request(id).await?)
        })
        .await
    }

    /// Writes a bundle of `document`: what the device whose `bundleRequest` is `request`
    /// lacks, or everything this device holds (`null`/`nil`). Signed by this device; the
    /// content stays encrypted to the document's members, so a relay device can carry it
    /// without reading it.
    ///
    /// Errors: `InvalidArgument` (bad id, or a request for another document), `NotFound`,
    /// `Storage`, `Closed`.
    pub async fn export_bundle(
        &self,
        document: String,
        request: Option<Vec<u8>>,
    ) -> Result<SyncBundle, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let id = validate::document_id(&document)?;
            let bundle = node?.export_bundle(id, request.as_deref()).await?;
            Ok(SyncBundle {
                bytes: bundle.bytes,
                operations: bundle.operations,
            })
        })
        .await
    }

    /// Imports a bundle from any device. A bundle changed by even one byte is refused whole
    /// (`InvalidArgument`) and nothing of it is applied; otherwise every operation is
    /// checked like one received over the network (refusals arrive as
    /// `OperationsRejected` events). Returns once everything was stored or refused.
    ///
    /// Errors: `InvalidArgument`, `Storage`, `Closed`.
    pub async fn import_bundle(&self, bundle: Vec<u8>) -> Result<BundleImport, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let imported = node?.import_bundle(&bundle).await?;
            Ok(BundleImport {
                exporter: imported.exporter.to_string(),
                document: imported.document.to_string(),
                operations: imported.operations,
            })
        })
        .await
    }

    /// Syncs every document both devices may sync over `link`; one device calls it with
    /// `Initiator`, the other with `Responder`. Returns when both sides sent what the other
    /// lacked and everything received was stored. A link that breaks ends it with
    /// `Network` and keeps what arrived: the next sync sends only the rest. Needs no QUIC
    /// network.
    ///
    /// Errors: `Network` (the link failed or the peer did not authenticate),
    /// `InvalidArgument` (an MTU under 128), `Storage`, `Closed`.
    pub async fn sync_over_link(
        &self,
        link: Arc<dyn SyncLink>,
        role: LinkRole,
    ) -> Result<LinkReport, FieldSyncError> {
        let node = self.live_owned();
        guard_async(async move {
            let role = match role {
                LinkRole::Initiator => fieldsync::LinkRole::Initiator,
                LinkRole::Responder => fieldsync::LinkRole::Responder,
            };
            let report = node?
                .sync_over_link(Arc::new(LinkAdapter(link)), role)
                .await?;
            Ok(LinkReport {
                peer: report.peer.to_string(),
                documents: report.documents,
                refused: report.refused,
                sent_ops: report.sent_ops,
                received_ops: report.received_ops,
            })
        })
        .await
    }

    /// Opens `document` by id, registering it if this device has never held it: as joining
    /// does, for a document this device will receive over a link or in a bundle from a
    /// device that added it as a member.
    ///
    /// Errors: `InvalidArgument` (bad id), `Storage`, `Closed`.
    pub async fn register_document(
        self: Arc<Self>,
        document: String,
    ) -> Result<Arc<Document>, FieldSyncError> {
        crate::guard::off_thread(self.shutdown.clone(), move || {
            let id = validate::document_id(&document)?;
            Ok(self.wrap(self.live()?.document_or_register(id)?))
        })
        .await
    }
}
