//! End-to-end encryption for FieldSync documents, built on `p2panda-encryption`'s data scheme.
//!
//! - [`DeviceKeys`]: this device's X25519 identity and signed pre-keys (secret, persist it).
//! - [`KeyBundle`]: the publishable pre-key bundle of a device (an operation body).
//! - [`DocumentGroup`]: one document's encryption group. Group operations produce
//!   [`GroupMessage`]s (operation bodies); [`DocumentGroup::encrypt`] /
//!   [`DocumentGroup::decrypt`] turn Loro updates into ciphertext envelopes and back.
//!
//! Everything is byte-oriented: every message is the opaque body of a signed p2panda
//! operation whose author is the device's Ed25519 [`p2panda_core::VerifyingKey`]; the caller
//! verifies operations before handing bodies to this module and passes the author along.
//!
//! Guarantees and limits (data scheme): members added later read the whole history; removal
//! rotates the secret so removed devices cannot read later data (post-compromise security);
//! control messages (membership) are not confidential; there is no forward secrecy for data.
//! Concurrent membership changes are applied in each device's causal order without a conflict
//! resolver; in particular, if a member rotates the secret concurrently with its own removal,
//! peers that process the rotation first may keep using a secret it knows. Calling
//! [`DocumentGroup::update`] after processing a removal heals that.

#![warn(missing_docs)]

pub mod attachment;
mod codec;
mod device_keys;
mod envelope;
mod error;
mod events;
mod group;
mod group_id;
mod key_bundle;
mod membership;
mod message;
mod ordering;
mod providers;
#[cfg(test)]
mod tests;

pub use device_keys::{DeviceKeys, DEFAULT_PREKEY_LIFETIME, DEFAULT_ROTATE_BEFORE};
pub use envelope::ENVELOPE_OVERHEAD;
pub use error::CryptoError;
pub use events::{GroupEvent, GroupEvents};
pub use group::DocumentGroup;
pub use group_id::GroupId;
pub use key_bundle::KeyBundle;
pub use membership::{Membership, MembershipState};
pub use message::{control_kind, ControlEnvelope, ControlKind, GroupMessage};
pub use ordering::{CausalOrderer, OrdererError, OrdererState, MAX_PENDING};
pub use providers::{Keys, Registry};
