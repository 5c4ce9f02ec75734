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

mod batch_memo;
pub mod body;
pub mod crypto;
mod deferred_import;
pub mod direct;
pub mod document;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod ids;
pub mod membership;
pub mod net;
pub mod node;
pub mod operation;
mod signature_batch;
pub mod store;

pub use document::{
    Document, ListHandle, MapHandle, TextHandle, Value, VersionOrdering, VersionVector,
};
pub use error::NetError;
pub use error::{DocumentError, Error, IdError, IdentityError, IngestError, Result, StoreError};
pub use events::{Event, EventStream, Origin};
pub use identity::DeviceKeyStore;
pub use ids::{AuthorId, DocumentId};
pub use net::{Invite, InviteError, NetworkConfig, NetworkInfo, PeerAddr, SyncStatus};
pub use node::{IngestOutcome, Node, NodeConfig};
pub use store::outbox::OutboxEntry;
