//! Which columns are sealed at rest, and the store key's lifecycle: finding the data key
//! on open, sealing a database from before at-rest encryption, rotating keys.
//!
//! The columns sealed with the data key (see [`crate::store::cipher`]), each bound to its
//! row's key, are listed in [`SEALED`]. Every other column holds ids, positions, counters,
//! timestamps, public keys or signed operation headers (see ARCHITECTURE.md, "At rest").

use std::sync::{Arc, RwLock};

use rusqlite::{params, OptionalExtension};

use crate::store::cipher::{self, KeyBytes, StoreCipher};
use crate::store::tx::Tx;
use crate::store::StoreError;

/// A sealed column: (label, table, column, the row's key columns).
pub struct SealedColumn {
    /// The label bound into every value (table and column).
    pub label: &'static str,
    /// The table.
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
    /// The columns naming the row, bound into every value.
    pub keys: &'static [&'static str],
}

/// Every sealed column of the schema.
pub const SEALED: &[SealedColumn] = &[
    SealedColumn {
        label: "meta.value",
        table: "meta",
        column: "value",
        keys: &["key"],
    },
    SealedColumn {
        label: "snapshots.snapshot",
        table: "snapshots",
        column: "snapshot",
        keys: &["document"],
    },
    SealedColumn {
        label: "operations.body",
        table: "operations",
        column: "body",
        keys: &["hash"],
    },
    SealedColumn {
        label: "parked_operations.body",
        table: "parked_operations",
        column: "body",
        keys: &["hash"],
    },
    SealedColumn {
        label: "device_keys.keys",
        table: "device_keys",
        column: "keys",
        keys: &["id"],
    },
    SealedColumn {
        label: "groups.state",
        table: "groups",
        column: "state",
        keys: &["document"],
    },
    SealedColumn {
        label: "ratchet_sessions.state",
        table: "ratchet_sessions",
        column: "state",
        keys: &["peer"],
    },
    SealedColumn {
        label: "direct_outbox.envelope",
        table: "direct_outbox",
        column: "envelope",
        keys: &["peer", "counter"],
    },
];

/// The data key's cipher, shared by every connection of one database (a rotation swaps it
/// for all of them).
#[derive(Clone)]
pub struct SharedCipher(Arc<RwLock<StoreCipher>>);

impl std::fmt::Debug for SharedCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedCipher")
    }
}

impl SharedCipher {
    /// Shares `cipher`.
    pub fn new(cipher: StoreCipher) -> Self {
        SharedCipher(Arc::new(RwLock::new(cipher)))
    }

    /// The current cipher.
    pub fn get(&self) -> StoreCipher {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `UPDATE` of every sealed column, each value passed through the SQL function `function`
/// (`fs_seal` to seal plaintext, `fs_reseal` to move it to a new data key). Returns how
/// many values it changed.
fn update_all(tx: &Tx<'_>, function: &str) -> Result<usize, StoreError> {
    let mut changed = 0;
    for c in SEALED {
        let keys = c.keys.join(", ");
        changed += tx.execute(
            &format!(
                "UPDATE {table} SET {column} = {function}('{label}', {column}, {keys})
                 WHERE {column} IS NOT NULL",
                table = c.table,
                column = c.column,
                label = c.label,
            ),
            [],
        )?;
    }
    Ok(changed)
}

/// Finds the data key of the database behind `tx` with `store_key`. A database without
/// any wrap (new, or from before at-rest encryption) gets a fresh data key, its existing
/// values sealed in this transaction. A wrap left by an interrupted rotation under another
/// store key is removed. [`StoreError::WrongKey`] if wraps exist but none for this key.
pub(crate) fn data_key(tx: &Tx<'_>, store_key: &[u8; 32]) -> Result<SharedCipher, StoreError> {
    data_key_sealing(tx, store_key).map(|(cipher, _)| cipher)
}

/// [`data_key`], also saying whether values stored in plaintext were sealed just now (the
/// caller then rewrites the file, so no plaintext page stays behind).
pub(crate) fn data_key_sealing(
    tx: &Tx<'_>,
    store_key: &[u8; 32],
) -> Result<(SharedCipher, bool), StoreError> {
    let id = cipher::key_id(store_key);
    let wrapped: Option<Vec<u8>> = tx
        .query_row(
            "SELECT wrapped FROM store_keys WHERE id = ?1",
            [&id[..]],
            |r| r.get(0),
        )
        .optional()?;
    let data_key = match wrapped {
        Some(w) => cipher::unwrap(store_key, &w)
            .ok_or_else(|| StoreError::Corrupt("the wrapped data key does not open".into()))?,
        None => {
            let others: i64 = tx.query_row("SELECT count(*) FROM store_keys", [], |r| r.get(0))?;
            if others > 0 {
                return Err(StoreError::WrongKey);
            }
            let data_key = cipher::random_key();
            let shared = SharedCipher::new(StoreCipher::new(&data_key));
            register(tx, &shared)?;
            // Older databases: plaintext values are sealed now, in this transaction.
            tx.execute(
                "UPDATE documents SET snapshot = NULL, snapshot_vv = NULL
                 WHERE snapshot IS NOT NULL OR snapshot_vv IS NOT NULL",
                [],
            )?;
            let sealed = update_all(tx, "fs_seal")?;
            tx.execute(
                "INSERT INTO store_keys (id, wrapped) VALUES (?1, ?2)",
                params![&id[..], cipher::wrap(store_key, &data_key)],
            )?;
            return Ok((shared, sealed > 0));
        }
    };
    tx.execute("DELETE FROM store_keys WHERE id != ?1", [&id[..]])?;
    let shared = SharedCipher::new(StoreCipher::new(&data_key));
    register(tx, &shared)?;
    Ok((shared, false))
}

/// Registers `fs_seal` / `fs_open` on a connection, reading the shared cipher per call.
pub(crate) fn register(
    conn: &rusqlite::Connection,
    shared: &SharedCipher,
) -> Result<(), StoreError> {
    cipher::register(conn, shared.clone())
}

/// First half of a rotation, in `tx`: a new data key, every sealed value moved to it, the
/// data key wrapped by `new_key` and (until [`finish_rotation`]) still by `old_key`, so a
/// crash at any point leaves a database that one of the two opens. Returns the new cipher;
/// the caller installs it with [`SharedCipher::install`] after the commit.
pub(crate) fn rotate(
    tx: &Tx<'_>,
    shared: &SharedCipher,
    old_key: &[u8; 32],
    new_key: &[u8; 32],
) -> Result<StoreCipher, StoreError> {
    let data_key: KeyBytes = cipher::random_key();
    let next = StoreCipher::new(&data_key);
    cipher::register_reseal(tx, shared.get(), next.clone())?;
    update_all(tx, "fs_reseal")?;
    tx.execute("DELETE FROM store_keys", [])?;
    for key in [old_key, new_key] {
        tx.execute(
            "INSERT INTO store_keys (id, wrapped) VALUES (?1, ?2)",
            params![&cipher::key_id(key)[..], cipher::wrap(key, &data_key)],
        )?;
    }
    Ok(next)
}

/// Second half of a rotation, once the app's key store holds `new_key`: the wrap by the
/// old key is removed.
pub(crate) fn finish_rotation(tx: &Tx<'_>, new_key: &[u8; 32]) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM store_keys WHERE id != ?1",
        [&cipher::key_id(new_key)[..]],
    )?;
    Ok(())
}

impl SharedCipher {
    /// Makes `cipher` the one every connection seals and opens with.
    pub(crate) fn install(&self, cipher: StoreCipher) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = cipher;
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Store, StoreError};

    fn value(store: &Store) -> Option<Vec<u8>> {
        store.meta_get("probe").unwrap()
    }

    /// The two crash windows of a rotation, made deterministic: the key store failing
    /// (the old key still opens, the new one too until the next open cleans it up), and a
    /// completed rotation (only the new key opens).
    #[test]
    fn a_rotation_leaves_a_database_one_of_the_two_keys_opens() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new, newer) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        {
            let mut store = Store::open(dir.path(), &old).unwrap();
            store.meta_set("probe", b"sealed value").unwrap();
            let failed = store.rotate_key(&old, &new, || {
                Err(StoreError::Io(std::io::Error::other("key store down")))
            });
            assert!(failed.is_err());
            // Still readable in this process (the new data key is installed).
            assert_eq!(value(&store).as_deref(), Some(&b"sealed value"[..]));
        }
        // The key store kept the old key: it opens, and removes the new key's wrap.
        drop(Store::open(dir.path(), &old).unwrap());
        assert!(matches!(
            Store::open(dir.path(), &new),
            Err(StoreError::WrongKey)
        ));
        {
            let mut store = Store::open(dir.path(), &old).unwrap();
            assert_eq!(value(&store).as_deref(), Some(&b"sealed value"[..]));
            store.rotate_key(&old, &newer, || Ok(())).unwrap();
        }
        assert!(matches!(
            Store::open(dir.path(), &old),
            Err(StoreError::WrongKey)
        ));
        let store = Store::open(dir.path(), &newer).unwrap();
        assert_eq!(value(&store).as_deref(), Some(&b"sealed value"[..]));
    }
}
