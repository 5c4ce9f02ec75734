//! A write transaction of the store: an SQLite savepoint whose statements are prepared once.
//!
//! rusqlite's `Savepoint` parses `SAVEPOINT`/`RELEASE` text on every use; a received
//! operation is stored in its own savepoint (so a refused one rolls back alone inside a
//! batch), which made that parsing a sixth of the ingest thread's time.

use std::ops::Deref;

use rusqlite::Connection;

/// Name of the savepoint (transactions never nest: each borrows the store mutably).
const BEGIN: &str = "SAVEPOINT fieldsync_tx";
const RELEASE: &str = "RELEASE fieldsync_tx";
const ROLLBACK: &str = "ROLLBACK TO fieldsync_tx";

/// An open savepoint on the writer connection. [`Tx::commit`] releases it; dropping it
/// without committing rolls it back. Derefs to the connection for statements inside it.
pub struct Tx<'a> {
    conn: &'a Connection,
    /// Committed or rolled back already, or never a savepoint (see [`Tx::single_statement`]).
    done: bool,
}

impl<'a> Tx<'a> {
    /// Opens the savepoint.
    pub(crate) fn begin(conn: &'a Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached(BEGIN)?.execute([])?;
        Ok(Tx { conn, done: false })
    }

    /// A scope without a savepoint, for a caller inside an outer transaction whose writes
    /// are a single statement (atomic on its own, so there is nothing to roll back):
    /// `commit` and drop do nothing. A savepoint copies each page it first modifies into
    /// SQLite's sub-journal, a seventh of the ingest thread's time in a catch-up.
    pub(crate) fn single_statement(conn: &'a Connection) -> Self {
        Tx { conn, done: true }
    }

    /// Makes the savepoint's changes part of the enclosing transaction (or commits them
    /// when there is none).
    pub fn commit(mut self) -> rusqlite::Result<()> {
        if !self.done {
            self.conn.prepare_cached(RELEASE)?.execute([])?;
            self.done = true;
        }
        Ok(())
    }
}

impl Deref for Tx<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Errors cannot be reported from drop; a failed rollback leaves the enclosing
        // transaction to be rolled back by its owner.
        let rolled_back = self
            .conn
            .prepare_cached(ROLLBACK)
            .and_then(|mut s| s.execute([]));
        if let Err(e) = rolled_back {
            tracing::warn!("rolling back a savepoint failed: {e}");
        }
        if let Err(e) = self
            .conn
            .prepare_cached(RELEASE)
            .and_then(|mut s| s.execute([]))
        {
            tracing::warn!("releasing a rolled-back savepoint failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER UNIQUE)")
            .unwrap();
        c
    }

    fn count(c: &Connection) -> i64 {
        c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn commit_keeps_and_drop_rolls_back() {
        let c = conn();
        let tx = Tx::begin(&c).unwrap();
        tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
        tx.commit().unwrap();
        {
            let tx = Tx::begin(&c).unwrap();
            tx.execute("INSERT INTO t VALUES (2)", []).unwrap();
        }
        assert_eq!(count(&c), 1);
        assert!(c.is_autocommit(), "no savepoint left open");
    }

    #[test]
    fn rolls_back_alone_inside_an_outer_transaction() {
        let c = conn();
        c.execute_batch("BEGIN").unwrap();
        let tx = Tx::begin(&c).unwrap();
        tx.execute("INSERT INTO t VALUES (1)", []).unwrap();
        tx.commit().unwrap();
        {
            let tx = Tx::begin(&c).unwrap();
            tx.execute("INSERT INTO t VALUES (2)", []).unwrap();
        }
        assert!(!c.is_autocommit(), "the outer transaction is still open");
        c.execute_batch("COMMIT").unwrap();
        assert_eq!(count(&c), 1);
    }

    #[test]
    fn single_statement_scope_opens_no_savepoint_and_a_failed_statement_keeps_the_rest() {
        let c = conn();
        c.execute_batch("BEGIN").unwrap();
        let scope = Tx::single_statement(&c);
        scope.execute("INSERT INTO t VALUES (1)", []).unwrap();
        scope.commit().unwrap();
        {
            let scope = Tx::single_statement(&c);
            // A refused statement undoes only itself.
            assert!(scope.execute("INSERT INTO t VALUES (1)", []).is_err());
        }
        assert!(!c.is_autocommit(), "the outer transaction is still open");
        c.execute_batch("COMMIT").unwrap();
        assert_eq!(count(&c), 1);
    }
}
