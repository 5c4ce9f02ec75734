//! Direct-message state (migration 4): ratchet sessions with peer devices, sealed messages
//! waiting for their recipient's acknowledgement, and the invite tokens this node issued.
//!
//! Session states contain secrets (2SM keys) and are stored as they are, like the rest of
//! the key state (see [`crate::store::keys`]).

use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::store::now_millis;
use crate::store::tx::Tx;
use crate::store::StoreError;

/// A stored ratchet session with one peer device.
#[derive(Debug)]
pub struct SessionRow {
    /// Serialized 2SM state.
    pub state: Vec<u8>,
    /// Counter of the last message sealed for the peer (0: none yet).
    pub sent: u64,
    /// Counter of the last message opened from the peer (0: none yet).
    pub received: u64,
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("counter {v} out of range")))
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative counter {v}")))
}

/// The session with `peer`, if one exists.
pub fn session(conn: &Connection, peer: &AuthorId) -> Result<Option<SessionRow>, StoreError> {
    let row = conn
        .prepare_cached("SELECT state, sent, received FROM ratchet_sessions WHERE peer = ?1")?
        .query_row([peer.as_bytes()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    row.map(|(state, sent, received)| {
        Ok(SessionRow {
            state,
            sent: to_u64(sent)?,
            received: to_u64(received)?,
        })
    })
    .transpose()
}

/// Creates or replaces the session with `peer`.
pub fn save_session(conn: &Tx<'_>, peer: &AuthorId, row: &SessionRow) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO ratchet_sessions (peer, state, sent, received, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(peer) DO UPDATE SET state = excluded.state, sent = excluded.sent,
             received = excluded.received, updated_at = excluded.updated_at",
    )?
    .execute(params![
        peer.as_bytes(),
        row.state,
        to_i64(row.sent)?,
        to_i64(row.received)?,
        now_millis()
    ])?;
    Ok(())
}

/// Queues a sealed message for `peer` until it acknowledges `counter`.
pub fn push_outgoing(
    conn: &Tx<'_>,
    peer: &AuthorId,
    counter: u64,
    envelope: &[u8],
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO direct_outbox (peer, counter, envelope, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        peer.as_bytes(),
        to_i64(counter)?,
        envelope,
        now_millis()
    ])?;
    Ok(())
}

/// Unacknowledged messages for `peer`, oldest first: (counter, envelope).
pub fn outgoing(conn: &Connection, peer: &AuthorId) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT counter, envelope FROM direct_outbox WHERE peer = ?1 ORDER BY counter",
    )?;
    let rows = stmt.query_map([peer.as_bytes()], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    rows.map(|r| {
        let (c, e) = r?;
        Ok((to_u64(c)?, e))
    })
    .collect()
}

/// Peers with unacknowledged messages.
pub fn peers_with_outgoing(conn: &Connection) -> Result<Vec<AuthorId>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT peer FROM direct_outbox")?;
    let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
    rows.map(|r| {
        let bytes = r?;
        AuthorId::from_slice(&bytes).map_err(|e| StoreError::Corrupt(format!("peer id: {e}")))
    })
    .collect()
}

/// Drops the messages for `peer` up to and including `counter` (acknowledged).
pub fn acknowledge(conn: &Tx<'_>, peer: &AuthorId, counter: u64) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM direct_outbox WHERE peer = ?1 AND counter <= ?2")?
        .execute(params![peer.as_bytes(), to_i64(counter)?])?)
}

/// Records an invite token issued for `document`.
pub fn save_invite(conn: &Tx<'_>, token: &[u8], document: DocumentId) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO invites (token, document, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![token, document.as_bytes(), now_millis()])?;
    Ok(())
}

/// True if `token` is a live (not revoked) invite of `document`; counts the use.
pub fn use_invite(conn: &Tx<'_>, token: &[u8], document: DocumentId) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "UPDATE invites SET uses = uses + 1
             WHERE token = ?1 AND document = ?2 AND revoked = 0",
        )?
        .execute(params![token, document.as_bytes()])?
        == 1)
}

/// Revokes every invite of `document`; returns how many were live.
pub fn revoke_invites(conn: &Tx<'_>, document: DocumentId) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE invites SET revoked = 1 WHERE document = ?1 AND revoked = 0")?
        .execute([document.as_bytes()])?)
}
