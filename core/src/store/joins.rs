//! This device's join requests (migration 10): one row per document it asked to be
//! admitted to, keyed by document, with the direct-message counter that carried the
//! request so the inviter's answer finds its row.

use rusqlite::{params, Connection, OptionalExtension};

use crate::base::ids::{AuthorId, DocumentId};
use crate::base::join::{JoinRefusal, JoinState};
use crate::store::direct::to_i64;
use crate::store::tx::Tx;
use crate::store::StoreError;

/// Records a join request for `document` sent to `inviter` as direct message `counter`,
/// replacing an earlier one (a repeated join asks again).
pub fn save(
    tx: &Tx<'_>,
    document: DocumentId,
    inviter: &AuthorId,
    counter: u64,
    requested_at_ms: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO join_requests (document, inviter, counter, requested_at,
         delivered, refused) VALUES (?1, ?2, ?3, ?4, 0, NULL)",
    )?
    .execute(params![
        document.as_bytes(),
        inviter.as_bytes(),
        to_i64(counter)?,
        requested_at_ms
    ])?;
    Ok(())
}

/// The join request for `document`, if this device made one.
pub fn get(conn: &Connection, document: DocumentId) -> Result<Option<JoinState>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT inviter, requested_at, delivered, refused FROM join_requests
             WHERE document = ?1",
        )?
        .query_row([document.as_bytes()], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, Option<u8>>(3)?,
            ))
        })
        .optional()?;
    row.map(|(inviter, requested_at_ms, delivered, refused)| {
        Ok(JoinState {
            inviter: AuthorId::from_slice(&inviter)
                .map_err(|e| StoreError::Corrupt(format!("join request inviter: {e}")))?,
            requested_at_ms,
            delivered,
            refused: refused.map(JoinRefusal::from_code),
        })
    })
    .transpose()
}

/// `inviter` acknowledged our direct messages up to `counter`: the join requests among them
/// were delivered. `refused` is its refusal of the one at exactly `counter`. Returns the
/// document of that refused request, if one was recorded.
pub fn answered(
    tx: &Tx<'_>,
    inviter: &AuthorId,
    counter: u64,
    refused: Option<JoinRefusal>,
) -> Result<Option<DocumentId>, StoreError> {
    let counter = to_i64(counter)?;
    tx.prepare_cached(
        "UPDATE join_requests SET delivered = 1 WHERE inviter = ?1 AND counter <= ?2",
    )?
    .execute(params![inviter.as_bytes(), counter])?;
    let Some(reason) = refused else {
        return Ok(None);
    };
    let document = tx
        .prepare_cached(
            "UPDATE join_requests SET refused = ?3 WHERE inviter = ?1 AND counter = ?2
             RETURNING document",
        )?
        .query_row(params![inviter.as_bytes(), counter, reason.code()], |r| {
            r.get::<_, Vec<u8>>(0)
        })
        .optional()?;
    document
        .map(|d| {
            DocumentId::from_slice(&d)
                .map_err(|e| StoreError::Corrupt(format!("join request document: {e}")))
        })
        .transpose()
}

/// Forgets the join request of a deleted document.
pub fn delete_document(tx: &Tx<'_>, document: DocumentId) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM join_requests WHERE document = ?1",
        [document.as_bytes()],
    )?;
    Ok(())
}
