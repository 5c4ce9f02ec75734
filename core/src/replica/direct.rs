//! The replica's side of direct messages: sealing into and opening from the ratchet
//! sessions stored with the node, and admitting devices that present an invite token (see
//! [`crate::direct`] for the protocol).

use crate::auth::invite::{token_hash, InviteAction, InviteRecord, INVITE_RECORD_VERSION};
use crate::auth::Role;
use crate::base::events::Event;
use crate::base::ids::{AuthorId, DocumentId};
use crate::base::join::{JoinRefusal, JoinState};
use crate::base::log::LogKind;
use crate::crypto::KeyBundle;
use crate::direct::{payload, session};
use crate::direct::{
    DirectError, DirectPayload, Envelope, InviteCredentials, ReceivedDirect, TOKEN_LEN,
};
use crate::document::DocumentError;
use crate::replica::authz::doc_auth;
use crate::replica::keyring::control_body;
use crate::replica::Replica;
use crate::store::direct::InviteState;
use crate::store::now_millis;
use crate::store::{direct as table, joins, keys, StoreError};
use crate::wire::body::CONTROL_INVITE;
use crate::wire::operation::FsOperation;

impl Replica {
    /// Seals `payload` for `to`, stores the session and queues the envelope; returns the
    /// envelope's counter.
    pub(crate) fn seal_direct(
        &self,
        to: AuthorId,
        payload: &DirectPayload,
    ) -> Result<u64, DirectError> {
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
            st.keys.device_keys().manager(),
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
        tx.commit().map_err(StoreError::from)?;
        Ok(counter)
    }

    /// Opens a direct message; see [`Node::receive_direct`].
    pub(crate) fn receive_direct(&self, bytes: &[u8]) -> Result<ReceivedDirect, DirectError> {
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
                st.keys.device_keys().manager(),
                &envelope.sealed,
            )?;
            let payload = payload::decode(&plaintext, &from, &me, envelope.counter)?;
            // The message is authentic and in order: the session advances even if its content
            // is refused below, so that one refused request does not block the messages after
            // it (the refusal is still returned).
            let join = match &payload {
                DirectPayload::JoinRequest {
                    document,
                    token,
                    key_bundle,
                } => (|| {
                    let bundle = KeyBundle::from_bytes(key_bundle)?;
                    if bundle.owner() != from.verifying_key() {
                        return Err(DirectError::ForeignKeyBundle);
                    }
                    match table::use_invite(&tx, &token_hash(token), *document)? {
                        InviteState::Used => {}
                        InviteState::Unknown => return Err(DirectError::UnknownInvite(*document)),
                        InviteState::Revoked => return Err(DirectError::InviteRevoked(*document)),
                        InviteState::Expired => return Err(DirectError::InviteExpired(*document)),
                        InviteState::UsedUp => return Err(DirectError::InviteUsedUp(*document)),
                    }
                    keys::save_key_bundle(&tx, &from, key_bundle)?;
                    Ok(Some((*document, bundle, token_hash(token))))
                })()
                // A key bundle that cannot be read is as good as another device's.
                .map_err(|e| match e {
                    DirectError::Crypto(_) => DirectError::ForeignKeyBundle,
                    e => e,
                }),
                DirectPayload::App(_) => Ok(None),
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
            tx.commit().map_err(StoreError::from)?;
            match (&payload, join) {
                (_, Ok(join)) => (payload, join),
                (DirectPayload::JoinRequest { document, .. }, Err(e)) => {
                    self.join_refused_here(*document, from, &e);
                    return Err(e);
                }
                (_, Err(e)) => return Err(e),
            }
        };
        let mut admitted = None;
        match (&payload, join) {
            (DirectPayload::App(bytes), _) => self.emit(Event::DirectMessage {
                from,
                payload: bytes.clone(),
            }),
            (DirectPayload::JoinRequest { .. }, Some((document, bundle, hash))) => {
                match self.admit(document, &bundle) {
                    Ok(true) => {
                        admitted = Some(document);
                        if let Err(e) = self.record_spent_invite(document, hash) {
                            tracing::warn!(%document, "recording an invite's use failed: {e}");
                        }
                        self.emit(Event::MemberJoined {
                            document,
                            member: from,
                        });
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(%document, %from, "admitting a joiner failed: {e}");
                        let e = DirectError::CannotAdmit(document);
                        self.join_refused_here(document, from, &e);
                        return Err(e);
                    }
                }
            }
            (DirectPayload::JoinRequest { .. }, None) => {}
        }
        Ok(ReceivedDirect {
            from,
            counter: envelope.counter,
            payload,
            admitted,
        })
    }

    /// For an invite of `document`: this device's key bundle and a fresh token, or None when
    /// there is nothing to join by request: this device cannot admit anyone (not an admin of
    /// a document with roles, or no longer in the group of an encrypted one; legacy plain
    /// documents have no admission). The invite is recorded here and, for a document with
    /// roles, published in the control log (its token's hash, expiry and use limit) so that
    /// every admin's node honours it and its revocation. Returns the operation to publish.
    pub(crate) fn invite_credentials(
        &self,
        document: DocumentId,
        valid_for: std::time::Duration,
        max_uses: u32,
    ) -> Result<Option<(InviteCredentials, Option<FsOperation>)>, DirectError> {
        let mut guard = self.lock();
        let st = &mut *guard;
        let legacy = self.is_legacy(st, document)?;
        let admin = !legacy && doc_auth(st, document)?.role_of(&self.author()) == Some(Role::Admin);
        let plain = self.is_plain(st.store.conn(), document)?;
        let can_admit = if plain {
            admin
        } else {
            self.is_group_member(st, document)? && (legacy || admin)
        };
        if !can_admit {
            return Ok(None);
        }
        let bundle = st.keys.device_keys().key_bundle()?.to_bytes()?;
        let token: [u8; TOKEN_LEN] = rand::random();
        let hash = token_hash(&token);
        let expires_at_ms =
            now_millis().saturating_add(i64::try_from(valid_for.as_millis()).unwrap_or(i64::MAX));
        let tx = st.store.transaction()?;
        table::save_invite(&tx, &hash, document, expires_at_ms, max_uses)?;
        tx.commit().map_err(StoreError::from)?;
        let op = if legacy {
            None
        } else {
            let record = InviteRecord {
                v: INVITE_RECORD_VERSION,
                action: InviteAction::Issue {
                    token_hash: hash,
                    expires_at_ms,
                    max_uses,
                },
            };
            let body = control_body(CONTROL_INVITE, &record.encode());
            Some(self.append_own(st, document, LogKind::Control, body)?)
        };
        Ok(Some(((bundle, token.to_vec()), op)))
    }

    /// Queues a join request to the inviter of `invite` if it carries a key bundle and a
    /// token. Returns true if one was queued.
    pub(crate) fn request_join(&self, invite: &crate::wire::Invite) -> Result<bool, DirectError> {
        let (Some(bundle), Some(token)) = (&invite.key_bundle, &invite.token) else {
            return Ok(false);
        };
        KeyBundle::from_bytes_for(invite.node.verifying_key(), bundle)?;
        let ours = {
            let mut st = self.lock();
            let tx = st.store.transaction()?;
            keys::save_key_bundle(&tx, &invite.node, bundle)?;
            tx.commit().map_err(StoreError::from)?;
            st.keys.key_bundle()?
        };
        let counter = self.seal_direct(
            invite.node,
            &DirectPayload::JoinRequest {
                document: invite.document,
                token: token.clone(),
                key_bundle: ours,
            },
        )?;
        let mut st = self.lock();
        let tx = st.store.transaction()?;
        joins::save(&tx, invite.document, &invite.node, counter, now_millis())?;
        tx.commit().map_err(StoreError::from)?;
        Ok(true)
    }

    /// This device's join request for `document`, if it made one.
    pub(crate) fn join_state(
        &self,
        document: DocumentId,
    ) -> Result<Option<JoinState>, DirectError> {
        Ok(joins::get(self.lock().store.conn(), document)?)
    }

    /// Reports a join request this device refused (as the inviter).
    fn join_refused_here(&self, document: DocumentId, requester: AuthorId, e: &DirectError) {
        if let Some(reason) = e.join_refusal() {
            tracing::info!(%document, %requester, "join request refused: {reason}");
            self.emit(Event::JoinRefused {
                document,
                requester,
                inviter: self.author(),
                reason,
            });
        }
    }

    /// Tells the other admins that an invite admitted a device (documents with roles).
    fn record_spent_invite(&self, document: DocumentId, hash: [u8; 32]) -> Result<(), DirectError> {
        let op = {
            let mut guard = self.lock();
            let st = &mut *guard;
            if self.is_legacy(st, document)? {
                return Ok(());
            }
            let record = InviteRecord {
                v: INVITE_RECORD_VERSION,
                action: InviteAction::Spend { token_hash: hash },
            };
            let body = control_body(CONTROL_INVITE, &record.encode());
            self.append_own(st, document, LogKind::Control, body)?
        };
        self.publish_local(document, op);
        Ok(())
    }

    /// Revokes every invite issued for `document` so far: join requests presenting them are
    /// refused. For a document with roles only an admin may, and the revocation is a control
    /// operation every admin's node honours. Returns how many live invites this node knew.
    pub(crate) fn revoke_invites(&self, document: DocumentId) -> Result<usize, DirectError> {
        let (n, op) = {
            let mut guard = self.lock();
            let st = &mut *guard;
            let legacy = self.is_legacy(st, document)?;
            if !legacy {
                self.require_role(st, document, Role::Admin)
                    .map_err(|e| match e {
                        DocumentError::NotAllowed(a) => DirectError::NotAllowed(a),
                        DocumentError::Store(s) => DirectError::Store(s),
                        other => DirectError::Malformed(other.to_string()),
                    })?;
            }
            let tx = st.store.transaction()?;
            let n = table::revoke_invites(&tx, document)?;
            tx.commit().map_err(StoreError::from)?;
            let op = if legacy {
                None
            } else {
                let record = InviteRecord {
                    v: INVITE_RECORD_VERSION,
                    action: InviteAction::Revoke { token_hash: None },
                };
                let body = control_body(CONTROL_INVITE, &record.encode());
                Some(self.append_own(st, document, LogKind::Control, body)?)
            };
            (n, op)
        };
        if let Some(op) = op {
            self.publish_local(document, op);
        }
        Ok(n)
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

    /// `peer` acknowledged our messages up to `counter`; `refused` is its refusal of the
    /// join request that message `counter` carried (reported as [`Event::JoinRefused`]).
    pub(crate) fn acknowledge_direct(
        &self,
        peer: &AuthorId,
        counter: u64,
        refused: Option<JoinRefusal>,
    ) -> Result<usize, DirectError> {
        let (n, refused_document) = {
            let mut st = self.lock();
            let tx = st.store.transaction()?;
            let n = table::acknowledge(&tx, peer, counter)?;
            let document = joins::answered(&tx, peer, counter, refused)?;
            tx.commit().map_err(StoreError::from)?;
            (n, document)
        };
        if let (Some(document), Some(reason)) = (refused_document, refused) {
            tracing::info!(%document, inviter = %peer, "our join request was refused: {reason}");
            self.emit(Event::JoinRefused {
                document,
                requester: self.author(),
                inviter: *peer,
                reason,
            });
        }
        Ok(n)
    }
}
