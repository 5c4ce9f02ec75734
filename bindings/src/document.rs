//! The FFI `Document` and its typed container handles.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::error::FieldSyncError;
use crate::guard::{guard, guard_async, off_thread};
use crate::network::SyncStatus;
use crate::status::SyncStatusSubscription;
use crate::validate;
use crate::value::Value;

/// Fails with `Closed` once the node was shut down.
fn check_open(shutdown: &CancellationToken) -> Result<(), FieldSyncError> {
    if shutdown.is_cancelled() {
        return Err(FieldSyncError::closed());
    }
    Ok(())
}

/// Runs `f` under `guard` unless the node was shut down (then `Closed`): the body of every
/// synchronous document and handle method.
pub(crate) fn guard_open<T>(
    shutdown: &CancellationToken,
    f: impl FnOnce() -> Result<T, FieldSyncError>,
) -> Result<T, FieldSyncError> {
    guard(|| {
        check_open(shutdown)?;
        f()
    })
}

/// How two replicas of a document relate (see `compareVersions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum VersionOrdering {
    /// Both hold exactly the same operations.
    Equal,
    /// The first holds everything the second has, and more.
    Ahead,
    /// The second holds everything the first has, and more.
    Behind,
    /// Each holds operations the other lacks.
    Concurrent,
}

impl From<fieldsync::VersionOrdering> for VersionOrdering {
    fn from(o: fieldsync::VersionOrdering) -> Self {
        match o {
            fieldsync::VersionOrdering::Equal => VersionOrdering::Equal,
            fieldsync::VersionOrdering::Ahead => VersionOrdering::Ahead,
            fieldsync::VersionOrdering::Behind => VersionOrdering::Behind,
            fieldsync::VersionOrdering::Concurrent => VersionOrdering::Concurrent,
        }
    }
}

fn to_core_version(v: &HashMap<String, u32>) -> Result<fieldsync::VersionVector, FieldSyncError> {
    let mut out = fieldsync::VersionVector::new();
    for (author, seq) in v {
        out.set(validate::author_id(author)?, *seq);
    }
    Ok(out)
}

/// Compares two version vectors (from `Document.version`, possibly of two replicas).
///
/// Errors: `InvalidArgument` if a key is not an author id.
#[uniffi::export]
pub fn compare_versions(
    first: HashMap<String, u32>,
    second: HashMap<String, u32>,
) -> Result<VersionOrdering, FieldSyncError> {
    guard(|| {
        let a = to_core_version(&first)?;
        let b = to_core_version(&second)?;
        Ok(a.compare(&b).into())
    })
}

/// One document of a node. Get handles on its root containers with `Document.text`,
/// `Document.map` and `Document.list`; every edit through a handle is one signed
/// operation, stored durably before the call returns.
#[derive(uniffi::Object)]
pub struct Document {
    pub(crate) inner: fieldsync::Document,
    /// The node, for the node-level calls about this document (sync status, ephemeral).
    node: fieldsync::Node,
    pub(crate) shutdown: CancellationToken,
}

impl Document {
    pub(crate) fn new(
        inner: fieldsync::Document,
        node: fieldsync::Node,
        shutdown: CancellationToken,
    ) -> Self {
        Document {
            inner,
            node,
            shutdown,
        }
    }

    /// The core node, for node-level calls about this document, unless shut down.
    pub(crate) fn node_handle(&self) -> Result<&fieldsync::Node, FieldSyncError> {
        check_open(&self.shutdown)?;
        Ok(&self.node)
    }

    /// The core node and this document's id for an async body, unless shut down.
    fn live_node(&self) -> Result<(fieldsync::Node, fieldsync::DocumentId), FieldSyncError> {
        check_open(&self.shutdown)?;
        Ok((self.node.clone(), self.inner.id()))
    }
}

#[uniffi::export]
impl Document {
    /// The document id (64 hex characters); share it (or an invite) to let others join.
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The root text container called `name` (created on first edit).
    ///
    /// Errors: `InvalidArgument` if `name` is empty or longer than 256 bytes; `Closed`.
    pub fn text(&self, name: String) -> Result<Arc<TextHandle>, FieldSyncError> {
        guard_open(&self.shutdown, || {
            Ok(Arc::new(TextHandle {
                inner: self.inner.text(&name)?,
                shutdown: self.shutdown.clone(),
            }))
        })
    }

    /// The root map container called `name`.
    ///
    /// Errors: `InvalidArgument` if `name` is empty or longer than 256 bytes; `Closed`.
    pub fn map(&self, name: String) -> Result<Arc<MapHandle>, FieldSyncError> {
        guard_open(&self.shutdown, || {
            Ok(Arc::new(MapHandle {
                inner: self.inner.map(&name)?,
                shutdown: self.shutdown.clone(),
            }))
        })
    }

    /// The root list container called `name`.
    ///
    /// Errors: `InvalidArgument` if `name` is empty or longer than 256 bytes; `Closed`.
    pub fn list(&self, name: String) -> Result<Arc<ListHandle>, FieldSyncError> {
        guard_open(&self.shutdown, || {
            Ok(Arc::new(ListHandle {
                inner: self.inner.list(&name)?,
                shutdown: self.shutdown.clone(),
            }))
        })
    }

    /// The whole document as canonical JSON (keys sorted, empty root containers left out),
    /// identical on converged replicas.
    ///
    /// Errors: `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn to_json(self: Arc<Self>) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.to_json()?)).await
    }

    /// Version vector: author id -> highest sequence number of that author's log held here.
    /// Compare two with `compareVersions`.
    ///
    /// Errors: `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn version(self: Arc<Self>) -> Result<HashMap<String, u32>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .version()?
                .iter()
                .map(|(a, s)| (a.to_string(), *s))
                .collect())
        })
        .await
    }

    /// Adds a device to the document's group from its key bundle (see `Node.keyBundle`).
    /// The new member can read the whole history. Returns the member's author id.
    ///
    /// Errors: `InvalidArgument` (empty or oversized bundle), `Crypto` (malformed, expired or forged
    /// bundle; this device is not a member), `NotFound`, `Storage`, `Closed`.
    pub async fn add_member(
        self: Arc<Self>,
        key_bundle: Vec<u8>,
    ) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            if key_bundle.is_empty() || key_bundle.len() > 64 * 1024 {
                return Err(FieldSyncError::InvalidArgument {
                    reason: format!(
                        "key bundle must be 1..=65536 bytes, got {}",
                        key_bundle.len()
                    ),
                });
            }
            Ok(self.inner.add_member(&key_bundle)?.to_string())
        })
        .await
    }

    /// Removes a device from the group; the document key changes, so the removed device
    /// cannot read anything written afterwards.
    ///
    /// Errors: `InvalidArgument` (malformed author id), `Crypto`, `NotFound`, `Storage`, `Closed`.
    pub async fn remove_member(self: Arc<Self>, author_id: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let author: fieldsync::AuthorId = crate::validate::author_id(&author_id)?;
            Ok(self.inner.remove_member(author)?)
        })
        .await
    }

    /// Adds the device whose key bundle is `key_bundle` with `role` (`ADMIN`, `WRITER` or
    /// `READER`; a relay is added with `Document.addRelay`). Admins only. Returns the new
    /// member's author id.
    ///
    /// Errors: `NotAllowed` (this device is not an admin), `InvalidArgument`, `Crypto`, `NotFound`,
    /// `Storage`, `Closed`.
    pub async fn add_member_as(
        self: Arc<Self>,
        key_bundle: Vec<u8>,
        role: Role,
    ) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            if key_bundle.is_empty() || key_bundle.len() > 64 * 1024 {
                return Err(FieldSyncError::invalid(format!(
                    "key bundle must be 1..=65536 bytes, got {}",
                    key_bundle.len()
                )));
            }
            Ok(self
                .inner
                .add_member_as(&key_bundle, role.into())?
                .to_string())
        })
        .await
    }

    /// Adds `author_id` as a relay: it stores and forwards the document's ciphertext but
    /// cannot read or write it. Admins only.
    ///
    /// Errors: `NotAllowed`, `InvalidArgument` (malformed id, already a member), `NotFound`,
    /// `Storage`, `Closed`.
    pub async fn add_relay(self: Arc<Self>, author_id: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let author = crate::validate::author_id(&author_id)?;
            Ok(self.inner.add_relay(author)?)
        })
        .await
    }

    /// Changes a member's role among `ADMIN`, `WRITER` and `READER`. Admins only.
    ///
    /// Errors: `NotAllowed`, `InvalidArgument` (malformed id, not a member, relay), `NotFound`,
    /// `Storage`, `Closed`.
    pub async fn set_role(
        self: Arc<Self>,
        author_id: String,
        role: Role,
    ) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            let author = crate::validate::author_id(&author_id)?;
            Ok(self.inner.set_role(author, role.into())?)
        })
        .await
    }

    /// Every member and its role, as this device's replica resolves them (empty for a
    /// document created before roles existed).
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn roles(self: Arc<Self>) -> Result<Vec<MemberRole>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .roles()?
                .into_iter()
                .map(|(a, r)| MemberRole {
                    author_id: a.to_string(),
                    role: r.into(),
                })
                .collect())
        })
        .await
    }

    /// This device's role, if it has one.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn my_role(self: Arc<Self>) -> Result<Option<Role>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.my_role()?.map(Role::from))
        })
        .await
    }

    /// Author ids of the devices in the document's group.
    ///
    /// Errors: `Crypto`, `NotFound`, `Storage`, `Closed`.
    pub async fn members(self: Arc<Self>) -> Result<Vec<String>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .members()?
                .into_iter()
                .map(|a| a.to_string())
                .collect())
        })
        .await
    }

    /// Whether this device holds the key to read the document.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn can_read(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.can_read()?)).await
    }

    /// Adds `bytes` (a photo, an audio note, a PDF) as an attachment of this document:
    /// end-to-end encrypted with a key of its own and stored as a file beside the database.
    /// Returns its reference, a string to put in any map or list of the document; members
    /// read it back with `Node.readAttachment`.
    ///
    /// Errors: `NotAllowed` (this device is not a writer), `InvalidArgument` (above the
    /// 100 MB limit, or a media type over 255 bytes), `NotFound` (deleted), `Storage`,
    /// `Closed`.
    pub async fn add_attachment(
        self: Arc<Self>,
        bytes: Vec<u8>,
        media_type: String,
    ) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.add_attachment(&bytes, &media_type)?)
        })
        .await
    }

    /// Publishes a snapshot of this document now: its state, signed and encrypted like an
    /// edit. Devices that join later, or are far behind, fetch it and what follows it
    /// instead of the whole history. Returns its number in this device's snapshot log, or
    /// `null`/`nil` when there is nothing to cover yet or an operation waits for its key.
    ///
    /// Errors: `NotAllowed` (this device is not a writer), `InvalidArgument` (the state is
    /// above the size limit), `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn publish_snapshot(self: Arc<Self>) -> Result<Option<u32>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.publish_snapshot()?)
        })
        .await
    }

    /// Deletes the operations of this document the latest snapshot covers, as far as
    /// `retention` allows, in one transaction (a crash keeps all of them or none). Returns
    /// how many were deleted. The content and sync are unaffected; history views before
    /// the snapshot lose those versions. `Node.reclaimSpace` returns the space to the file
    /// system.
    ///
    /// Errors: `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn compact(
        self: Arc<Self>,
        retention: crate::history::Retention,
    ) -> Result<u64, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.compact(retention.into())?)
        })
        .await
    }

    /// Number of operations in this document's history (all authors), counting those a
    /// snapshot covers that this node does not hold.
    ///
    /// Errors: `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn op_count(self: Arc<Self>) -> Result<u64, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.op_count()?)).await
    }

    /// An invite string for this document (its id plus how to reach this node; no addresses
    /// while offline). Suitable for a QR code; pass it to `Node.join` on another device.
    ///
    /// Errors: `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn invite(&self) -> Result<String, FieldSyncError> {
        let doc = check_open(&self.shutdown).map(|_| self.inner.clone());
        guard_async(async move { Ok(doc?.invite().await?) }).await
    }

    /// Changes of this document's sync status, for a UI: the status now, then every change.
    /// See `SyncStatusSubscription`; after shutdown it is returned already ended.
    pub fn sync_statuses(&self) -> Arc<SyncStatusSubscription> {
        Arc::new(SyncStatusSubscription::new(
            self,
            self.node.clone(),
            self.shutdown.child_token(),
        ))
    }

    /// Sync state of this document: online, pending local operations, connected and known
    /// peers, rejected operations, when it last synced.
    ///
    /// Errors: `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn sync_status(&self) -> Result<SyncStatus, FieldSyncError> {
        let node = self.live_node();
        guard_async(async move {
            let (node, id) = node?;
            Ok(node.sync_status(id).await?.into())
        })
        .await
    }

    /// Sends an ephemeral payload (presence, cursor) to the peers online for this document.
    /// Best effort, signed, not stored; at most a few KiB.
    ///
    /// Errors: `InvalidArgument` (empty or too large payload), `Network` (not running), `NotFound`,
    /// `Closed`.
    pub async fn publish_ephemeral(&self, payload: Vec<u8>) -> Result<(), FieldSyncError> {
        let node = self.live_node();
        guard_async(async move {
            let (node, id) = node?;
            if payload.is_empty() {
                return Err(FieldSyncError::invalid(
                    "ephemeral payload must not be empty",
                ));
            }
            Ok(node.publish_ephemeral(id, payload).await?)
        })
        .await
    }

    /// Number of this device's operations of this document no peer has acknowledged yet.
    ///
    /// Errors: `NotFound` (deleted), `Storage`, `Closed`.
    pub async fn pending_ops(self: Arc<Self>) -> Result<u64, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.pending_ops()?)
        })
        .await
    }
}

/// A collaborative text. Positions and lengths count Unicode scalar values (not UTF-16 units).
#[derive(uniffi::Object)]
pub struct TextHandle {
    pub(crate) inner: fieldsync::TextHandle,
    pub(crate) shutdown: CancellationToken,
}

#[uniffi::export]
impl TextHandle {
    /// Inserts `text` at position `pos` (0 ..= length), counted in the handle's unit:
    /// UTF-16 code units unless `TextHandle.withUnit` says otherwise, so a Kotlin
    /// `String` index or a Swift `String.utf16` offset is a position. A position inside a
    /// character (between a surrogate pair's halves) is refused.
    ///
    /// Errors: `InvalidArgument`: `text` is empty or larger than the maximum operation size, or `pos`
    /// is past the end. `NotFound`, `Storage`, `Closed`.
    pub async fn insert(self: Arc<Self>, pos: u32, text: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            validate::non_empty_text(&text)?;
            Ok(self.inner.insert(validate::index(pos)?, &text)?)
        })
        .await
    }

    /// Appends `text` at the end.
    ///
    /// Errors: As `TextHandle.insert`.
    pub async fn push(self: Arc<Self>, text: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            validate::non_empty_text(&text)?;
            Ok(self.inner.push(&text)?)
        })
        .await
    }

    /// Deletes `len` units (UTF-16 by default) starting at `pos`.
    ///
    /// Errors: `InvalidArgument` if the range is out of bounds; `NotFound`, `Storage`, `Closed`.
    pub async fn delete(self: Arc<Self>, pos: u32, len: u32) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .delete(validate::index(pos)?, validate::index(len)?)?)
        })
        .await
    }

    /// The current text.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn content(self: Arc<Self>) -> Result<String, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.get()?)).await
    }

    /// Length in the handle's unit (UTF-16 code units by default).
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn len(self: Arc<Self>) -> Result<u32, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            validate::length(self.inner.len()?)
        })
        .await
    }

    /// True if empty.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn is_empty(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.is_empty()?)).await
    }
}

/// A collaborative map from string keys (1 to 256 bytes) to scalar `Value`s.
#[derive(uniffi::Object)]
pub struct MapHandle {
    pub(crate) inner: fieldsync::MapHandle,
    pub(crate) shutdown: CancellationToken,
}

#[uniffi::export]
impl MapHandle {
    /// Sets `key` to `value`.
    ///
    /// Errors: `InvalidArgument`: empty or too long key, string value above the maximum operation size,
    /// non-finite double. `NotFound`, `Storage`, `Closed`.
    pub async fn set(self: Arc<Self>, key: String, value: Value) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.set(&key, value.into())?)
        })
        .await
    }

    /// Removes `key` (no-op if absent).
    ///
    /// Errors: `InvalidArgument` (empty or too long key), `NotFound`, `Storage`, `Closed`.
    pub async fn delete(self: Arc<Self>, key: String) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.delete(&key)?)
        })
        .await
    }

    /// The value at `key`, or `null`/`nil`.
    ///
    /// Errors: `InvalidArgument` (empty or too long key), `NotFound`, `Storage`, `Closed`.
    pub async fn get(self: Arc<Self>, key: String) -> Result<Option<Value>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            validate::map_key(&key)?;
            Ok(self.inner.get(&key)?.map(Value::from))
        })
        .await
    }

    /// All keys, sorted.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn keys(self: Arc<Self>) -> Result<Vec<String>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.keys()?)).await
    }
}

/// A collaborative list of scalar `Value`s.
#[derive(uniffi::Object)]
pub struct ListHandle {
    pub(crate) inner: fieldsync::ListHandle,
    pub(crate) shutdown: CancellationToken,
}

#[uniffi::export]
impl ListHandle {
    /// Inserts `value` at `index` (0 ..= length).
    ///
    /// Errors: `InvalidArgument`: index past the end, oversized string, non-finite double.
    /// `NotFound`, `Storage`, `Closed`.
    pub async fn insert(self: Arc<Self>, index: u32, value: Value) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.insert(validate::index(index)?, value.into())?)
        })
        .await
    }

    /// Appends `value`.
    ///
    /// Errors: As `ListHandle.insert`.
    pub async fn push(self: Arc<Self>, value: Value) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.push(value.into())?)
        })
        .await
    }

    /// Deletes `count` items starting at `index`.
    ///
    /// Errors: `InvalidArgument` if the range is out of bounds; `NotFound`, `Storage`, `Closed`.
    pub async fn delete(self: Arc<Self>, index: u32, count: u32) -> Result<(), FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self
                .inner
                .delete(validate::index(index)?, validate::index(count)?)?)
        })
        .await
    }

    /// The item at `index`, or `null`/`nil` past the end.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn get(self: Arc<Self>, index: u32) -> Result<Option<Value>, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            Ok(self.inner.get(validate::index(index)?)?.map(Value::from))
        })
        .await
    }

    /// Number of items.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn len(self: Arc<Self>) -> Result<u32, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || {
            validate::length(self.inner.len()?)
        })
        .await
    }

    /// True if empty.
    ///
    /// Errors: `NotFound`, `Storage`, `Closed`.
    pub async fn is_empty(self: Arc<Self>) -> Result<bool, FieldSyncError> {
        off_thread(self.shutdown.clone(), move || Ok(self.inner.is_empty()?)).await
    }
}

/// What a device may do in a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Role {
    /// Adds and removes members and changes roles; writes and reads.
    Admin,
    /// Writes and reads.
    Writer,
    /// Reads; its edits are refused (`NotAllowed`).
    Reader,
    /// Stores and forwards the ciphertext; cannot read or write.
    Relay,
}

impl From<Role> for fieldsync::Role {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => fieldsync::Role::Admin,
            Role::Writer => fieldsync::Role::Writer,
            Role::Reader => fieldsync::Role::Reader,
            Role::Relay => fieldsync::Role::Relay,
        }
    }
}

impl From<fieldsync::Role> for Role {
    fn from(r: fieldsync::Role) -> Self {
        match r {
            fieldsync::Role::Admin => Role::Admin,
            fieldsync::Role::Writer => Role::Writer,
            fieldsync::Role::Reader => Role::Reader,
            fieldsync::Role::Relay => Role::Relay,
        }
    }
}

/// A member of a document and its role.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MemberRole {
    /// The member's author id (64 hex characters).
    pub author_id: String,
    /// Its role.
    pub role: Role,
}
