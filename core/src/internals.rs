//! What tests, fuzz targets and benchmarks reach below the facade. Not part of the supported
//! API: it changes whenever the layers do. Each item is re-exported from the layer that owns
//! it; nothing here has behaviour of its own except `catchup_heights` (the direct payload
//! functions only forward to the crate-private codec).

/// The operation codec and log kinds.
pub mod operation {
    pub use crate::base::log::LogKind;
    pub use crate::wire::operation::*;
    pub use crate::wire::WireError;
}

/// Snapshot bodies: covered logs and the state.
pub mod snapshot {
    pub use crate::wire::snapshot::*;
}

/// Operation bodies: plain or group-encrypted.
pub mod body {
    pub use crate::wire::body::*;
}

/// The end-to-end encryption primitives.
pub mod crypto {
    pub use crate::crypto::*;
}

/// Direct-message wire types.
pub mod direct {
    pub use crate::direct::{Envelope, TOKEN_LEN};

    use crate::base::ids::AuthorId;
    use crate::direct::{payload, DirectError, DirectPayload};

    /// The plaintext a direct message seals (`crate::direct::payload::encode`).
    pub fn encode_payload(
        from: &AuthorId,
        to: &AuthorId,
        counter: u64,
        content: &DirectPayload,
    ) -> Vec<u8> {
        payload::encode(from, to, counter, content)
    }

    /// Decodes an opened plaintext as the receiver does (`crate::direct::payload::decode`):
    /// refused unless it names `from`, `to` and `counter`.
    pub fn decode_payload(
        plaintext: &[u8],
        from: &AuthorId,
        to: &AuthorId,
        counter: u64,
    ) -> Result<DirectPayload, DirectError> {
        payload::decode(plaintext, from, to, counter)
    }
}

/// The SQLite store.
pub mod store {
    pub use crate::store::sealed::SEALED;
    pub use crate::store::{keys, migrations, Store, DB_FILE, LOCK_FILE};

    /// A plain SQLite connection on the database in `data_dir` (no lock, no migration)
    /// with `fs_seal` / `fs_open` registered for its data key, found with the default
    /// store key: for tests that read or damage stored values directly.
    pub fn raw_connection(data_dir: &std::path::Path) -> rusqlite::Connection {
        raw_connection_with(data_dir, &default_store_key(data_dir))
    }

    /// [`raw_connection`] with the given store key.
    pub fn raw_connection_with(
        data_dir: &std::path::Path,
        store_key: &[u8; 32],
    ) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(data_dir.join(DB_FILE)).expect("open database");
        let tx = crate::store::tx::Tx::begin(&conn).expect("begin");
        let cipher = crate::store::sealed::data_key(&tx, store_key).expect("the data key");
        tx.commit().expect("commit");
        crate::store::sealed::register(&conn, &cipher).expect("register");
        conn
    }

    /// The store key the default file key store keeps for the node in `data_dir` (what a
    /// node without an app key store opens its database with).
    pub fn default_store_key(data_dir: &std::path::Path) -> [u8; 32] {
        use crate::replica::DeviceKeyStore;
        let bytes = crate::replica::FileKeyStore::in_data_dir(data_dir)
            .load_store_key()
            .expect("readable key file")
            .expect("a key file");
        bytes.as_slice().try_into().expect("32 bytes")
    }
}

/// Offline bundles and their chunks.
pub mod bundle {
    pub use crate::wire::bundle::*;
}

/// Fork proofs: two signed headers of one author for one log position.
pub mod fork {
    pub use crate::wire::fork::{decode, encode, verify, Fork, MAX_PROOF_BYTES, MAX_PROOF_HEADER};
}

/// Control-log body tags.
pub mod membership {
    pub use crate::wire::body::{CONTROL_GROUP_MESSAGE, CONTROL_KEY_BUNDLE};
}

/// Network wire formats and constants.
pub mod net {
    pub use crate::net::catchup::CATCHUP_PROTOCOL;
    pub use crate::net::direct::DIRECT_PROTOCOL;
    pub use crate::net::ephemeral;
    pub use crate::net::DEFAULT_NETWORK_ID;
}

/// Decodes a catch-up heights page (`fieldsync/catchup/4`) as both sides do. Returns the
/// number of logs listed, or `None` when the page is refused.
pub fn catchup_heights(bytes: &[u8]) -> Option<usize> {
    crate::net::catchup::decode_page(bytes, |_, _, _, _| {}).ok()
}

/// Reads `bytes` as the catch-up stream a peer sends after the document was agreed on
/// (fork proofs, each decoded and verified; heights pages; operation count, operation frames of at most `max_frame` bytes) with the
/// same frame reader, page decoder and receive budget as a session, on the current thread.
/// `ours` lists the logs this side holds (its heads hash as `Hash::digest(seq.to_be_bytes())`).
/// Returns (logs of `ours` the peer listed,
/// operation frames read), or the protocol error as text.
pub fn catchup_parse_stream(
    bytes: &[u8],
    ours: &[(crate::AuthorId, crate::base::log::LogKind, u32)],
    max_frame: usize,
) -> Result<(usize, u64), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(crate::net::catchup::parse_stream(
            bytes,
            &ours
                .iter()
                .map(|&(a, k, s)| (a, k, s, p2panda_core::Hash::digest(s.to_be_bytes())))
                .collect(),
            max_frame,
        ))
        .map_err(|e| e.to_string())
}
