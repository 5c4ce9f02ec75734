//! The data model through the FFI: nested containers, JSON at a path, text units, a
//! counter, observers, undo, history and snapshots (issue #25). The methods extend the
//! objects of `document.rs`; the types here carry paths, changes and versions.

use std::sync::Arc;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::document::{guard_open, Document, ListHandle, MapHandle, TextHandle};
use crate::error::FieldSyncError;
use crate::events::ChangeOrigin;
use crate::guard::off_thread;
use crate::node::Node;
use crate::validate;

/// The unit text positions and lengths count in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum TextUnit {
    /// UTF-16 code units: Kotlin/Java `String` indices, Swift `String.utf16` offsets. The
    /// default of every text handle of the mobile packages.
    Utf16,
    /// Unicode scalar values (Swift `String.unicodeScalars`, Kotlin code points).
    Unicode,
    /// UTF-8 bytes.
    Utf8,
}

impl From<TextUnit> for fieldsync::TextUnit {
    fn from(u: TextUnit) -> Self {
        match u {
            TextUnit::Utf16 => fieldsync::TextUnit::Utf16,
            TextUnit::Unicode => fieldsync::TextUnit::Unicode,
            TextUnit::Utf8 => fieldsync::TextUnit::Utf8,
        }
    }
}

impl From<fieldsync::TextUnit> for TextUnit {
    fn from(u: fieldsync::TextUnit) -> Self {
        match u {
            fieldsync::TextUnit::Utf16 => TextUnit::Utf16,
            fieldsync::TextUnit::Unicode => TextUnit::Unicode,
            fieldsync::TextUnit::Utf8 => TextUnit::Utf8,
        }
    }
}

/// One step of a path: a map key or a list index. A path starts with a root container's
/// name (`Key`).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum PathSegment {
    /// A map key (or, first, a root container's name).
    Key {
        /// The key.
        key: String,
    },
    /// A list position.
    Index {
        /// The position.
        index: u32,
    },
}

fn to_core_path(path: &[PathSegment]) -> Vec<fieldsync::PathSegment> {
    path.iter()
        .map(|s| match s {
            PathSegment::Key { key } => fieldsync::PathSegment::Key(key.clone()),
            PathSegment::Index { index } => fieldsync::PathSegment::Index(*index as usize),
        })
        .collect()
}

fn from_core_path(path: &[fieldsync::PathSegment]) -> Vec<PathSegment> {
    path.iter()
        .map(|s| match s {
            fieldsync::PathSegment::Key(key) => PathSegment::Key { key: key.clone() },
            fieldsync::PathSegment::Index(i) => PathSegment::Index {
                index: u32::try_from(*i).unwrap_or(u32::MAX),
            },
        })
        .collect()
}

fn u32_of(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// What changed in one container. JSON values are JSON text.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum ChangeDiff {
    /// A map key was set to `value` (JSON), or deleted (`value` null/nil).
    MapSet {
        /// The key.
        key: String,
        /// The new value as JSON; null/nil once deleted.
        value: Option<String>,
    },
    /// Items inserted into a list at `index`.
    ListInsert {
        /// Where the first item now is.
        index: u32,
        /// Each item as JSON.
        values: Vec<String>,
    },
    /// Items deleted from a list.
    ListDelete {
        /// The first deleted position.
        index: u32,
        /// How many.
        count: u32,
    },
    /// Text inserted (position in UTF-16 code units).
    TextInsert {
        /// The position.
        index: u32,
        /// The inserted text.
        text: String,
    },
    /// Text deleted (position and length in UTF-16 code units).
    TextDelete {
        /// The position.
        index: u32,
        /// The length.
        count: u32,
    },
    /// A counter changed by `delta`.
    Counter {
        /// The amount added.
        delta: f64,
    },
}

/// One change at one place of a document.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct Change {
    /// The changed container's path from the root.
    pub path: Vec<PathSegment>,
    /// What changed there.
    pub diff: ChangeDiff,
}

impl From<fieldsync::Change> for Change {
    fn from(c: fieldsync::Change) -> Self {
        let diff = match c.diff {
            fieldsync::ChangeDiff::MapSet { key, value } => ChangeDiff::MapSet { key, value },
            fieldsync::ChangeDiff::ListInsert { index, values } => ChangeDiff::ListInsert {
                index: u32_of(index),
                values,
            },
            fieldsync::ChangeDiff::ListDelete { index, count } => ChangeDiff::ListDelete {
                index: u32_of(index),
                count: u32_of(count),
            },
            fieldsync::ChangeDiff::TextInsert { index, text } => ChangeDiff::TextInsert {
                index: u32_of(index),
                text,
            },
            fieldsync::ChangeDiff::TextDelete { index, count } => ChangeDiff::TextDelete {
                index: u32_of(index),
                count: u32_of(count),
            },
            fieldsync::ChangeDiff::Counter { delta } => ChangeDiff::Counter { delta },
        };
        Change {
            path: from_core_path(&c.path),
            diff,
        }
    }
}

/// What an observer receives (`Document.observe`, `Document.observePath`).
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum ChangeItem {
    /// The observed value now, as JSON: always the first item, so a UI can bind directly.
    Current {
        /// The document's or container's JSON.
        json: String,
    },
    /// The changes of one local edit or one import of another device's operations.
    Changes {
        /// Local edit or remote author.
        origin: ChangeOrigin,
        /// The changes under the observed path, in order.
        changes: Vec<Change>,
    },
    /// Changes were dropped (the observer fell 256 batches behind, or the document was
    /// reloaded): this is the value now; later items continue from it.
    Lagged {
        /// The value now, as JSON.
        json: String,
    },
}

impl From<fieldsync::ChangeItem> for ChangeItem {
    fn from(i: fieldsync::ChangeItem) -> Self {
        match i {
            fieldsync::ChangeItem::Current { json } => ChangeItem::Current { json },
            fieldsync::ChangeItem::Lagged { json } => ChangeItem::Lagged { json },
            fieldsync::ChangeItem::Changes(batch) => ChangeItem::Changes {
                origin: match batch.origin {
                    fieldsync::Origin::Local => ChangeOrigin::Local,
                    fieldsync::Origin::Remote(a) => ChangeOrigin::Remote {
                        author: a.to_string(),
                    },
                },
                changes: batch.changes.into_iter().map(Change::from).collect(),
            },
        }
    }
}

/// A pull subscription to changes of a document or of one container in it. `android/`
/// wraps it as `Flow<ChangeItem>` (`document.changes()`), `ios/` as an `AsyncSequence`.
/// At most 256 batches wait; a slower consumer receives one `ChangeItem.Lagged`.
#[derive(uniffi::Object)]
pub struct ChangeSubscription {
    inner: Arc<Mutex<fieldsync::ChangeStream>>,
    cancel: CancellationToken,
}

#[uniffi::export]
impl ChangeSubscription {
    /// Waits for the next item; `null`/`nil` once cancelled or the node shut down (or the
    /// document was deleted). Cancel-safe: an item is only taken when it is returned.
    pub async fn next(&self) -> Option<ChangeItem> {
        let inner = self.inner.clone();
        let cancel = self.cancel.clone();
        let res = crate::guard_async(async move {
            let mut stream = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ok(None),
                s = inner.lock() => s,
            };
            Ok(tokio::select! {
                biased;
                _ = cancel.cancelled() => None,
                item = stream.next() => Some(item.map_err(FieldSyncError::from)?.into()),
            })
        })
        .await;
        match res {
            Ok(item) => item,
            Err(e) => {
                tracing::warn!(target: "fieldsync_ffi", "change subscription ended: {e}");
                self.cancel.cancel();
                None
            }
        }
    }

    /// Ends the subscription; idempotent. Dropping (closing) it does too.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for ChangeSubscription {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A counter: concurrent increments on several devices all add up.
#[derive(uniffi::Object)]
pub struct CounterHandle {
    inner: fieldsync::CounterHandle,
    shutdown: CancellationToken,
}

#[uniffi::export]
impl CounterHandle {
    /// Adds `by` (negative to subtract).
    ///
    /// Errors: `InvalidArgument` (non-finite, or the counter was deleted), `NotFound`, `Storage`,
    /// `Closed`.
    pub async fn increment(self: Arc<Self>, by: f64) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.increment(by)?)
        })
        .await
    }

    /// The current value.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn value(self: Arc<Self>) -> Result<f64, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.value()?)).await
    }
}

/// A handle on a container found at a path (`Document.at`).
#[derive(uniffi::Enum)]
pub enum ContainerHandle {
    /// A map.
    Map {
        /// The handle.
        handle: Arc<MapHandle>,
    },
    /// A list.
    List {
        /// The handle.
        handle: Arc<ListHandle>,
    },
    /// A text.
    Text {
        /// The handle.
        handle: Arc<TextHandle>,
    },
    /// A counter.
    Counter {
        /// The handle.
        handle: Arc<CounterHandle>,
    },
}

fn wrap_map(h: fieldsync::MapHandle, s: &CancellationToken) -> Arc<MapHandle> {
    Arc::new(MapHandle {
        inner: h,
        shutdown: s.clone(),
    })
}
fn wrap_list(h: fieldsync::ListHandle, s: &CancellationToken) -> Arc<ListHandle> {
    Arc::new(ListHandle {
        inner: h,
        shutdown: s.clone(),
    })
}
fn wrap_text(h: fieldsync::TextHandle, s: &CancellationToken) -> Arc<TextHandle> {
    Arc::new(TextHandle {
        inner: h,
        shutdown: s.clone(),
    })
}
fn wrap_counter(h: fieldsync::CounterHandle, s: &CancellationToken) -> Arc<CounterHandle> {
    Arc::new(CounterHandle {
        inner: h,
        shutdown: s.clone(),
    })
}

/// One version of a document's history.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct HistoryVersion {
    /// The version (opaque bytes, valid on every replica holding it): pass it to
    /// `Document.jsonAt` and `Document.diff`.
    pub version: Vec<u8>,
    /// Its author's id, if the author is among the document's authors known here.
    pub author: Option<String>,
    /// Seconds since the Unix epoch when the author's device recorded the change.
    pub timestamp: Option<i64>,
}

fn version(bytes: &[u8]) -> Result<fieldsync::Version, FieldSyncError> {
    Ok(fieldsync::Version::from_bytes(bytes)?)
}

#[uniffi::export]
impl Document {
    /// The root counter called `name`.
    ///
    /// Errors: `InvalidArgument` (bad name), `Closed`.
    pub fn counter(&self, name: String) -> Result<Arc<CounterHandle>, FieldSyncError> {
        guard_open(&self.shutdown, || {
            Ok(wrap_counter(self.inner.counter(&name)?, &self.shutdown))
        })
    }

    /// The container at `path` now (a root name, then keys and indices), or null/nil.
    ///
    /// Errors: `InvalidArgument` (empty path, or not starting with a name), `NotFound`, `Closed`.
    pub async fn at(
        self: Arc<Self>,
        path: Vec<PathSegment>,
    ) -> Result<Option<ContainerHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let s = &self.shutdown;
            Ok(self.inner.at(&to_core_path(&path))?.map(|h| match h {
                fieldsync::Handle::Map(h) => ContainerHandle::Map {
                    handle: wrap_map(h, s),
                },
                fieldsync::Handle::List(h) => ContainerHandle::List {
                    handle: wrap_list(h, s),
                },
                fieldsync::Handle::Text(h) => ContainerHandle::Text {
                    handle: wrap_text(h, s),
                },
                fieldsync::Handle::Counter(h) => ContainerHandle::Counter {
                    handle: wrap_counter(h, s),
                },
            }))
        })
        .await
    }

    /// The value or container at `path` as JSON, or null/nil. Decode records with
    /// kotlinx.serialization or `Codable` from it.
    ///
    /// Errors: `InvalidArgument` (bad path), `NotFound`, `Closed`.
    pub async fn get_json(
        self: Arc<Self>,
        path: Vec<PathSegment>,
    ) -> Result<Option<String>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.get_json(&to_core_path(&path))?)
        })
        .await
    }

    /// Writes JSON at `path` as nested maps and lists, in one operation: under a map key it
    /// replaces the entry, at a list index it replaces the item (appends at the length).
    ///
    /// Errors: `InvalidArgument` (bad path or JSON, parent not a map or list), `NotAllowed`,
    /// `NotFound`, `Storage`, `Closed`.
    pub async fn set_json(
        self: Arc<Self>,
        path: Vec<PathSegment>,
        json: String,
    ) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.set_json(&to_core_path(&path), &json)?)
        })
        .await
    }

    /// Observes the whole document: first its JSON now, then every change.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn observe(self: Arc<Self>) -> Result<Arc<ChangeSubscription>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            self.subscription(self.inner.observe()?)
        })
        .await
    }

    /// Observes the container at `path` and everything below it: first its JSON now, then
    /// only the changes under it (it follows the container when indices before it shift).
    ///
    /// Errors: `InvalidArgument` (no container at `path`), `NotFound`, `Storage`, `Closed`.
    pub async fn observe_path(
        self: Arc<Self>,
        path: Vec<PathSegment>,
    ) -> Result<Arc<ChangeSubscription>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            self.subscription(self.inner.observe_path(&to_core_path(&path))?)
        })
        .await
    }

    /// Undoes this device's last edit (remote edits made since stay); false if none.
    ///
    /// Errors: `NotAllowed`, `NotFound`, `Storage`, `Closed`.
    pub async fn undo(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.undo()?)).await
    }

    /// Redoes the last undone edit; false if none.
    ///
    /// Errors: As `Document.undo`.
    pub async fn redo(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.redo()?)).await
    }

    /// True if `Document.undo` has something to undo.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn can_undo(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.can_undo()?)).await
    }

    /// True if `Document.redo` has something to redo.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn can_redo(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.can_redo()?)).await
    }

    /// The latest `limit` versions, newest first.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn history(
        self: Arc<Self>,
        limit: u32,
    ) -> Result<Vec<HistoryVersion>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .history(limit as usize)?
                .into_iter()
                .map(|h| HistoryVersion {
                    version: h.entry.version.as_bytes().to_vec(),
                    author: h.author.map(|a| a.to_string()),
                    timestamp: h.entry.timestamp,
                })
                .collect())
        })
        .await
    }

    /// The version the document is at now.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn current_version(self: Arc<Self>) -> Result<Vec<u8>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.current_version()?.as_bytes().to_vec())
        })
        .await
    }

    /// The document's JSON at `version` (read-only).
    ///
    /// Errors: `InvalidArgument` (not a version, or one this replica does not hold), `NotFound`,
    /// `Closed`.
    pub async fn json_at(self: Arc<Self>, version: Vec<u8>) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.json_at(&self::version(&version)?)?)
        })
        .await
    }

    /// The changes from version `from` to version `to`.
    ///
    /// Errors: As `Document.jsonAt`.
    pub async fn diff(
        self: Arc<Self>,
        from: Vec<u8>,
        to: Vec<u8>,
    ) -> Result<Vec<Change>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .diff(&version(&from)?, &version(&to)?)?
                .into_iter()
                .map(Change::from)
                .collect())
        })
        .await
    }

    /// The document as a Loro snapshot (a backup, or input for a plain Loro program).
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn export_snapshot(self: Arc<Self>) -> Result<Vec<u8>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.export_snapshot()?)
        })
        .await
    }
}

impl Document {
    fn subscription(
        &self,
        stream: fieldsync::ChangeStream,
    ) -> Result<Arc<ChangeSubscription>, FieldSyncError> {
        let cancel = self.shutdown.child_token();
        Ok(Arc::new(ChangeSubscription {
            inner: Arc::new(Mutex::new(stream)),
            cancel,
        }))
    }
}

#[uniffi::export]
impl Node {
    /// A new document holding a copy of a Loro snapshot's content, written and signed by
    /// this device alone (it is not a way around signatures or membership).
    ///
    /// Errors: `InvalidArgument` (not a snapshot, too large, holds a tree), `Storage`, `Closed`.
    pub async fn import_snapshot(
        self: Arc<Self>,
        snapshot: Vec<u8>,
    ) -> Result<Arc<Document>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.wrap(self.live()?.import_snapshot(&snapshot)?))
        })
        .await
    }
}

#[uniffi::export]
impl TextHandle {
    /// The same text, positions counted in `unit`.
    pub fn with_unit(&self, unit: TextUnit) -> Arc<TextHandle> {
        wrap_text(self.inner.with_unit(unit.into()), &self.shutdown)
    }

    /// The unit this handle counts in.
    pub fn unit(&self) -> TextUnit {
        self.inner.unit().into()
    }
}

#[uniffi::export]
impl MapHandle {
    /// Number of keys.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn len(self: Arc<Self>) -> Result<u32, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            validate::length(self.inner.len()?)
        })
        .await
    }

    /// True if the map has no keys.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn is_empty(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.is_empty()?)).await
    }

    /// The whole map as JSON (`null` once deleted).
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn to_json(self: Arc<Self>) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.to_json()?)).await
    }

    /// The value at `key` as JSON, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_json(self: Arc<Self>, key: String) -> Result<Option<String>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.get_json(&key)?)
        })
        .await
    }

    /// Writes JSON at `key` as nested maps and lists (one operation).
    ///
    /// Errors: `InvalidArgument` (bad key or JSON, deleted map), `NotAllowed`, `Storage`, `Closed`.
    pub async fn set_json(
        self: Arc<Self>,
        key: String,
        json: String,
    ) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.set_json(&key, &json)?)
        })
        .await
    }

    /// Creates an empty map at `key` and returns it.
    ///
    /// Errors: As `MapHandle.setJson`.
    pub async fn insert_map(
        self: Arc<Self>,
        key: String,
    ) -> Result<Arc<MapHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_map(self.inner.insert_map(&key)?, &self.shutdown))
        })
        .await
    }

    /// Creates an empty list at `key` and returns it.
    ///
    /// Errors: As `MapHandle.setJson`.
    pub async fn insert_list(
        self: Arc<Self>,
        key: String,
    ) -> Result<Arc<ListHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_list(self.inner.insert_list(&key)?, &self.shutdown))
        })
        .await
    }

    /// Creates an empty text at `key` and returns it.
    ///
    /// Errors: As `MapHandle.setJson`.
    pub async fn insert_text(
        self: Arc<Self>,
        key: String,
    ) -> Result<Arc<TextHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_text(self.inner.insert_text(&key)?, &self.shutdown))
        })
        .await
    }

    /// Creates a counter at 0 at `key` and returns it.
    ///
    /// Errors: As `MapHandle.setJson`.
    pub async fn insert_counter(
        self: Arc<Self>,
        key: String,
    ) -> Result<Arc<CounterHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_counter(
                self.inner.insert_counter(&key)?,
                &self.shutdown,
            ))
        })
        .await
    }

    /// The map at `key`, or null/nil if there is none (or something else is there).
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_map(
        self: Arc<Self>,
        key: String,
    ) -> Result<Option<Arc<MapHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_map(&key)?
                .map(|h| wrap_map(h, &self.shutdown)))
        })
        .await
    }

    /// The list at `key`, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_list(
        self: Arc<Self>,
        key: String,
    ) -> Result<Option<Arc<ListHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_list(&key)?
                .map(|h| wrap_list(h, &self.shutdown)))
        })
        .await
    }

    /// The text at `key`, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_text(
        self: Arc<Self>,
        key: String,
    ) -> Result<Option<Arc<TextHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_text(&key)?
                .map(|h| wrap_text(h, &self.shutdown)))
        })
        .await
    }

    /// The counter at `key`, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_counter(
        self: Arc<Self>,
        key: String,
    ) -> Result<Option<Arc<CounterHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_counter(&key)?
                .map(|h| wrap_counter(h, &self.shutdown)))
        })
        .await
    }
}

fn position(index: Option<u32>) -> Result<Option<usize>, FieldSyncError> {
    index.map(validate::index).transpose()
}

#[uniffi::export]
impl ListHandle {
    /// The whole list as JSON (`null` once deleted).
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn to_json(self: Arc<Self>) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.to_json()?)).await
    }

    /// The item at `index` as JSON, or null/nil past the end.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_json(self: Arc<Self>, index: u32) -> Result<Option<String>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.get_json(validate::index(index)?)?)
        })
        .await
    }

    /// Inserts JSON at `index` as nested maps and lists (one operation).
    ///
    /// Errors: `InvalidArgument` (bad JSON, index past the end, deleted list), `NotAllowed`,
    /// `Storage`, `Closed`.
    pub async fn insert_json(
        self: Arc<Self>,
        index: u32,
        json: String,
    ) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.insert_json(validate::index(index)?, &json)?)
        })
        .await
    }

    /// Appends JSON as nested maps and lists (one operation).
    ///
    /// Errors: As `ListHandle.insertJson`.
    pub async fn push_json(self: Arc<Self>, json: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.push_json(&json)?)
        })
        .await
    }

    /// Replaces the item at `index` by JSON (one operation).
    ///
    /// Errors: As `ListHandle.insertJson`.
    pub async fn set_json(self: Arc<Self>, index: u32, json: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.set_json(validate::index(index)?, &json)?)
        })
        .await
    }

    /// Inserts an empty map at `index` (null/nil: at the end) and returns it.
    ///
    /// Errors: As `ListHandle.insertJson`.
    pub async fn insert_map(
        self: Arc<Self>,
        index: Option<u32>,
    ) -> Result<Arc<MapHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_map(
                self.inner.insert_map(position(index)?)?,
                &self.shutdown,
            ))
        })
        .await
    }

    /// Inserts an empty list at `index` (null/nil: at the end) and returns it.
    ///
    /// Errors: As `ListHandle.insertJson`.
    pub async fn insert_list(
        self: Arc<Self>,
        index: Option<u32>,
    ) -> Result<Arc<ListHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_list(
                self.inner.insert_list(position(index)?)?,
                &self.shutdown,
            ))
        })
        .await
    }

    /// Inserts an empty text at `index` (null/nil: at the end) and returns it.
    ///
    /// Errors: As `ListHandle.insertJson`.
    pub async fn insert_text(
        self: Arc<Self>,
        index: Option<u32>,
    ) -> Result<Arc<TextHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_text(
                self.inner.insert_text(position(index)?)?,
                &self.shutdown,
            ))
        })
        .await
    }

    /// Inserts a counter at 0 at `index` (null/nil: at the end) and returns it.
    ///
    /// Errors: As `ListHandle.insertJson`.
    pub async fn insert_counter(
        self: Arc<Self>,
        index: Option<u32>,
    ) -> Result<Arc<CounterHandle>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(wrap_counter(
                self.inner.insert_counter(position(index)?)?,
                &self.shutdown,
            ))
        })
        .await
    }

    /// The map at `index`, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_map(
        self: Arc<Self>,
        index: u32,
    ) -> Result<Option<Arc<MapHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_map(validate::index(index)?)?
                .map(|h| wrap_map(h, &self.shutdown)))
        })
        .await
    }

    /// The list at `index`, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_list(
        self: Arc<Self>,
        index: u32,
    ) -> Result<Option<Arc<ListHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_list(validate::index(index)?)?
                .map(|h| wrap_list(h, &self.shutdown)))
        })
        .await
    }

    /// The text at `index`, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_text(
        self: Arc<Self>,
        index: u32,
    ) -> Result<Option<Arc<TextHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_text(validate::index(index)?)?
                .map(|h| wrap_text(h, &self.shutdown)))
        })
        .await
    }

    /// The counter at `index`, or null/nil.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get_counter(
        self: Arc<Self>,
        index: u32,
    ) -> Result<Option<Arc<CounterHandle>>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .get_counter(validate::index(index)?)?
                .map(|h| wrap_counter(h, &self.shutdown)))
        })
        .await
    }
}

/// Proof that an author signed two different operations for one position of its log in a
/// document (see `FieldSyncEvent.ForkDetected`): its log is frozen there on every replica.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ForkRecord {
    /// The equivocating author's id.
    pub author: String,
    /// True for its control log (membership, roles, keys), false for its document log.
    pub control: bool,
    /// The position both operations claim; the log is frozen from here on.
    pub seq: u32,
}

#[uniffi::export]
impl Document {
    /// The forked logs of this document (equivocating authors), lowest position per log.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn forks(self: Arc<Self>) -> Result<Vec<ForkRecord>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let node = self.node_handle()?;
            Ok(node
                .forks(self.inner.id())?
                .into_iter()
                .map(|f| ForkRecord {
                    author: f.author.to_string(),
                    control: f.kind == fieldsync::LogKind::Control,
                    seq: f.seq,
                })
                .collect())
        })
        .await
    }
}
