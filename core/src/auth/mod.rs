//! Authorization: who may do what in a document.
//!
//! Every document (but the legacy ones, see below) has roles, kept by `p2panda-auth`'s group
//! CRDT with its strong-remove resolver, fed from signed *auth operations* in the control
//! logs (control body tag [`crate::wire::body::CONTROL_AUTH`]):
//!
//! - [`Role::Admin`] adds and removes members and changes roles; the creator is the first.
//! - [`Role::Writer`] writes document updates (and reads them).
//! - [`Role::Reader`] reads: it holds the group secret but its updates are refused.
//! - [`Role::Relay`] stores and forwards the document's ciphertext: it syncs the logs but
//!   holds no secret and writes nothing.
//!
//! **Genesis.** A document id is derived from its creator's key and a random nonce
//! ([`genesis::document_id`]); the creator's first control operation is the auth "create"
//! carrying that nonce. Nobody else can produce a create that derives the same id, so every
//! replica agrees on who the first admin is, from the bytes alone.
//!
//! **Concurrent changes** resolve as `p2panda-auth`'s strong remove does: removing (or
//! demoting) an admin invalidates that admin's concurrent changes; two admins removing each
//! other concurrently are both removed; a re-add is allowed. The result depends only on the
//! set of auth operations, not on the order they arrived in.
//!
//! **Removal revokes writing.** A removal (or a demotion below writer) carries the highest
//! seq of the member's document log that the remover held: that member's later updates are
//! refused on every replica, while the ones the remover had seen stay. (Concurrent updates
//! the remover had not seen are refused too: the remover's view is the boundary.)

pub(crate) mod error;
pub(crate) mod genesis;
pub(crate) mod invite;
pub(crate) mod op;
pub(crate) mod role;
pub(crate) mod state;

pub use error::AuthError;
pub use role::Role;
