//! [`Document`]: the app's handle on one document, with typed container handles.

use std::sync::Arc;

use loro::LoroDoc;

use crate::base::ids::DocumentId;
use crate::base::version::VersionVector;
use crate::document::json::canonical_json;
use crate::document::DocumentError;
use crate::net::NetSlot;
use crate::node::handles::{self, ListHandle, MapHandle, TextHandle};
use crate::replica::Replica;

/// A handle on one document of a [`crate::Node`]. Cheap to clone.
#[derive(Clone)]
pub struct Document {
    pub(crate) replica: Arc<Replica>,
    /// The node's network slot: the network runs while any handle of the node lives.
    pub(crate) net: Arc<NetSlot>,
    pub(crate) id: DocumentId,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Document({})", self.id)
    }
}

impl Document {
    /// The document id (share it to let others join).
    pub fn id(&self) -> DocumentId {
        self.id
    }

    /// The root text container called `name`.
    pub fn text(&self, name: &str) -> Result<TextHandle, DocumentError> {
        handles::check_name("text", name)?;
        Ok(TextHandle {
            doc: self.clone(),
            name: name.to_string(),
        })
    }

    /// The root map container called `name`.
    pub fn map(&self, name: &str) -> Result<MapHandle, DocumentError> {
        handles::check_name("map", name)?;
        Ok(MapHandle {
            doc: self.clone(),
            name: name.to_string(),
        })
    }

    /// The root list container called `name`.
    pub fn list(&self, name: &str) -> Result<ListHandle, DocumentError> {
        handles::check_name("list", name)?;
        Ok(ListHandle {
            doc: self.clone(),
            name: name.to_string(),
        })
    }

    /// The whole document as canonical JSON, identical on converged replicas: object keys
    /// sorted, and root containers that are empty left out (Loro lists a root container once
    /// it has been touched, even by a read, so emptiness is the only replica-independent view).
    pub fn to_json(&self) -> Result<String, DocumentError> {
        self.read(canonical_json)
    }

    /// Version vector: for each author, the highest sequence number held.
    pub fn version(&self) -> Result<VersionVector, DocumentError> {
        self.replica.version_vector(self.id)
    }

    /// Number of operations held for this document (all authors, all logs).
    pub fn op_count(&self) -> Result<u64, DocumentError> {
        self.replica.op_count(self.id)
    }

    /// Local operations of this document that no peer has acknowledged yet.
    pub fn pending_ops(&self) -> Result<u64, DocumentError> {
        self.replica.pending_count(self.id)
    }

    /// Applies several edits as one commit, hence one operation. The closure receives the
    /// underlying Loro document; everything it changes is signed and stored together.
    pub fn batch<T>(
        &self,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        self.edit(f)
    }

    pub(crate) fn edit<T>(
        &self,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        self.replica.edit(self.id, f)
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        self.replica.read(self.id, f)
    }

    pub(crate) fn check_size(&self, len: usize) -> Result<(), DocumentError> {
        self.replica.check_input_size(len)
    }
}
