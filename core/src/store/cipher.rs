//! At-rest encryption of the store: every secret and every byte of user content in the
//! database is sealed with the store's data key, bound to where it belongs.
//!
//! - The **data key** is 32 random bytes made when the database is created (or first opened
//!   with a key, see `seal_existing`). It never leaves the process.
//! - The **store key** (key-encryption key) comes from the app's key store (Android
//!   Keystore, iOS Keychain, or a 0600 file for the CLI). The database keeps the data key
//!   wrapped by it, in `store_keys`, under an id derived from the store key: opening with
//!   another key finds no wrap and fails with `StoreError::WrongKey`, changing nothing.
//! - A **sealed value** is `0x5E | nonce (24) | XChaCha20-Poly1305 ciphertext and tag`. The
//!   associated data names the column and the row's key (`"operations.body"` and the
//!   operation's hash, say), so a value copied to another row or column does not open.
//!
//! SQL reaches the cipher through two functions registered on every connection
//! ([`register`]): `fs_seal(label, value, key...)` and `fs_open(label, value, key...)`
//! (NULL in, NULL out), so each table module seals and opens in the statement that writes
//! or reads the column.

use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::store::sealed::SharedCipher;
use crate::store::StoreError;

/// First byte of a sealed value (format version 1).
const SEALED_V1: u8 = 0x5E;
/// XChaCha20 nonce bytes: random per value.
const NONCE: usize = 24;
/// Bytes a sealed value adds to its plaintext: version, nonce, tag.
pub const OVERHEAD: usize = 1 + NONCE + 16;
/// Marks the error of a value that does not open, so the store maps it to
/// [`StoreError::Corrupt`].
pub(crate) const OPEN_FAILED: &str = "fieldsync: a sealed value does not open";

/// A 32-byte key, wiped from memory when dropped.
pub type KeyBytes = Zeroizing<[u8; 32]>;

/// The data key's cipher.
#[derive(Clone)]
pub struct StoreCipher {
    aead: Arc<XChaCha20Poly1305>,
}

impl std::fmt::Debug for StoreCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCipher")
    }
}

/// Associated data: a domain tag, the label, then each key part with its length.
fn associated(label: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(32 + label.len() + parts.iter().map(|p| p.len() + 4).sum::<usize>());
    aad.extend_from_slice(b"fieldsync/at-rest/1\0");
    aad.extend_from_slice(&(label.len() as u32).to_be_bytes());
    aad.extend_from_slice(label);
    for part in parts {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    aad
}

impl StoreCipher {
    /// The cipher of a data key.
    pub fn new(data_key: &[u8; 32]) -> Self {
        StoreCipher {
            aead: Arc::new(XChaCha20Poly1305::new(data_key.into())),
        }
    }

    /// Seals `plain` for the row named by `label` and `parts`.
    pub fn seal(&self, label: &[u8], parts: &[&[u8]], plain: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE] = rand::random();
        let aad = associated(label, parts);
        let sealed = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
        let mut out = Vec::with_capacity(OVERHEAD + plain.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a value sealed for the row named by `label` and `parts`; `None` if it does not
    /// open (another key, another row, or damaged).
    pub fn open(&self, label: &[u8], parts: &[&[u8]], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < OVERHEAD || sealed[0] != SEALED_V1 {
            return None;
        }
        let aad = associated(label, parts);
        self.aead
            .decrypt(
                XNonce::from_slice(&sealed[1..1 + NONCE]),
                Payload {
                    msg: &sealed[1 + NONCE..],
                    aad: &aad,
                },
            )
            .ok()
    }
}

/// The id under which the data key's wrap by `store_key` is kept: a keyed derivation, so
/// the id tells nothing about the key.
pub fn key_id(store_key: &[u8; 32]) -> [u8; 32] {
    blake3::derive_key("fieldsync store key id v1", store_key)
}

/// The data key sealed by `store_key` (a [`StoreCipher`] of the store key, bound to the
/// key id).
pub fn wrap(store_key: &[u8; 32], data_key: &[u8; 32]) -> Vec<u8> {
    let id = key_id(store_key);
    StoreCipher::new(store_key).seal(b"store_keys.wrapped", &[&id], data_key)
}

/// The data key of a wrap made by [`wrap`] with `store_key`; `None` if it does not open.
pub fn unwrap(store_key: &[u8; 32], wrapped: &[u8]) -> Option<KeyBytes> {
    let id = key_id(store_key);
    let plain = StoreCipher::new(store_key).open(b"store_keys.wrapped", &[&id], wrapped)?;
    let key: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some(Zeroizing::new(key))
}

/// A fresh random 32-byte key.
pub fn random_key() -> KeyBytes {
    Zeroizing::new(rand::random())
}

/// The bytes of one SQL argument used as a key part: blobs and text as they are, integers
/// as 8 big-endian bytes.
fn part_of(value: ValueRef<'_>) -> Vec<u8> {
    match value {
        ValueRef::Blob(b) | ValueRef::Text(b) => b.to_vec(),
        ValueRef::Integer(i) => i.to_be_bytes().to_vec(),
        ValueRef::Real(r) => r.to_be_bytes().to_vec(),
        ValueRef::Null => Vec::new(),
    }
}

/// The arguments of a call `fs_*(label, value, key...)`: label, value (`None` for NULL),
/// key parts.
type Arguments = (Vec<u8>, Option<Vec<u8>>, Vec<Vec<u8>>);

/// The [`Arguments`] of a call.
fn arguments(ctx: &Context<'_>) -> rusqlite::Result<Arguments> {
    let label = match ctx.get_raw(0) {
        ValueRef::Text(t) => t.to_vec(),
        _ => {
            return Err(rusqlite::Error::UserFunctionError(
                "fs_seal/fs_open: the label must be text".into(),
            ))
        }
    };
    let value = match ctx.get_raw(1) {
        ValueRef::Null => None,
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
        other => Some(part_of(other)),
    };
    let parts = (2..ctx.len()).map(|i| part_of(ctx.get_raw(i))).collect();
    Ok((label, value, parts))
}

/// Registers `fs_seal` and `fs_open` on `conn`, with the cipher `shared` holds at each
/// call (see the module docs).
pub fn register(conn: &Connection, shared: SharedCipher) -> Result<(), StoreError> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY;
    let sealer = shared.clone();
    conn.create_scalar_function("fs_seal", -1, flags, move |ctx| {
        let (label, value, parts) = arguments(ctx)?;
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Ok(value.map(|v| sealer.get().seal(&label, &parts, &v)))
    })?;
    conn.create_scalar_function(
        "fs_open",
        -1,
        flags | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| {
            let (label, value, parts) = arguments(ctx)?;
            let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            open_or_fail(&shared.get(), &label, &parts, value)
        },
    )?;
    Ok(())
}

fn open_or_fail(
    cipher: &StoreCipher,
    label: &[u8],
    parts: &[&[u8]],
    value: Option<Vec<u8>>,
) -> rusqlite::Result<Option<Vec<u8>>> {
    match value {
        None => Ok(None),
        Some(v) => match cipher.open(label, parts, &v) {
            Some(plain) => Ok(Some(plain)),
            None => Err(rusqlite::Error::UserFunctionError(
                format!("{OPEN_FAILED} ({})", String::from_utf8_lossy(label)).into(),
            )),
        },
    }
}

/// Registers `fs_reseal(label, value, key...)` on `conn`: opens with `old`, seals with
/// `new` (a rotation's one pass over every sealed value).
pub fn register_reseal(
    conn: &Connection,
    old: StoreCipher,
    new: StoreCipher,
) -> Result<(), StoreError> {
    conn.create_scalar_function(
        "fs_reseal",
        -1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |ctx| {
            let (label, value, parts) = arguments(ctx)?;
            let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            Ok(open_or_fail(&old, &label, &parts, value)?
                .map(|plain| new.seal(&label, &parts, &plain)))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_where_they_belong() {
        let cipher = StoreCipher::new(&[7; 32]);
        let sealed = cipher.seal(b"operations.body", &[b"hash-1"], b"secret text");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            cipher
                .open(b"operations.body", &[b"hash-1"], &sealed)
                .unwrap(),
            b"secret text"
        );
        // Another row, another column, another key, or a flipped bit: it does not open.
        assert!(cipher
            .open(b"operations.body", &[b"hash-2"], &sealed)
            .is_none());
        assert!(cipher.open(b"parked.body", &[b"hash-1"], &sealed).is_none());
        assert!(StoreCipher::new(&[8; 32])
            .open(b"operations.body", &[b"hash-1"], &sealed)
            .is_none());
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(cipher
            .open(b"operations.body", &[b"hash-1"], &flipped)
            .is_none());
        // Key parts are length-prefixed: ("ab", "c") is not ("a", "bc").
        let two = cipher.seal(b"t", &[b"ab", b"c"], b"v");
        assert!(cipher.open(b"t", &[b"a", b"bc"], &two).is_none());
        // Random nonces: sealing twice gives two values.
        assert_ne!(
            sealed,
            cipher.seal(b"operations.body", &[b"hash-1"], b"secret text")
        );
    }

    #[test]
    fn the_data_key_unwraps_with_its_store_key_only() {
        let data = random_key();
        let wrapped = wrap(&[1; 32], &data);
        assert_eq!(*unwrap(&[1; 32], &wrapped).unwrap(), *data);
        assert!(unwrap(&[2; 32], &wrapped).is_none());
        assert_ne!(key_id(&[1; 32]), key_id(&[2; 32]));
    }

    #[test]
    fn sql_functions_seal_and_open_in_statements() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn, SharedCipher::new(StoreCipher::new(&[3; 32]))).unwrap();
        conn.execute_batch("CREATE TABLE t (k BLOB, n INTEGER, v BLOB)")
            .unwrap();
        conn.execute(
            "INSERT INTO t VALUES (?1, ?2, fs_seal('t.v', ?3, ?1, ?2))",
            rusqlite::params![b"key".to_vec(), 5, b"plain".to_vec()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO t VALUES (X'00', 1, fs_seal('t.v', NULL, X'00', 1))",
            [],
        )
        .unwrap();
        let opened: Option<Vec<u8>> = conn
            .query_row(
                "SELECT fs_open('t.v', v, k, n) FROM t WHERE n = 5",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(opened.as_deref(), Some(&b"plain"[..]));
        let null: Option<Vec<u8>> = conn
            .query_row(
                "SELECT fs_open('t.v', v, k, n) FROM t WHERE n = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(null, None);
        // Moved to another row: the statement fails with the marked error.
        conn.execute("UPDATE t SET n = 6 WHERE n = 5", []).unwrap();
        let err = conn
            .query_row(
                "SELECT fs_open('t.v', v, k, n) FROM t WHERE n = 6",
                [],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .unwrap_err();
        assert!(matches!(StoreError::from(err), StoreError::Corrupt(_)));
    }
}
