//! [`Document`]: the app's handle on one document, with typed container handles.

use std::sync::Arc;

use loro::LoroDoc;

use crate::base::ids::DocumentId;
use crate::base::version::VersionVector;
use crate::document::json::canonical_json;
use crate::document::DocumentError;
use crate::net::NetSlot;
use loro::{ContainerID, ContainerType, ExportMode, ValueOrContainer};

use crate::base::ids::AuthorId;
use crate::document::history::{self, HistoryEntry, Version};
use crate::document::path::{self, PathSegment};
use crate::document::tree::{self, Slot};
use crate::document::Change;
use crate::node::handles::{self, parse_json, Handle};
use crate::node::{ChangeStream, CounterHandle, ListHandle, MapHandle, TextHandle};
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

    /// The root text container called `name` (positions in the node's text unit).
    pub fn text(&self, name: &str) -> Result<TextHandle, DocumentError> {
        handles::check_name("text", name)?;
        Ok(TextHandle {
            doc: self.clone(),
            id: ContainerID::new_root(name, ContainerType::Text),
            unit: self.unit(),
        })
    }

    /// The root map container called `name`.
    pub fn map(&self, name: &str) -> Result<MapHandle, DocumentError> {
        handles::check_name("map", name)?;
        Ok(MapHandle {
            doc: self.clone(),
            id: ContainerID::new_root(name, ContainerType::Map),
        })
    }

    /// The root list container called `name`.
    pub fn list(&self, name: &str) -> Result<ListHandle, DocumentError> {
        handles::check_name("list", name)?;
        Ok(ListHandle {
            doc: self.clone(),
            id: ContainerID::new_root(name, ContainerType::List),
        })
    }

    /// The root counter called `name`.
    pub fn counter(&self, name: &str) -> Result<CounterHandle, DocumentError> {
        handles::check_name("counter", name)?;
        Ok(CounterHandle {
            doc: self.clone(),
            id: ContainerID::new_root(name, ContainerType::Counter),
        })
    }

    /// The container at `path` now (root name, then keys and indices), if one is there.
    /// The handle keeps pointing at that container when indices before it shift.
    pub fn at(&self, path: &[PathSegment]) -> Result<Option<Handle>, DocumentError> {
        path::check(path)?;
        self.read(|d| match path::get(d, path) {
            Some(ValueOrContainer::Container(c)) => Ok(self.handle(&c)),
            _ => Ok(None),
        })
    }

    /// The value or container at `path` as JSON, if anything is there.
    pub fn get_json(&self, path: &[PathSegment]) -> Result<Option<String>, DocumentError> {
        path::check(path)?;
        self.read(|d| path::get(d, path).map(tree::json_text).transpose())
    }

    /// Writes a JSON value at `path` as nested containers, in one operation: under a map
    /// key it replaces the entry; at a list index it replaces the item (or appends, at the
    /// list's length). At a root name, an object fills the root map and an array the root
    /// list (their content is replaced). Strings are stored as plain strings.
    pub fn set_json(&self, path: &[PathSegment], json: &str) -> Result<(), DocumentError> {
        path::check(path)?;
        let value = parse_json(self, json)?;
        self.edit(|d| {
            let (last, parent) = path.split_last().expect("checked: not empty");
            if parent.is_empty() {
                let PathSegment::Key(name) = last else {
                    unreachable!("checked: starts with a name")
                };
                return set_root(d, name, &value);
            }
            let not_found =
                || DocumentError::InvalidArgument("the path's parent is not a map or list".into());
            let Some(ValueOrContainer::Container(c)) = path::get(d, parent) else {
                return Err(not_found());
            };
            match (c, last) {
                (loro::Container::Map(m), PathSegment::Key(k)) => {
                    handles::alive(&m)?;
                    handles::check_name("key", k)?;
                    tree::write(Slot::Key(&m, k), &value)
                }
                (loro::Container::List(l), PathSegment::Index(i)) => {
                    handles::alive(&l)?;
                    handles::bounds(*i, l.len())?;
                    if *i < l.len() {
                        l.delete(*i, 1).map_err(handles::engine)?;
                    }
                    tree::write(Slot::Insert(&l, *i), &value)
                }
                _ => Err(not_found()),
            }
        })
    }

    /// Observes the whole document: the first item is its JSON now, then the changes of
    /// every local edit and every import of another device's operations.
    pub fn observe(&self) -> Result<ChangeStream, DocumentError> {
        self.observe_at(None)
    }

    /// Observes the container at `path` (and everything below it): the first item is its
    /// JSON now, then only the changes under it. The observer follows the container, not
    /// the path, when indices before it shift.
    pub fn observe_path(&self, path: &[PathSegment]) -> Result<ChangeStream, DocumentError> {
        self.observe_at(Some(path))
    }

    fn observe_at(&self, path: Option<&[PathSegment]>) -> Result<ChangeStream, DocumentError> {
        let (queue, json) = self.replica.observe(self.id, path, self.unit())?;
        Ok(ChangeStream {
            doc: self.clone(),
            queue,
            first: Some(json),
        })
    }

    /// Undoes this device's last edit still on the undo stack, as a new edit; remote edits
    /// made since stay. Returns false if there was nothing to undo. The stack holds
    /// `NodeConfig::undo_steps` edits made since the document was loaded in this process.
    pub fn undo(&self) -> Result<bool, DocumentError> {
        self.replica.undo(self.id, false)
    }

    /// Redoes the last undone edit. Returns false if there was nothing to redo.
    pub fn redo(&self) -> Result<bool, DocumentError> {
        self.replica.undo(self.id, true)
    }

    /// True if [`Document::undo`] has something to undo.
    pub fn can_undo(&self) -> Result<bool, DocumentError> {
        Ok(self.replica.undo_state(self.id)?.0)
    }

    /// True if [`Document::redo`] has something to redo.
    pub fn can_redo(&self) -> Result<bool, DocumentError> {
        Ok(self.replica.undo_state(self.id)?.1)
    }

    /// The latest `limit` versions of the document, newest first: one per change, with
    /// its author (when the author is among the document's writers this replica knows)
    /// and the time its device recorded.
    pub fn history(&self, limit: usize) -> Result<Vec<HistoryVersion>, DocumentError> {
        let authors: Vec<AuthorId> = self
            .version()?
            .iter()
            .map(|(a, _)| *a)
            .chain([self.replica.author()])
            .collect();
        let entries = self.read(|d| history::entries(d, limit))?;
        Ok(entries
            .into_iter()
            .map(|entry| HistoryVersion {
                author: authors
                    .iter()
                    .find(|a| a.loro_peer_id() == entry.peer)
                    .copied(),
                entry,
            })
            .collect())
    }

    /// The version the document is at now.
    pub fn current_version(&self) -> Result<Version, DocumentError> {
        self.read(|d| Ok(Version(d.oplog_frontiers().encode())))
    }

    /// The document's canonical JSON at `version` (a read-only view).
    pub fn json_at(&self, version: &Version) -> Result<String, DocumentError> {
        self.read(|d| canonical_json(&history::at(d, version)?))
    }

    /// The changes from version `from` to version `to`, text counted in the node's unit.
    pub fn diff(&self, from: &Version, to: &Version) -> Result<Vec<Change>, DocumentError> {
        let unit = self.unit();
        self.read(|d| history::diff(d, from, to, unit))
    }

    /// The document as a Loro snapshot: for a backup, for debugging, or to open in a plain
    /// Loro program. [`crate::Node::import_snapshot`] makes a new document of it.
    pub fn export_snapshot(&self) -> Result<Vec<u8>, DocumentError> {
        self.read(|d| {
            d.export(ExportMode::Snapshot)
                .map_err(|e| DocumentError::Engine(e.to_string()))
        })
    }

    /// The whole document as canonical JSON, identical on converged replicas: object keys
    /// sorted, and root containers that are empty (or counters at 0) left out (Loro lists a root container once
    /// it has been touched, even by a read, so emptiness is the only replica-independent view).
    pub fn to_json(&self) -> Result<String, DocumentError> {
        self.read(canonical_json)
    }

    /// Version vector: for each author, the highest sequence number held.
    pub fn version(&self) -> Result<VersionVector, DocumentError> {
        self.replica.version_vector(self.id)
    }

    /// Number of operations in this document's history (update operations of all
    /// authors), counting those a snapshot covers that this node does not hold.
    pub fn op_count(&self) -> Result<u64, DocumentError> {
        self.replica.op_count(self.id)
    }

    /// Local operations of this document that no peer has acknowledged yet.
    pub fn pending_ops(&self) -> Result<u64, DocumentError> {
        self.replica.pending_count(self.id)
    }

    /// Adds `bytes` as an attachment of this document (a photo, an audio note, a PDF):
    /// end-to-end encrypted with a key of its own, stored as a file beside the database.
    /// Returns its reference, a string to put in any map or list of the document; members
    /// who read the reference can read the attachment with [`crate::Node::read_attachment`].
    ///
    /// # Errors
    /// `NotAllowed` unless this device is a writer; `InvalidArgument` above
    /// `NodeConfig::max_attachment_bytes` (default 100 MB).
    pub fn add_attachment(&self, bytes: &[u8], media_type: &str) -> Result<String, DocumentError> {
        self.add_attachment_from(bytes, bytes.len() as u64, media_type)
    }

    /// [`Document::add_attachment`] reading `size` bytes from `input` (a file, say), a chunk
    /// at a time: memory does not grow with the attachment.
    pub fn add_attachment_from(
        &self,
        input: impl std::io::Read,
        size: u64,
        media_type: &str,
    ) -> Result<String, DocumentError> {
        Ok(self
            .replica
            .add_attachment(self.id, size, input, media_type)?
            .encode())
    }

    /// Publishes a snapshot operation of this document now: its state, signed and
    /// encrypted like an edit. Devices that join later, or are far behind, fetch it and the
    /// operations after it instead of the whole history (see also
    /// `NodeConfig::publish_snapshot_every`). Returns the snapshot's seq in this device's
    /// snapshot log, or `None` when there is nothing to cover yet or an operation still
    /// waits for its key.
    ///
    /// # Errors
    /// `NotAllowed` unless this device is a writer; `InvalidArgument` when the state is
    /// larger than `NodeConfig::max_body_bytes`.
    pub fn publish_snapshot(&self) -> Result<Option<u32>, DocumentError> {
        self.replica.publish_snapshot(self.id)
    }

    /// Deletes this document's operations that the latest snapshot covers, as far as
    /// `retention` allows, in one transaction (a crash leaves all of them or none).
    /// Returns how many were deleted. The state, sync with any peer and the operations
    /// after the snapshot are unaffected; history views before the snapshot lose the
    /// pruned versions. [`crate::Node::reclaim_space`] gives the freed pages back to the
    /// file system.
    pub fn compact(&self, retention: crate::Retention) -> Result<u64, DocumentError> {
        Ok(self.replica.compact(self.id, retention)?.pruned)
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

/// One version of a document's history ([`Document::history`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryVersion {
    /// The version, its Loro peer, time and size.
    pub entry: HistoryEntry,
    /// Its author, if the peer is one of the document's authors this replica knows.
    pub author: Option<AuthorId>,
}

/// Fills root container `name` with `value`: an object into the root map, an array into
/// the root list, replacing their content.
fn set_root(d: &LoroDoc, name: &str, value: &serde_json::Value) -> Result<(), DocumentError> {
    handles::check_name("root", name)?;
    match value {
        serde_json::Value::Object(fields) => {
            let m = d.get_map(name);
            m.clear().map_err(handles::engine)?;
            for (k, v) in fields {
                handles::check_name("key", k)?;
                tree::write(Slot::Key(&m, k), v)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => {
            let l = d.get_list(name);
            l.clear().map_err(handles::engine)?;
            for (i, v) in items.iter().enumerate() {
                tree::write(Slot::Insert(&l, i), v)?;
            }
            Ok(())
        }
        _ => Err(DocumentError::InvalidArgument(
            "a root container holds an object (map) or an array (list)".into(),
        )),
    }
}
