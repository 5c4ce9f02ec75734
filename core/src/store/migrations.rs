//! Numbered schema migrations, tracked with `PRAGMA user_version`.
//!
//! Each migration runs in its own transaction together with the version bump, so a killed
//! process leaves the database at the previous version, never half-migrated.

use rusqlite::Connection;

use crate::store::StoreError;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    // 1: identity, documents, operation log, outbox.
    "CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE documents (
        id          BLOB PRIMARY KEY,
        created_at  INTEGER NOT NULL,
        snapshot    BLOB,
        snapshot_vv BLOB
    );
    CREATE TABLE operations (
        hash        BLOB PRIMARY KEY,
        document    BLOB NOT NULL,
        author      BLOB NOT NULL,
        kind        INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        header      BLOB NOT NULL,
        body        BLOB,
        received_at INTEGER NOT NULL,
        UNIQUE (author, document, kind, seq)
    );
    CREATE TABLE outbox (
        hash       BLOB PRIMARY KEY REFERENCES operations (hash) ON DELETE CASCADE,
        document   BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        last_error TEXT
    );",
    // 2: applied flag (ops kept until their key arrives), parked out-of-order ops,
    //    document tombstones, and indexes for per-document queries.
    "ALTER TABLE operations ADD COLUMN applied INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE documents ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX operations_by_document ON operations (document, kind, author, seq);
    CREATE INDEX outbox_by_document ON outbox (document, created_at);
    CREATE TABLE parked_operations (
        hash        BLOB PRIMARY KEY,
        document    BLOB NOT NULL,
        author      BLOB NOT NULL,
        kind        INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        header      BLOB NOT NULL,
        body        BLOB,
        received_at INTEGER NOT NULL
    );
    CREATE INDEX parked_by_log ON parked_operations (author, document, kind, seq);",
    // 3: encryption key state: this device's key material, one group state per document,
    //    key bundles announced by other devices, and the `plain` flag of documents that
    //    predate encryption (every document existing at upgrade time is plain).
    "CREATE TABLE device_keys (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        keys       BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE groups (
        document   BLOB PRIMARY KEY,
        state      BLOB NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE key_bundles (
        author      BLOB PRIMARY KEY,
        bundle      BLOB NOT NULL,
        received_at INTEGER NOT NULL
    );
    ALTER TABLE documents ADD COLUMN plain INTEGER NOT NULL DEFAULT 0;
    UPDATE documents SET plain = 1;
    CREATE INDEX operations_unapplied ON operations (document, kind) WHERE applied = 0;",
    // 4: direct device-to-device messages: one 2SM ratchet session per peer device, the
    //    sealed messages not yet acknowledged by their recipient (resent in order), and the
    //    invite tokens this node issued (a join request presenting one is admitted).
    "CREATE TABLE ratchet_sessions (
        peer       BLOB PRIMARY KEY,
        state      BLOB NOT NULL,
        sent       INTEGER NOT NULL DEFAULT 0,
        received   INTEGER NOT NULL DEFAULT 0,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE direct_outbox (
        peer       BLOB NOT NULL,
        counter    INTEGER NOT NULL,
        envelope   BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (peer, counter)
    );
    CREATE TABLE invites (
        token      BLOB PRIMARY KEY,
        document   BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        uses       INTEGER NOT NULL DEFAULT 0,
        revoked    INTEGER NOT NULL DEFAULT 0
    );",
    // 5: snapshots in a table of their own. In `documents`, the snapshot blob sat before the
    //    `deleted` and `plain` columns, so reading those flags (on every write and every
    //    received operation) walked the blob's overflow pages: a cost growing with the
    //    document. The old columns stay, always NULL.
    "CREATE TABLE snapshots (
        document BLOB PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
        snapshot BLOB NOT NULL,
        vv       BLOB NOT NULL
    );
    INSERT INTO snapshots (document, snapshot, vv)
        SELECT id, snapshot, snapshot_vv FROM documents
        WHERE snapshot IS NOT NULL AND snapshot_vv IS NOT NULL;
    UPDATE documents SET snapshot = NULL, snapshot_vv = NULL;",
    // 6: no index on operation hashes. Hashes are random, so every operation inserted into
    //    (or, for the outbox, deleted from) a B-tree keyed by them dirtied its own page: a
    //    catch-up wrote most of that index to the WAL again in every transaction and in every
    //    checkpoint, and so did a sender acknowledging its outbox. An operation is found by its
    //    log position instead (a duplicate is the operation held at its position with the
    //    same hash). The position is unique, in the column order per-document queries need,
    //    which also replaces `operations_by_document`. The outbox (our own operations only)
    //    is keyed by log position too, and no longer references `operations (hash)`:
    //    deleting a document deletes its outbox entries itself. Children are rebuilt before
    //    their parent is dropped, so enforced foreign keys see no orphan.
    "CREATE TABLE outbox_v6 (
        document   BLOB NOT NULL,
        kind       INTEGER NOT NULL,
        seq        INTEGER NOT NULL,
        hash       BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        attempts   INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        PRIMARY KEY (document, kind, seq)
    );
    INSERT INTO outbox_v6
        (rowid, document, kind, seq, hash, created_at, attempts, last_error)
        SELECT o.rowid, o.document, op.kind, op.seq, o.hash, o.created_at, o.attempts,
               o.last_error
        FROM outbox AS o JOIN operations AS op ON op.hash = o.hash;
    DROP TABLE outbox;
    ALTER TABLE outbox_v6 RENAME TO outbox;
    CREATE TABLE operations_v6 (
        hash        BLOB NOT NULL,
        document    BLOB NOT NULL,
        author      BLOB NOT NULL,
        kind        INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        header      BLOB NOT NULL,
        body        BLOB,
        received_at INTEGER NOT NULL,
        applied     INTEGER NOT NULL DEFAULT 1,
        UNIQUE (document, kind, author, seq)
    );
    INSERT INTO operations_v6
        (rowid, hash, document, author, kind, seq, header, body, received_at, applied)
        SELECT rowid, hash, document, author, kind, seq, header, body, received_at, applied
        FROM operations;
    DROP TABLE operations;
    ALTER TABLE operations_v6 RENAME TO operations;
    CREATE INDEX operations_unapplied ON operations (document, kind) WHERE applied = 0;",
    // 7: authorization. Documents held before roles existed have no genesis: they stay
    //    `legacy` (no role checks, as before); every document registered later is checked.
    //    Parked operations expire, found by their arrival time.
    //    Invites are recorded in the control log and honoured by every admin's node: a row
    //    is keyed by the BLAKE3 of the token (`token` holds the hash from now on; invites
    //    issued before keep their raw token and stop admitting), and has an expiry and a
    //    use limit.
    "ALTER TABLE documents ADD COLUMN legacy INTEGER NOT NULL DEFAULT 0;
    UPDATE documents SET legacy = 1;
    CREATE INDEX parked_by_arrival ON parked_operations (received_at);
    ALTER TABLE invites ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE invites ADD COLUMN max_uses INTEGER NOT NULL DEFAULT 0;",
    // 8: fork evidence: two different operations an author signed for one position of one
    //    of its logs (per log, the proof of the lowest forked seq known: see store/forks.rs).
    "CREATE TABLE forks (
        document    BLOB NOT NULL,
        author      BLOB NOT NULL,
        kind        INTEGER NOT NULL,
        seq         INTEGER NOT NULL,
        kept        BLOB NOT NULL,
        refused     BLOB NOT NULL,
        detected_at INTEGER NOT NULL,
        PRIMARY KEY (document, author, kind)
    );",
    // 9: at-rest encryption: the data key, wrapped by the app's store key, under an id
    //    derived from that key (two rows only while a key rotation is under way). The
    //    values of the sealed columns (store/sealed.rs) are sealed when the database is
    //    first opened with a key, in Rust: SQL alone has no key.
    "CREATE TABLE store_keys (
        id      BLOB PRIMARY KEY,
        wrapped BLOB NOT NULL
    );",
    // 10: this device's join requests, one per document (see store/joins.rs): to whom,
    //     when, under which direct-message counter, and the inviter's answer.
    "CREATE TABLE join_requests (
        document     BLOB PRIMARY KEY,
        inviter      BLOB NOT NULL,
        counter      INTEGER NOT NULL,
        requested_at INTEGER NOT NULL,
        delivered    INTEGER NOT NULL DEFAULT 0,
        refused      INTEGER
    );
    CREATE INDEX join_requests_by_inviter ON join_requests (inviter, counter);",
    // 11: log bases (see store/bases.rs): where a log's held part starts when the
    //     operations before it are not held (covered by an accepted snapshot, or pruned by
    //     compaction): the seq and hash of the last covered operation.
    "CREATE TABLE log_bases (
        document BLOB NOT NULL,
        author   BLOB NOT NULL,
        kind     INTEGER NOT NULL,
        seq      INTEGER NOT NULL,
        hash     BLOB NOT NULL,
        PRIMARY KEY (document, kind, author)
    ) WITHOUT ROWID;",
    // 12: attachments (see store/attachments.rs): the manifest of each attachment this node
    //     holds or fetches, which chunks of it are held, and the document it came with. The
    //     encrypted chunks themselves are files in `attachments/`, not rows.
    "CREATE TABLE attachments (
        id         BLOB PRIMARY KEY,
        document   BLOB NOT NULL,
        manifest   BLOB NOT NULL,
        have       BLOB NOT NULL,
        complete   INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX attachments_by_document ON attachments (document);",
    // 13: the signed header of each base's operation (see store/bases.rs), so a snapshot
    //     published after compaction can still cover the log with its author's signature.
    "ALTER TABLE log_bases ADD COLUMN header BLOB;",
    // 14: whether an attachment was added on this device (never evicted by the storage
    //     budget) or fetched (see replica/attachment_gc.rs); rows from before were all
    //     added here or are treated so.
    "ALTER TABLE attachments ADD COLUMN added_here INTEGER NOT NULL DEFAULT 1;",
];

/// The newest schema version this build knows.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// The schema version recorded in the database.
pub fn current_version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))?)
}

/// Migrates the database up to `target` (at most [`LATEST`]).
pub fn migrate(conn: &mut Connection, target: u32) -> Result<(), StoreError> {
    let found = current_version(conn)?;
    if found > LATEST {
        return Err(StoreError::SchemaTooNew {
            found,
            supported: LATEST,
        });
    }
    for version in (found + 1)..=target.min(LATEST) {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[(version - 1) as usize])?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
