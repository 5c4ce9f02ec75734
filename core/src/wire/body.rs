//! Operation bodies: a one-byte scheme tag followed by the payload.
//!
//! This is the single seam between document updates and encryption: the write path calls
//! [`seal`] on a Loro update and the read path calls [`open`] before Loro sees anything.

use crate::wire::WireError;

/// How a body's payload is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyScheme {
    /// The payload is a Loro update in clear.
    Plain,
    /// The payload is ciphertext of the document group's data scheme.
    Group,
}

impl BodyScheme {
    fn tag(self) -> u8 {
        match self {
            BodyScheme::Plain => 0,
            BodyScheme::Group => 1,
        }
    }
}

/// Builds a body from a scheme and its payload.
pub fn seal(scheme: BodyScheme, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 1);
    out.push(scheme.tag());
    out.extend_from_slice(payload);
    out
}

/// Splits a body into its scheme and payload.
pub fn open(body: &[u8]) -> Result<(BodyScheme, &[u8]), WireError> {
    match body.split_first() {
        Some((0, rest)) => Ok((BodyScheme::Plain, rest)),
        Some((1, rest)) => Ok((BodyScheme::Group, rest)),
        Some((t, _)) => Err(WireError::UnknownBody(format!("unknown body scheme {t}"))),
        None => Err(WireError::UnknownBody("empty body".into())),
    }
}

/// Control body tag: a group control message (group message bytes).
pub const CONTROL_GROUP_MESSAGE: u8 = 0;
/// Control body tag: a key bundle announcement (key bundle bytes of the author).
pub const CONTROL_KEY_BUNDLE: u8 = 1;
/// Control body tag: an authorization operation (roles: who may do what in the document).
pub const CONTROL_AUTH: u8 = 2;
/// Control body tag: an invite record (an admin issued or revoked an invite).
pub const CONTROL_INVITE: u8 = 3;
