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

pub(crate) fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("counter {v} out of range")))
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative counter {v}")))
}

/// The session with `peer`, if one exists.
pub fn session(conn: &Connection, peer: &AuthorId) -> Result<Option<SessionRow>, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT fs_open('ratchet_sessions.state', state, peer), sent, received
             FROM ratchet_sessions WHERE peer = ?1",
        )?
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
         VALUES (?1, fs_seal('ratchet_sessions.state', ?2, ?1), ?3, ?4, ?5)
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
        "INSERT INTO direct_outbox (peer, counter, envelope, created_at)
         VALUES (?1, ?2, fs_seal('direct_outbox.envelope', ?3, ?1, ?2), ?4)",
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
        "SELECT counter, fs_open('direct_outbox.envelope', envelope, peer, counter)
         FROM direct_outbox WHERE peer = ?1 ORDER BY counter",
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
pub fn save_invite(
    conn: &Tx<'_>,
    token_hash: &[u8; 32],
    document: DocumentId,
    expires_at_ms: i64,
    max_uses: u32,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO invites (token, document, created_at, expires_at, max_uses)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (token) DO UPDATE SET expires_at = excluded.expires_at,
             max_uses = excluded.max_uses
         WHERE document = excluded.document",
    )?
    .execute(params![
        token_hash.as_slice(),
        document.as_bytes(),
        now_millis(),
        expires_at_ms,
        max_uses
    ])?;
    Ok(())
}

/// Why an invite admits nobody (any more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InviteState {
    /// Not issued for this document (or issued before invites were recorded).
    Unknown,
    /// Revoked by an admin.
    Revoked,
    /// Past its expiry.
    Expired,
    /// Admitted as many devices as it allows.
    UsedUp,
    /// It admits: this use was counted.
    Used,
}

/// Counts a use of the invite recorded under `token_hash` for `document` if it is live;
/// otherwise says why not.
pub fn use_invite(
    conn: &Tx<'_>,
    token_hash: &[u8; 32],
    document: DocumentId,
) -> Result<InviteState, StoreError> {
    let row = conn
        .prepare_cached(
            "SELECT uses, revoked, expires_at, max_uses FROM invites
             WHERE token = ?1 AND document = ?2",
        )?
        .query_row(params![token_hash.as_slice(), document.as_bytes()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((uses, revoked, expires_at, max_uses)) = row else {
        return Ok(InviteState::Unknown);
    };
    if revoked {
        return Ok(InviteState::Revoked);
    }
    if expires_at <= now_millis() {
        return Ok(InviteState::Expired);
    }
    if uses >= max_uses {
        return Ok(InviteState::UsedUp);
    }
    conn.prepare_cached("UPDATE invites SET uses = uses + 1 WHERE token = ?1 AND document = ?2")?
        .execute(params![token_hash.as_slice(), document.as_bytes()])?;
    Ok(InviteState::Used)
}

/// Revokes every invite of `document`; returns how many were live.
pub fn revoke_invites(conn: &Tx<'_>, document: DocumentId) -> Result<usize, StoreError> {
    Ok(conn
        .prepare_cached("UPDATE invites SET revoked = 1 WHERE document = ?1 AND revoked = 0")?
        .execute([document.as_bytes()])?)
}

/// Counts a use of the invite recorded under `token_hash` made by another admin's node
/// (recording the use if the invite's record has not arrived yet).
pub fn spend_invite(
    conn: &Tx<'_>,
    token_hash: &[u8; 32],
    document: DocumentId,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO invites (token, document, created_at, uses) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (token) DO UPDATE SET uses = uses + 1 WHERE document = excluded.document",
    )?
    .execute(params![
        token_hash.as_slice(),
        document.as_bytes(),
        now_millis()
    ])?;
    Ok(())
}

/// Revokes the invite recorded under `token_hash` (recording it revoked if it is not known
/// yet, so that a record arriving later stays revoked).
pub fn revoke_invite(
    conn: &Tx<'_>,
    token_hash: &[u8; 32],
    document: DocumentId,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO invites (token, document, created_at, revoked) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (token) DO UPDATE SET revoked = 1 WHERE document = excluded.document",
    )?
    .execute(params![
        token_hash.as_slice(),
        document.as_bytes(),
        now_millis()
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use p2panda_core::SigningKey;

    use super::*;
    use crate::store::test_support::{open, write};
    use crate::store::Store;

    fn peer() -> AuthorId {
        AuthorId::from(SigningKey::generate().verifying_key())
    }

    fn row(state: &[u8], sent: u64, received: u64) -> SessionRow {
        SessionRow {
            state: state.to_vec(),
            sent,
            received,
        }
    }

    fn session_parts(store: &Store, peer: &AuthorId) -> Option<(Vec<u8>, u64, u64)> {
        session(store.conn(), peer)
            .unwrap()
            .map(|s| (s.state, s.sent, s.received))
    }

    fn counters(store: &Store, peer: &AuthorId) -> Vec<u64> {
        outgoing(store.conn(), peer)
            .unwrap()
            .into_iter()
            .map(|(c, _)| c)
            .collect()
    }

    #[test]
    fn a_session_is_absent_until_saved_then_round_trips() {
        let (_dir, mut store) = open();
        let p = peer();
        assert_eq!(session_parts(&store, &p), None);
        write(&mut store, |tx| {
            save_session(tx, &p, &row(b"2sm", 3, 5)).unwrap()
        });
        assert_eq!(session_parts(&store, &p), Some((b"2sm".to_vec(), 3, 5)));
    }

    #[test]
    fn saving_a_session_again_replaces_state_and_counters() {
        let (_dir, mut store) = open();
        let p = peer();
        write(&mut store, |tx| {
            save_session(tx, &p, &row(b"old", 1, 1)).unwrap()
        });
        write(&mut store, |tx| {
            save_session(tx, &p, &row(b"new", 9, 0)).unwrap()
        });
        assert_eq!(session_parts(&store, &p), Some((b"new".to_vec(), 9, 0)));
    }

    #[test]
    fn sessions_are_kept_per_peer() {
        let (_dir, mut store) = open();
        let (a, b) = (peer(), peer());
        write(&mut store, |tx| {
            save_session(tx, &a, &row(b"a", 1, 2)).unwrap();
            save_session(tx, &b, &row(b"b", 3, 4)).unwrap();
        });
        assert_eq!(session_parts(&store, &a), Some((b"a".to_vec(), 1, 2)));
        assert_eq!(session_parts(&store, &b), Some((b"b".to_vec(), 3, 4)));
    }

    #[test]
    fn counters_up_to_i64_max_are_stored_and_larger_ones_refused() {
        let (_dir, mut store) = open();
        let p = peer();
        let max = i64::MAX as u64;
        write(&mut store, |tx| {
            save_session(tx, &p, &row(b"s", max, max)).unwrap()
        });
        assert_eq!(session_parts(&store, &p), Some((b"s".to_vec(), max, max)));

        let tx = store.transaction().unwrap();
        assert!(matches!(
            save_session(&tx, &p, &row(b"t", max + 1, 0)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            save_session(&tx, &p, &row(b"t", 0, u64::MAX)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(push_outgoing(&tx, &p, max + 1, b"m").is_err());
        assert!(acknowledge(&tx, &p, u64::MAX).is_err());
        tx.commit().unwrap();
        assert_eq!(session_parts(&store, &p), Some((b"s".to_vec(), max, max)));
        assert!(counters(&store, &p).is_empty());
    }

    #[test]
    fn a_negative_stored_counter_is_reported_corrupt() {
        let (_dir, mut store) = open();
        let p = peer();
        write(&mut store, |tx| {
            tx.execute(
                "INSERT INTO ratchet_sessions (peer, state, sent, received, updated_at)
                 VALUES (?1, x'00', -1, 0, 0)",
                [p.as_bytes()],
            )
            .unwrap()
        });
        assert!(matches!(
            session(store.conn(), &p),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn queued_messages_are_listed_in_counter_order_with_their_envelopes() {
        let (_dir, mut store) = open();
        let p = peer();
        write(&mut store, |tx| {
            for counter in [3u64, 1, 2] {
                push_outgoing(tx, &p, counter, &[counter as u8; 4]).unwrap();
            }
        });
        assert_eq!(
            outgoing(store.conn(), &p).unwrap(),
            vec![(1, vec![1; 4]), (2, vec![2; 4]), (3, vec![3; 4])]
        );
        assert!(outgoing(store.conn(), &peer()).unwrap().is_empty());
    }

    #[test]
    fn queuing_a_counter_twice_is_refused_and_keeps_the_first_envelope() {
        let (_dir, mut store) = open();
        let p = peer();
        write(&mut store, |tx| push_outgoing(tx, &p, 1, b"first").unwrap());
        {
            let tx = store.transaction().unwrap();
            assert!(push_outgoing(&tx, &p, 1, b"second").is_err());
        }
        assert_eq!(
            outgoing(store.conn(), &p).unwrap(),
            vec![(1, b"first".to_vec())]
        );
    }

    #[test]
    fn a_message_queued_in_a_dropped_transaction_is_not_kept() {
        let (_dir, mut store) = open();
        let p = peer();
        {
            let tx = store.transaction().unwrap();
            push_outgoing(&tx, &p, 1, b"m").unwrap();
        }
        assert!(counters(&store, &p).is_empty());
        assert!(peers_with_outgoing(store.conn()).unwrap().is_empty());
    }

    #[test]
    fn acknowledging_drops_messages_up_to_and_including_the_counter() {
        let (_dir, mut store) = open();
        let p = peer();
        write(&mut store, |tx| {
            for counter in 1..=4 {
                push_outgoing(tx, &p, counter, b"m").unwrap();
            }
        });
        assert_eq!(write(&mut store, |tx| acknowledge(tx, &p, 2).unwrap()), 2);
        assert_eq!(counters(&store, &p), vec![3, 4]);
        // An old acknowledgement again: nothing left to drop.
        assert_eq!(write(&mut store, |tx| acknowledge(tx, &p, 2).unwrap()), 0);
        assert_eq!(write(&mut store, |tx| acknowledge(tx, &p, 0).unwrap()), 0);
        // Beyond the last queued counter: everything.
        assert_eq!(write(&mut store, |tx| acknowledge(tx, &p, 10).unwrap()), 2);
        assert!(counters(&store, &p).is_empty());
        assert!(peers_with_outgoing(store.conn()).unwrap().is_empty());
    }

    #[test]
    fn acknowledging_one_peer_leaves_other_peers_queues_alone() {
        let (_dir, mut store) = open();
        let (a, b) = (peer(), peer());
        write(&mut store, |tx| {
            for counter in 1..=3 {
                push_outgoing(tx, &a, counter, b"a").unwrap();
                push_outgoing(tx, &b, counter, b"b").unwrap();
            }
        });
        assert_eq!(write(&mut store, |tx| acknowledge(tx, &a, 5).unwrap()), 3);
        assert_eq!(
            write(&mut store, |tx| acknowledge(tx, &peer(), 5).unwrap()),
            0
        );
        assert!(counters(&store, &a).is_empty());
        assert_eq!(counters(&store, &b), vec![1, 2, 3]);
        assert_eq!(peers_with_outgoing(store.conn()).unwrap(), vec![b]);
    }

    #[test]
    fn peers_with_outgoing_lists_each_waiting_peer_once() {
        let (_dir, mut store) = open();
        let (a, b) = (peer(), peer());
        write(&mut store, |tx| {
            push_outgoing(tx, &a, 1, b"m").unwrap();
            push_outgoing(tx, &a, 2, b"m").unwrap();
            push_outgoing(tx, &b, 7, b"m").unwrap();
        });
        let mut peers = peers_with_outgoing(store.conn()).unwrap();
        peers.sort();
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(peers, expected);
    }

    const DAY: i64 = 24 * 3600 * 1000;

    fn issue(store: &mut Store, token: &[u8; 32], doc: DocumentId, expires_at: i64, max: u32) {
        write(store, |tx| {
            save_invite(tx, token, doc, expires_at, max).unwrap()
        });
    }

    fn try_use(store: &mut Store, token: &[u8; 32], doc: DocumentId) -> InviteState {
        write(store, |tx| use_invite(tx, token, doc).unwrap())
    }

    #[test]
    fn an_invite_admits_for_its_document_only_until_its_uses_run_out() {
        let (_dir, mut store) = open();
        let (doc, other) = (DocumentId::random(), DocumentId::random());
        let later = now_millis() + DAY;
        issue(&mut store, &[1; 32], doc, later, 2);
        assert_eq!(try_use(&mut store, &[1; 32], other), InviteState::Unknown);
        assert_eq!(try_use(&mut store, &[2; 32], doc), InviteState::Unknown);
        assert_eq!(try_use(&mut store, &[1; 32], doc), InviteState::Used);
        assert_eq!(try_use(&mut store, &[1; 32], doc), InviteState::Used);
        assert_eq!(try_use(&mut store, &[1; 32], doc), InviteState::UsedUp);
    }

    #[test]
    fn an_expired_invite_admits_nobody() {
        let (_dir, mut store) = open();
        let doc = DocumentId::random();
        issue(&mut store, &[1; 32], doc, now_millis() - 1, 5);
        assert_eq!(try_use(&mut store, &[1; 32], doc), InviteState::Expired);
    }

    #[test]
    fn revoking_disables_every_invite_of_the_document_only_and_sticks() {
        let (_dir, mut store) = open();
        let (doc, other) = (DocumentId::random(), DocumentId::random());
        let later = now_millis() + DAY;
        issue(&mut store, &[1; 32], doc, later, 5);
        issue(&mut store, &[2; 32], doc, later, 5);
        issue(&mut store, &[3; 32], other, later, 5);
        assert_eq!(write(&mut store, |tx| revoke_invites(tx, doc).unwrap()), 2);
        assert_eq!(try_use(&mut store, &[1; 32], doc), InviteState::Revoked);
        assert_eq!(try_use(&mut store, &[3; 32], other), InviteState::Used);
        // Issued again (a record arriving twice): still revoked.
        issue(&mut store, &[1; 32], doc, later, 5);
        assert_eq!(try_use(&mut store, &[1; 32], doc), InviteState::Revoked);
        // A revocation that arrives before the invite's record keeps it revoked.
        write(&mut store, |tx| revoke_invite(tx, &[4; 32], doc).unwrap());
        issue(&mut store, &[4; 32], doc, later, 5);
        assert_eq!(try_use(&mut store, &[4; 32], doc), InviteState::Revoked);
    }

    #[test]
    fn a_use_in_a_dropped_transaction_is_not_counted() {
        let (_dir, mut store) = open();
        let document = DocumentId::random();
        issue(&mut store, &[1; 32], document, now_millis() + DAY, 1);
        {
            let tx = store.transaction().unwrap();
            assert_eq!(
                use_invite(&tx, &[1; 32], document).unwrap(),
                InviteState::Used
            );
        }
        assert_eq!(try_use(&mut store, &[1; 32], document), InviteState::Used);
    }
}
