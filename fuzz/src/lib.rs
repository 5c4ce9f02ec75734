//! Shared state of the FieldSync fuzz targets: nodes in a temporary directory, re-created
//! every [`RESET_EVERY`] inputs so the store and the loaded documents stay small, and the
//! fixed author and document the seed corpus (`fieldsync-tests`' `fuzz_seeds` binary) uses.

use std::collections::HashMap;

use fieldsync::internals::operation::LogKind;
use fieldsync::{DocumentId, Node, NodeConfig};
use p2panda_core::{Hash, SigningKey};

/// Secret key bytes of the author the structure-aware targets sign with. Must match
/// `FUZZ_AUTHOR_SEED` in `tests/src/bin/fuzz_seeds.rs`.
pub const AUTHOR_SEED: [u8; 32] = [7; 32];
/// Bytes of the fixed document the structure-aware targets write to. Must match
/// `FUZZ_DOCUMENT` in `tests/src/bin/fuzz_seeds.rs`.
pub const DOCUMENT: [u8; 32] = [0x42; 32];
/// Inputs after which the nodes are dropped and re-created in a fresh directory.
pub const RESET_EVERY: u32 = 2000;

/// The fixed fuzzing author.
pub fn author() -> SigningKey {
    SigningKey::from_bytes(&AUTHOR_SEED)
}

/// The fixed fuzzing document.
pub fn document() -> DocumentId {
    DocumentId::from_slice(&DOCUMENT).expect("32 bytes")
}

/// A plain node and an encrypting node, plus the head of each log the fuzzer extended.
pub struct Nodes {
    _dir: tempfile::TempDir,
    /// Node with encryption off: plain bodies reach Loro.
    pub plain: Node,
    /// Node with encryption on: group bodies reach decryption, control bodies the group.
    pub encrypted: Node,
    /// Last accepted (seq, hash) per (encrypted?, document, kind) of [`author`].
    pub heads: HashMap<(bool, DocumentId, LogKind), (u32, Hash)>,
    used: u32,
}

impl Nodes {
    fn open() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = NodeConfig::new(dir.path().join("plain"));
        cfg.encrypt = false;
        cfg.max_body_bytes = 256 * 1024;
        cfg.max_operation_bytes = 300 * 1024;
        cfg.max_parked = 1000;
        let plain = Node::open(cfg).expect("open plain node");
        let mut cfg = NodeConfig::new(dir.path().join("encrypted"));
        cfg.max_body_bytes = 256 * 1024;
        cfg.max_operation_bytes = 300 * 1024;
        cfg.max_parked = 1000;
        let encrypted = Node::open(cfg).expect("open encrypted node");
        Nodes {
            _dir: dir,
            plain,
            encrypted,
            heads: HashMap::new(),
            used: 0,
        }
    }

    /// Runs `f` on the shared nodes, re-creating them every [`RESET_EVERY`] calls.
    ///
    /// The nodes live in a `static`, not a thread-local: a node dropped while thread-locals
    /// are destroyed saves its snapshot through Loro, whose own thread-locals may be gone.
    pub fn with<T>(f: impl FnOnce(&mut Nodes) -> T) -> T {
        static NODES: std::sync::Mutex<Option<Nodes>> = std::sync::Mutex::new(None);
        let mut slot = NODES.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|n| n.used >= RESET_EVERY) {
            *slot = None;
            *slot = Some(Nodes::open());
        }
        let nodes = slot.as_mut().expect("just opened");
        nodes.used += 1;
        f(nodes)
    }
}
