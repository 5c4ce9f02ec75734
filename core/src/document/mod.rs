//! Documents: Loro CRDT documents addressed by [`DocumentId`], with typed handles.

pub mod handles;
pub mod value;
pub mod version;

use std::sync::Arc;

use loro::LoroDoc;

use crate::error::DocumentError;
use crate::ids::DocumentId;
use crate::node::NodeInner;

pub use handles::{ListHandle, MapHandle, TextHandle};
pub use value::Value;
pub use version::{VersionOrdering, VersionVector};

/// A handle on one document of a [`crate::Node`]. Cheap to clone.
#[derive(Clone)]
pub struct Document {
    pub(crate) node: Arc<NodeInner>,
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
        self.node.version_vector(self.id)
    }

    /// Number of operations held for this document (all authors, all logs).
    pub fn op_count(&self) -> Result<u64, DocumentError> {
        self.node.op_count(self.id)
    }

    /// Local operations of this document that no peer has acknowledged yet.
    pub fn pending_ops(&self) -> Result<u64, DocumentError> {
        self.node.pending_count(self.id)
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
        self.node.edit(self.id, f)
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&LoroDoc) -> Result<T, DocumentError>,
    ) -> Result<T, DocumentError> {
        self.node.read(self.id, f)
    }

    pub(crate) fn check_size(&self, len: usize) -> Result<(), DocumentError> {
        self.node.check_input_size(len)
    }
}

/// Canonical JSON of a Loro document (see [`Document::to_json`]).
pub(crate) fn canonical_json(d: &LoroDoc) -> Result<String, DocumentError> {
    let engine = |e: serde_json::Error| DocumentError::Engine(e.to_string());
    let mut value = serde_json::to_value(d.get_deep_value()).map_err(engine)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.retain(|_, v| match v {
            serde_json::Value::String(s) => !s.is_empty(),
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
            _ => true,
        });
    }
    serde_json::to_string(&value).map_err(engine)
}
