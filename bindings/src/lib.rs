//! # FieldSync FFI
//!
//! UniFFI 0.32 bindings of the FieldSync core (`fieldsync`) for Kotlin and Swift.
//!
//! Shape (the layers below it are mapped in `ARCHITECTURE.md` at the repository root):
//! - **Objects** wrap core types in an `inner` field: [`Node`], [`Document`], [`TextHandle`],
//!   [`MapHandle`], [`ListHandle`], [`CounterHandle`], [`EventSubscription`],
//!   [`ChangeSubscription`], [`SyncStatusSubscription`] (the data model's extensions are in
//!   `model.rs`).
//! - **Records and enums** carry plain data: [`Value`], [`FieldSyncEvent`], [`PendingOp`],
//!   [`VersionOrdering`], [`LogLevel`].
//! - **One app-facing error**, [`FieldSyncError`] (Kotlin `FieldSyncException`, Swift
//!   `FieldSyncError`), mapped once from the core's per-layer errors in [`error`].
//! - **No panic crosses the boundary**: every fallible exported function runs inside
//!   [`guard`] / [`guard_async`] (`catch_unwind`), a panic becomes
//!   [`FieldSyncError::Internal`]. UniFFI's own `rust_call` is a second net behind it.
//! - **Async everywhere**: every call that touches the database, keys, the document engine or
//!   the network is async (Kotlin `suspend`, Swift `async`) and runs on one SDK-owned tokio
//!   runtime ([`runtime`]): network calls as tasks ([`guard_async`]), blocking work on its
//!   blocking pool ([`off_thread`]), never on the caller's thread. The future handed to the
//!   foreign executor only awaits a join handle; cancelling the caller (Kotlin coroutine, Swift
//!   Task, see `scripts/swift-postprocess.pl`) drops it and aborts the task. Synchronous
//!   calls are the cheap ones: ids, handles, units, `cancel()`.
//! - **Events** are pulled from an [`EventSubscription`] (`async next()`, `cancel()`, cancelled
//!   on drop), which `android/` wraps as a `Flow` and `ios/` as an `AsyncSequence`.
//! - **Foreign traits**: [`DeviceKeyStore`] (device key in Android Keystore / iOS Keychain) and
//!   [`FieldSyncLogger`] (tracing output to logcat / os_log).
//! - **Validated input**: ids are parsed into typed ids, names and strings are checked for
//!   emptiness and size before they reach the core ([`validate`]).

#![warn(missing_docs)]

mod attachments;
mod document;
mod error;
mod events;
mod guard;
mod history;
mod join;
mod key_store;
mod logger;
mod model;
mod network;
mod node;
mod offline;
mod runtime;
mod status;
mod validate;
mod value;

pub use document::{
    compare_versions, Document, ListHandle, MapHandle, MemberRole, Role, TextHandle,
    VersionOrdering,
};
pub use error::FieldSyncError;
pub use events::{ChangeOrigin, EventSubscription, FieldSyncEvent};
pub use guard::{guard, guard_async, off_thread};
pub use history::{NodeOptions, Retention};
pub use join::{JoinRefusal, JoinRequestState};
pub use key_store::DeviceKeyStore;
pub use logger::{set_logger, FieldSyncLogger, LogLevel};
pub use model::{
    Change, ChangeDiff, ChangeItem, ChangeSubscription, ContainerHandle, CounterHandle, ForkRecord,
    HistoryVersion, PathSegment, TextUnit,
};
pub use network::{NetworkInfo, NetworkOptions, PeerAddress, PeerSeen, RelayServer, SyncStatus};
pub use node::{AttachmentFetch, Node, PendingOp};
pub use offline::{
    bundle_chunks, BundleChunks, BundleImport, LinkReport, LinkRole, SyncBundle, SyncLink,
};
pub use status::SyncStatusSubscription;
pub use value::Value;

uniffi::setup_scaffolding!();
