//! # FieldSync core
//!
//! Offline-first, peer-to-peer sync of Loro CRDT documents for field apps. Every local edit
//! becomes a signed, BLAKE3-hashed p2panda operation stored in SQLite; operations from other
//! devices are validated before Loro sees them, and replicas converge.
//!
//! ```no_run
//! use fieldsync::{Node, NodeConfig};
//! let node = Node::open(NodeConfig::new("/tmp/fieldsync-a")).unwrap();
//! let doc = node.create_document().unwrap();
//! doc.text("notes").unwrap().insert(0, "water point 3 repaired").unwrap();
//! println!("{}", doc.to_json().unwrap());
//! ```
//!
//! The public API is the facade re-exported here: [`Node`], [`Document`] and its handles,
//! their configuration, values, events and errors. The crate is built in layers (base <
//! wire < store, crypto, direct < document < replica < net < node), each importing only
//! from its own layer or a lower one; `ARCHITECTURE.md` at the repository root is the map.

mod auth;
mod base;
mod crypto;
mod direct;
mod document;
mod net;
mod node;
mod replica;
mod store;
mod wire;

#[doc(hidden)]
pub mod internals;

pub use auth::{AuthError, Role};
pub use base::events::{Event, EventStream, Origin};
pub use base::ids::{AuthorId, DocumentId, IdError};
pub use base::join::{JoinRefusal, JoinState};
pub use base::log::LogKind;
pub use base::version::{VersionOrdering, VersionVector};
pub use crypto::CryptoError;
pub use direct::{DirectError, DirectPayload, ReceivedDirect};
pub use document::{
    Change, ChangeDiff, DocumentError, HistoryEntry, Path, PathSegment, TextUnit, Value, Version,
};
pub use net::attachments::AttachmentFetch;
pub use net::link::{Link, LinkError, LinkReport, LinkRole, MIN_MTU};
pub use net::{
    AttachmentPolicy, NetError, NetworkConfig, NetworkInfo, PeerAddr, PeerPath, PeerSeen,
    RelayServer, SyncStatus, DEFAULT_HEADS_INTERVAL, MAX_RELAY_FIELD,
};
pub use node::{
    Bundle, BundleImport, ChangeItem, ChangeStream, CounterHandle, Document, Error, ErrorKind,
    Handle, HistoryVersion, InviteOptions, ListHandle, MapHandle, Node, Result, TextHandle,
};
pub use replica::observe::ChangeBatch;
pub use replica::{
    AttachmentSweep, DeviceKeyStore, FileKeyStore, IdentityError, IngestError, IngestOutcome,
    NodeConfig, Retention,
};
pub use store::forks::ForkEvidence;
pub use store::outbox::OutboxEntry;
pub use store::StoreError;
pub use wire::bundle::{BundleError, ChunkAssembler as BundleChunks};
pub use wire::{Invite, InviteError};
