//! The wire layer: the bytes other devices send. The operation codec and its
//! authentication (signatures checked in batches), operation bodies, and the invite codec.
//! Pure functions over bytes; no state, no I/O.

pub mod attachment;
pub mod body;
pub mod bundle;
mod error;
pub mod fork;
pub mod invite;
pub mod operation;
pub mod snapshot;
mod verify;

pub use error::WireError;
pub use invite::{Invite, InviteError};
