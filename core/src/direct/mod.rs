//! Direct, end-to-end encrypted messages between two devices.
//!
//! Each pair of devices shares one ratchet session ([`session`]: p2panda-encryption's 2SM,
//! X3DH for the first message, then a fresh HPKE key pair per message in each direction).
//! Messages are numbered per (sender, recipient) from 1, signed by the sender's Ed25519 key
//! ([`Envelope`]), and opened strictly in order: a replay or a gap is refused with a typed
//! [`DirectError`] and leaves the session untouched. Sealed messages stay in the
//! `direct_outbox` table until the recipient acknowledges them, and the network layer
//! (`fieldsync/direct/2`) resends them in order, so a lost packet never desynchronises the
//! ratchet. Session state lives in the `ratchet_sessions` table and survives restarts.
//!
//! FieldSync uses them for **joining**: an invite carries the inviter's key bundle and a
//! one-off token; the joining device sends a [`DirectPayload::JoinRequest`] with its own key bundle,
//! and the inviter's node adds it to the document's group without the app having to move key
//! bundles around. Apps can send their own payloads with `Node::send_direct` and receive
//! them as [`crate::Event::DirectMessage`].

mod envelope;
mod error;
pub(crate) mod payload;
pub(crate) mod session;

pub use crate::wire::invite::TOKEN_LEN;
pub use envelope::Envelope;
pub use error::DirectError;
pub use payload::DirectPayload;

use crate::base::ids::{AuthorId, DocumentId};

/// What an invite of an encrypted document carries: this device's key bundle and a token.
pub(crate) type InviteCredentials = (Vec<u8>, Vec<u8>);

/// A direct message opened by `Node::receive_direct`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedDirect {
    /// The verified sender.
    pub from: AuthorId,
    /// Its position in the sender's stream to this device.
    pub counter: u64,
    /// The content.
    pub payload: DirectPayload,
    /// For a join request: the document the sender was added to (None if it already was a
    /// member, or if adding failed; see the log).
    pub admitted: Option<DocumentId>,
}
