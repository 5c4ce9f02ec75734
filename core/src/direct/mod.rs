//! Direct, end-to-end encrypted messages between two devices.
//!
//! Each pair of devices shares one ratchet session ([`session`]: p2panda-encryption's 2SM,
//! X3DH for the first message, then a fresh HPKE key pair per message in each direction).
//! Messages are numbered per (sender, recipient) from 1, signed by the sender's Ed25519 key
//! ([`Envelope`]), and opened strictly in order: a replay or a gap is refused with a typed
//! [`DirectError`] and leaves the session untouched. Sealed messages stay in the
//! `direct_outbox` table until the recipient acknowledges them, and the network layer
//! (`fieldsync/direct/1`) resends them in order, so a lost packet never desynchronises the
//! ratchet. Session state lives in the `ratchet_sessions` table and survives restarts.
//!
//! FieldSync uses them for **joining**: an invite carries the inviter's key bundle and a
//! one-off token; the joining device sends a [`Payload::JoinRequest`] with its own key bundle,
//! and the inviter's node adds it to the document's group without the app having to move key
//! bundles around. Apps can send their own payloads with [`Node::send_direct`] and receive
//! them as [`crate::Event::DirectMessage`].

mod envelope;
mod error;
mod payload;
mod session;

pub use envelope::Envelope;
pub use error::DirectError;
pub use payload::{Payload, TOKEN_LEN};

use crate::crypto::KeyBundle;
use crate::events::Event;
use crate::ids::{AuthorId, DocumentId};
use crate::node::{Node, NodeInner};
use crate::store::{direct as table, keys};

/// What an invite of an encrypted document carries: this device's key bundle and a token.
pub(crate) type InviteCredentials = (Vec<u8>, Vec<u8>);

/// A direct message opened by [`Node::receive_direct`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The verified sender.
    pub from: AuthorId,
    /// Its position in the sender's stream to this device.
    pub counter: u64,
    /// The content.
    pub payload: Payload,
    /// For a join request: the document the sender was added to (None if it already was a
    /// member, or if adding failed; see the log).
    pub admitted: Option<DocumentId>,
}

impl NodeInner {
    /// Seals `payload` for `to`, stores the session and queues the envelope; returns the
    /// envelope's counter.
    pub(crate) fn seal_direct(&self, to: AuthorId, payload: &Payload) -> Result<u64, DirectError> {
        let me = self.identity.author();
        if to == me {
            return Err(DirectError::NotForUs(to));
        }
        let mut guard = self.lock();
        let st = &mut *guard;
        let tx = st.store.transaction()?;
        let row = table::session(&tx, &to)?;
        let bundle = match &row {
            Some(_) => None,
            None => {
                let bytes = keys::key_bundle(&tx, &to)?.ok_or(DirectError::NoKeyBundle(to))?;
                Some(
                    KeyBundle::from_bytes_for(to.verifying_key(), &bytes)?
                        .inner()
                        .clone(),
                )
            }
        };
        let (sent, received) = row.as_ref().map_or((0, 0), |r| (r.sent, r.received));
        let counter = sent + 1;
        let plaintext = payload::encode(&me, &to, counter, payload);
        let (state, sealed) = session::seal(
            row.as_ref().map(|r| r.state.as_slice()),
            bundle,
            st.crypto.device_keys().manager(),
            &plaintext,
        )?;
        let envelope = Envelope {
            from: me,
            to,
            counter,
            sealed,
        }
        .seal(self.identity.signing_key());
        table::save_session(
            &tx,
            &to,
            &table::SessionRow {
                state,
                sent: counter,
                received,
            },
        )?;
        table::push_outgoing(&tx, &to, counter, &envelope)?;
        tx.commit().map_err(crate::error::StoreError::from)?;
        Ok(counter)
    }

    /// Opens a direct message; see [`Node::receive_direct`].
    pub(crate) fn receive_direct(&self, bytes: &[u8]) -> Result<Received, DirectError> {
        let max = self.config.max_operation_bytes;
        if bytes.len() > max {
            return Err(DirectError::TooLarge {
                size: bytes.len(),
                max,
            });
        }
        let envelope = Envelope::open(bytes)?;
        let me = self.identity.author();
        if envelope.to != me {
            return Err(DirectError::NotForUs(envelope.to));
        }
        let from = envelope.from;
        let (payload, join) = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let tx = st.store.transaction()?;
            let row = table::session(&tx, &from)?;
            let last = row.as_ref().map_or(0, |r| r.received);
            if envelope.counter <= last {
                return Err(DirectError::Replayed {
                    from,
                    counter: envelope.counter,
                    last,
                });
            }
            if envelope.counter > last + 1 {
                return Err(DirectError::OutOfOrder {
                    from,
                    counter: envelope.counter,
                    expected: last + 1,
                });
            }
            let (state, plaintext) = session::open(
                row.as_ref().map(|r| r.state.as_slice()),
                st.crypto.device_keys().manager(),
                &envelope.sealed,
            )?;
            let payload = payload::decode(&plaintext, &from, &me, envelope.counter)?;
            // The message is authentic and in order: the session advances even if its content
            // is refused below, so that one refused request does not block the messages after
            // it (the refusal is still returned).
            let join = match &payload {
                Payload::JoinRequest {
                    document,
                    token,
                    key_bundle,
                } => (|| {
                    let bundle = KeyBundle::from_bytes(key_bundle)?;
                    if bundle.owner() != from.verifying_key() {
                        return Err(DirectError::ForeignKeyBundle);
                    }
                    if !table::use_invite(&tx, token, *document)? {
                        return Err(DirectError::UnknownInvite(*document));
                    }
                    keys::save_key_bundle(&tx, &from, key_bundle)?;
                    Ok(Some((*document, bundle)))
                })(),
                Payload::App(_) => Ok(None),
            };
            table::save_session(
                &tx,
                &from,
                &table::SessionRow {
                    state,
                    sent: row.as_ref().map_or(0, |r| r.sent),
                    received: envelope.counter,
                },
            )?;
            tx.commit().map_err(crate::error::StoreError::from)?;
            (payload, join?)
        };
        let mut admitted = None;
        match (&payload, join) {
            (Payload::App(bytes), _) => self.emit(Event::DirectMessage {
                from,
                payload: bytes.clone(),
            }),
            (Payload::JoinRequest { .. }, Some((document, bundle))) => {
                match self.admit(document, &bundle) {
                    Ok(true) => {
                        admitted = Some(document);
                        self.emit(Event::MemberJoined {
                            document,
                            member: from,
                        });
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(%document, %from, "admitting a joiner failed: {e}"),
                }
            }
            (Payload::JoinRequest { .. }, None) => {}
        }
        Ok(Received {
            from,
            counter: envelope.counter,
            payload,
            admitted,
        })
    }

    /// For an invite of `document`: this device's key bundle and a fresh recorded token, or
    /// None when there is nothing to join by request (plain document, or not a member).
    pub(crate) fn invite_credentials(
        &self,
        document: DocumentId,
    ) -> Result<Option<InviteCredentials>, DirectError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let conn = st.store.conn();
        if self.is_plain(conn, document)? || !self.is_group_member(st, document)? {
            return Ok(None);
        }
        let bundle = st.crypto.device_keys().key_bundle()?.to_bytes()?;
        let token: [u8; TOKEN_LEN] = rand::random();
        table::save_invite(st.store.conn(), &token, document)?;
        Ok(Some((bundle, token.to_vec())))
    }

    /// Queues a join request to the inviter of `invite` if it carries a key bundle and a
    /// token. Returns true if one was queued.
    pub(crate) fn request_join(&self, invite: &crate::net::Invite) -> Result<bool, DirectError> {
        let (Some(bundle), Some(token)) = (&invite.key_bundle, &invite.token) else {
            return Ok(false);
        };
        KeyBundle::from_bytes_for(invite.node.verifying_key(), bundle)?;
        let ours = {
            let st = self.lock();
            keys::save_key_bundle(st.store.conn(), &invite.node, bundle)?;
            st.crypto.device_keys().key_bundle()?.to_bytes()?
        };
        self.seal_direct(
            invite.node,
            &Payload::JoinRequest {
                document: invite.document,
                token: token.clone(),
                key_bundle: ours,
            },
        )?;
        Ok(true)
    }

    /// Revokes every invite issued for `document`: join requests presenting them are refused.
    pub(crate) fn revoke_invites(&self, document: DocumentId) -> Result<usize, DirectError> {
        Ok(table::revoke_invites(self.lock().store.conn(), document)?)
    }

    /// Sealed messages for `peer` not yet acknowledged: (counter, envelope), oldest first.
    pub(crate) fn outgoing_direct(
        &self,
        peer: &AuthorId,
    ) -> Result<Vec<(u64, Vec<u8>)>, DirectError> {
        Ok(table::outgoing(self.lock().store.conn(), peer)?)
    }

    /// Peers with unacknowledged direct messages.
    pub(crate) fn direct_backlog(&self) -> Result<Vec<AuthorId>, DirectError> {
        Ok(table::peers_with_outgoing(self.lock().store.conn())?)
    }

    /// `peer` acknowledged our messages up to `counter`.
    pub(crate) fn acknowledge_direct(
        &self,
        peer: &AuthorId,
        counter: u64,
    ) -> Result<usize, DirectError> {
        Ok(table::acknowledge(self.lock().store.conn(), peer, counter)?)
    }
}

impl Node {
    /// Sends `payload` to the device `to`, end-to-end encrypted over a ratchet session
    /// (started from `to`'s key bundle, known from an invite or a key bundle announcement).
    /// The message is stored and delivered when the network reaches the peer, in order,
    /// retried until acknowledged; it arrives as [`crate::Event::DirectMessage`].
    /// Returns the message's counter.
    pub fn send_direct(&self, to: AuthorId, payload: &[u8]) -> Result<u64, DirectError> {
        let counter = self
            .inner
            .seal_direct(to, &Payload::App(payload.to_vec()))?;
        self.inner.net.send(crate::net::NetCommand::FlushDirect(to));
        Ok(counter)
    }

    /// Opens a direct message received by any transport (the network layer calls this for
    /// messages arriving over QUIC). Refusals are typed and change nothing: a replay, a gap,
    /// a flipped bit, a message for another device or re-wrapped by another sender.
    pub fn receive_direct(&self, bytes: &[u8]) -> Result<Received, DirectError> {
        self.inner.receive_direct(bytes)
    }

    /// Sealed envelopes for `peer` that it has not acknowledged yet, oldest first: for apps
    /// that carry direct messages over their own transport.
    pub fn pending_direct(&self, peer: AuthorId) -> Result<Vec<Vec<u8>>, DirectError> {
        Ok(self
            .inner
            .outgoing_direct(&peer)?
            .into_iter()
            .map(|(_, e)| e)
            .collect())
    }

    /// Revokes every invite issued for `document`: devices that hold one can no longer join
    /// by request (members already added stay). Returns how many invites were live.
    pub fn revoke_invites(&self, document: DocumentId) -> Result<usize, DirectError> {
        self.inner.revoke_invites(document)
    }

    /// Marks direct messages to `peer` up to `counter` as delivered.
    pub fn acknowledge_direct(&self, peer: AuthorId, counter: u64) -> Result<usize, DirectError> {
        self.inner.acknowledge_direct(&peer, counter)
    }
}
