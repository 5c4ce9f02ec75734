//! The settings of a node.

use std::path::PathBuf;
use std::sync::Arc;

use crate::replica::DeviceKeyStore;

/// Settings of a node.
#[derive(Clone)]
pub struct NodeConfig {
    /// Directory holding the node's database.
    pub data_dir: PathBuf,
    /// Largest encoded operation accepted from the network, in bytes.
    pub max_operation_bytes: usize,
    /// Largest operation body accepted or produced, in bytes.
    pub max_body_bytes: u64,
    /// A document snapshot is cached after this many operations.
    pub snapshot_every: u32,
    /// Most operations kept aside while waiting for their predecessors.
    pub max_parked: u64,
    /// Where the device key is kept; `None` keeps it in the SDK database.
    pub key_store: Option<Arc<dyn DeviceKeyStore>>,
    /// End-to-end encrypt documents (default `true`). When off, new documents are plain and
    /// plain bodies are accepted for every document; meant for tests and benchmarks. See
    /// `crate::replica::membership`.
    pub encrypt: bool,
}

impl NodeConfig {
    /// Defaults for a node stored in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            max_operation_bytes: 17 * 1024 * 1024,
            max_body_bytes: 16 * 1024 * 1024,
            snapshot_every: 256,
            max_parked: 100_000,
            key_store: None,
            encrypt: true,
        }
    }
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("data_dir", &self.data_dir)
            .field("max_operation_bytes", &self.max_operation_bytes)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("snapshot_every", &self.snapshot_every)
            .field("encrypt", &self.encrypt)
            .finish()
    }
}
