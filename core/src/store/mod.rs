//! SQLite storage: one file per node, WAL mode, numbered migrations.
//!
//! The op log is the source of truth; the document snapshots are caches that can be rebuilt
//! from it. Every write helper takes a [`tx::Tx`] (a savepoint, or one statement inside an
//! enclosing transaction): nothing writes outside one. Reads take a `&Connection`.

pub mod attachments;
pub mod bases;
mod checkpoint;
pub mod cipher;
pub mod direct;
pub mod documents;
mod error;
pub mod forks;
pub mod joins;
pub mod keys;
pub mod migrations;
pub mod oplog;
pub mod outbox;
pub mod parked;
pub mod sealed;
#[cfg(test)]
mod test_support;
pub mod tx;

pub use error::StoreError;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// File name of the node database inside its data directory.
pub const DB_FILE: &str = "fieldsync.sqlite";

/// File in the data directory a node holds an exclusive lock on while it runs.
pub const LOCK_FILE: &str = "fieldsync.lock";

/// The node's database connection.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The data key's cipher, shared with the node's other connections.
    cipher: sealed::SharedCipher,
    /// The exclusive lock on the data directory (released when dropped, or by
    /// [`Store::release`]).
    lock: Option<std::fs::File>,
    /// Background WAL checkpoints (`None`: SQLite's automatic ones, if the thread could
    /// not start).
    checkpointer: Option<checkpoint::Checkpointer>,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(mut c) = self.checkpointer.take() {
            c.stop(&self.conn);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

/// Page cache of the writer connection, in KiB (negative `cache_size` means KiB to SQLite).
const WRITER_CACHE_KIB: i64 = -32 * 1024;

/// Opens a connection with the pragmas every FieldSync connection uses.
pub(crate) fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    if !read_only {
        // WAL + synchronous=NORMAL: a committed transaction survives a killed process.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Creates `dir` if needed and restricts it to this user (0700 on Unix).
pub(crate) fn private_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Opens `path` for writing, creating it readable by this user only (0600 on Unix); an
/// existing file is restricted to 0600 too.
pub(crate) fn private_file(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    Ok(options.open(path)?)
}

/// How long [`lock_dir`] keeps trying before it reports [`StoreError::Busy`].
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(500);

/// Takes the exclusive lock on `dir` ([`LOCK_FILE`]): one node per data directory, in this
/// process or any other. [`StoreError::Busy`] if another one holds it.
///
/// The lock (`flock`) belongs to the open file description, which a `fork` in any other
/// thread of the process shares with the child until the child's `exec` closes it (the
/// descriptor is close-on-exec). A node closed and reopened at that moment would find its own
/// released lock still held, so a held lock is retried for [`LOCK_PATIENCE`] (found in CI: a
/// reopen failed with `Busy` while another test spawned a process).
fn lock_dir(dir: &Path) -> Result<std::fs::File, StoreError> {
    let file = private_file(&dir.join(LOCK_FILE))?;
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Busy(dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir` with the app's `store_key`, and
    /// migrates it to the latest schema. The directory is made private (0700) and locked
    /// for this node ([`StoreError::Busy`] if another node has it); the database files are
    /// 0600. A database from before at-rest encryption is sealed on this first open with a
    /// key; another key than the one it was sealed for gives [`StoreError::WrongKey`] and
    /// changes nothing.
    pub fn open(dir: &Path, store_key: &[u8; 32]) -> Result<Self, StoreError> {
        private_dir(dir)?;
        let lock = lock_dir(dir)?;
        let path = dir.join(DB_FILE);
        let existing = std::fs::metadata(&path).map_or(0, |m| m.len());
        // Created (or restricted) before SQLite opens it: SQLite gives the WAL and shared
        // memory files the database file's permissions.
        drop(private_file(&path)?);
        for suffix in ["-wal", "-shm"] {
            let side = dir.join(format!("{DB_FILE}{suffix}"));
            if side.exists() {
                drop(private_file(&side)?);
            }
        }
        let mut conn = open_connection(&path, false)?;
        // The writer's page cache holds the hot index pages of the operation log: with
        // SQLite's 2 MiB default, inserts keyed by (random) operation hash start missing the
        // cache near 20,000 operations and every insert then reads and spills pages.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        if existing > 0 && !has_schema(&conn)? {
            // SQLite treats a file too short for its header as a new, empty database: a
            // damaged file would silently become a fresh node with a new identity.
            return Err(StoreError::Corrupt(format!(
                "{} holds {existing} bytes but no database schema (truncated or damaged)",
                path.display()
            )));
        }
        migrations::migrate(&mut conn, migrations::LATEST)?;
        let cipher = {
            let tx = tx::Tx::begin(&conn)?;
            let (cipher, sealed_now) = sealed::data_key_sealing(&tx, store_key)?;
            tx.commit()?;
            if sealed_now {
                // The plaintext of a database from before is gone from its rows, not yet
                // from freed pages and the WAL: both are rewritten.
                rewrite_file(&conn)?;
            }
            cipher
        };
        let checkpointer = match checkpoint::Checkpointer::start(&conn, &path) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(
                    "background checkpoints unavailable, SQLite checkpoints inline: {e}"
                );
                None
            }
        };
        Ok(Store {
            conn,
            path,
            cipher,
            lock: Some(lock),
            checkpointer,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data key's cipher, for the node's other connections (see
    /// [`sealed::register`]).
    pub fn cipher(&self) -> &sealed::SharedCipher {
        &self.cipher
    }

    /// Moves every sealed value to a new data key wrapped by `new_key`, crash-safe: until
    /// `save_new` (which stores `new_key` in the app's key store) returns, the old key
    /// opens the database; after the first commit, the new one does too. A wrap left by an
    /// interrupted rotation is removed on the next open.
    pub fn rotate_key(
        &mut self,
        old_key: &[u8; 32],
        new_key: &[u8; 32],
        save_new: impl FnOnce() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let tx = tx::Tx::begin(&self.conn)?;
        let next = sealed::rotate(&tx, &self.cipher, old_key, new_key)?;
        tx.commit()?;
        self.cipher.install(next);
        save_new()?;
        let tx = tx::Tx::begin(&self.conn)?;
        sealed::finish_rotation(&tx, new_key)?;
        tx.commit()?;
        // Values under the old data key stay in freed pages and the WAL until rewritten.
        rewrite_file(&self.conn)
    }

    /// Gives up this store's hold on its directory: the lock is released (another node may
    /// open it) and the connection becomes read-only, so nothing this store still caches can
    /// be written over the new node's data.
    pub fn release(&mut self) -> Result<(), StoreError> {
        self.conn.pragma_update(None, "query_only", true)?;
        self.lock = None;
        Ok(())
    }

    /// The writer connection.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts a write transaction: a savepoint, so that it nests inside a batch
    /// ([`Store::begin_batch`]). Dropping it without `commit` rolls it back.
    pub fn transaction(&mut self) -> Result<tx::Tx<'_>, StoreError> {
        Ok(tx::Tx::begin(&self.conn)?)
    }

    /// A write scope inside the outer transaction of [`Store::begin_batch`] for a caller
    /// whose writes are one statement: no savepoint (see [`tx::Tx::single_statement`]).
    /// Outside a batch it is a plain [`Store::transaction`].
    pub fn single_statement(&mut self) -> Result<tx::Tx<'_>, StoreError> {
        if self.conn.is_autocommit() {
            return self.transaction();
        }
        Ok(tx::Tx::single_statement(&self.conn))
    }

    /// Opens an outer transaction: the transactions started until [`Store::commit_batch`]
    /// become savepoints inside it, so many small writes share one commit. A failed inner
    /// transaction still rolls back alone.
    pub fn begin_batch(&self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    /// Commits the outer transaction of [`Store::begin_batch`].
    pub fn commit_batch(&self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    /// Rolls back the outer transaction of [`Store::begin_batch`] (after a failed commit).
    pub fn rollback_batch(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Reads a value from the key/value `meta` table (sealed at rest).
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT fs_open('meta.value', value, key) FROM meta WHERE key = ?1",
                [key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Writes a value into the key/value `meta` table (one statement, in its own
    /// transaction).
    pub fn meta_set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let tx = tx::Tx::begin(&self.conn)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, fs_seal('meta.value', ?2, ?1))
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            rusqlite::params![key, value],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Runs SQLite's `PRAGMA integrity_check`; returns its report lines ("ok" when healthy).
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Whether the database in `dir` already keeps a wrapped data key (it was sealed with some
/// store key): read without opening it for writing, `false` for a database from before
/// at-rest encryption or none at all.
pub(crate) fn has_wrapped_key(dir: &Path) -> bool {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return false;
    }
    open_connection(&path, true)
        .and_then(|c| {
            Ok(c.query_row("SELECT count(*) FROM store_keys", [], |r| {
                r.get::<_, i64>(0)
            })?)
        })
        .is_ok_and(|n| n > 0)
}

impl Store {
    /// Gives the pages freed by deletions back to the file system (`VACUUM`): rewrites the
    /// whole file, so it costs time in proportion to the database.
    pub fn reclaim_space(&self) -> Result<(), StoreError> {
        rewrite_file(&self.conn)
    }
}

/// Rewrites the database file without its freed pages (`VACUUM`) and empties the WAL, so
/// values replaced in place (sealed, or moved to a new data key) leave no copy in the
/// files.
fn rewrite_file(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("VACUUM")?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Whether the database has any table (a file SQLite took for a new database has none).
fn has_schema(conn: &Connection) -> Result<bool, StoreError> {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n > 0)
    .map_err(StoreError::from)
}

/// Current time in milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
