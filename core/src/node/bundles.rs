//! Offline bundles on the [`Node`] API: sync by file, USB stick or QR codes.

use crate::base::ids::DocumentId;
use crate::net::bundle;
use crate::net::NetCommand;
use crate::node::{Node, Result};
use crate::wire::bundle::{chunks, BundleError};

pub use crate::net::bundle::BundleImport;

/// A bundle written by [`Node::export_bundle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The signed file.
    pub bytes: Vec<u8>,
    /// Operations it holds.
    pub operations: u64,
}

impl Bundle {
    /// The bundle as chunks of at most `chunk_bytes` bytes each (e.g. 2,048 for a QR code
    /// in binary mode), readable in any order and more than once by a
    /// [`crate::BundleChunks`].
    pub fn chunks(&self, chunk_bytes: usize) -> Result<Vec<Vec<u8>>, BundleError> {
        chunks(&self.bytes, chunk_bytes)
    }
}

impl Node {
    /// What this device holds of `document`, for another device to export a bundle of only
    /// what is missing here ([`Node::export_bundle`]). A few dozen bytes per author.
    pub async fn bundle_request(&self, document: DocumentId) -> Result<Vec<u8>> {
        self.replica.ensure_exists(document)?;
        Ok(bundle::request(&self.replica, &self.net, document).await?)
    }

    /// Writes a bundle of `document`: what a device whose [`Node::bundle_request`] is
    /// `request` lacks, or everything this device holds (`None`; a snapshot stands in for
    /// the operations it covers). Signed by this device; the operations' content stays
    /// encrypted to the document's members, so a carrier (a device with the relay role)
    /// can import and pass it on without reading it.
    pub async fn export_bundle(
        &self,
        document: DocumentId,
        request: Option<&[u8]>,
    ) -> Result<Bundle> {
        self.replica.ensure_exists(document)?;
        self.replica.flush()?;
        let (bytes, operations) =
            bundle::export(&self.replica, &self.net, document, request).await?;
        Ok(Bundle { bytes, operations })
    }

    /// Imports a bundle from any device: the signature is checked first (a changed byte
    /// refuses the whole file with [`BundleError::BadSignature`] and nothing is applied),
    /// then each operation exactly like one received over the network (refusals are
    /// reported as [`crate::Event::OperationsRejected`]). Returns once every operation was
    /// stored or refused. A document not held yet is added when the bundle proves it (its
    /// genesis).
    pub async fn import_bundle(&self, bytes: &[u8]) -> Result<BundleImport> {
        let known = self.replica.documents()?;
        let imported = bundle::import(&self.replica, &self.net, bytes).await?;
        if !known.contains(&imported.document) && self.replica.serves(imported.document) {
            self.net.send(NetCommand::Subscribe(imported.document));
        }
        Ok(imported)
    }
}
