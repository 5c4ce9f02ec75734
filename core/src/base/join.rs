//! Where a join request stands: the reasons an inviter refuses one, and the joiner's view of
//! its own request (see `Node::join` and `SyncStatus::join`).

use std::fmt;

use crate::base::ids::AuthorId;

/// Why an inviter's node refused a join request. Sent back to the joiner as a one-byte
/// code in the direct-message reply (`fieldsync/direct/2`), so both devices report the
/// same reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JoinRefusal {
    /// The inviter's node does not know the invite's token (never issued there, or issued
    /// for another document).
    UnknownInvite,
    /// The document's invites were revoked.
    Revoked,
    /// The invite expired.
    Expired,
    /// The invite admitted as many devices as it allowed.
    UsedUp,
    /// The request's key bundle belongs to another device than its sender.
    ForeignKeyBundle,
    /// The inviter can no longer admit devices (it lost its admin role or its group
    /// membership).
    CannotAdmit,
}

impl JoinRefusal {
    /// The wire code of the reason (never 0).
    pub fn code(self) -> u8 {
        match self {
            JoinRefusal::UnknownInvite => 1,
            JoinRefusal::Revoked => 2,
            JoinRefusal::Expired => 3,
            JoinRefusal::UsedUp => 4,
            JoinRefusal::ForeignKeyBundle => 5,
            JoinRefusal::CannotAdmit => 6,
        }
    }

    /// The reason of a wire code; an unknown code (a newer peer) reads as `CannotAdmit`.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => JoinRefusal::UnknownInvite,
            2 => JoinRefusal::Revoked,
            3 => JoinRefusal::Expired,
            4 => JoinRefusal::UsedUp,
            5 => JoinRefusal::ForeignKeyBundle,
            _ => JoinRefusal::CannotAdmit,
        }
    }
}

impl fmt::Display for JoinRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinRefusal::UnknownInvite => "the inviter does not know this invite",
            JoinRefusal::Revoked => "the document's invites were revoked",
            JoinRefusal::Expired => "the invite expired",
            JoinRefusal::UsedUp => "the invite was used up",
            JoinRefusal::ForeignKeyBundle => "the request carried another device's key bundle",
            JoinRefusal::CannotAdmit => "the inviter can no longer admit devices",
        })
    }
}

/// This device's request to be admitted to a document, as `Node::join` sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinState {
    /// The inviting device the request goes to.
    pub inviter: AuthorId,
    /// When the request was made, in milliseconds since the Unix epoch.
    pub requested_at_ms: i64,
    /// Whether the inviter received the request (it was admitted or refused there).
    pub delivered: bool,
    /// The inviter's refusal, if it refused; `None` while waiting.
    pub refused: Option<JoinRefusal>,
}

impl fmt::Display for JoinState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let by = self.inviter.to_string();
        let by = &by[..by.len().min(12)];
        match self.refused {
            Some(reason) => write!(f, "refused by {by}: {reason}"),
            None if self.delivered => {
                write!(f, "admitted by {by}; waiting for the group's keys to sync")
            }
            None => write!(f, "waiting for admission by {by}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_read_as_cannot_admit() {
        for r in [
            JoinRefusal::UnknownInvite,
            JoinRefusal::Revoked,
            JoinRefusal::Expired,
            JoinRefusal::UsedUp,
            JoinRefusal::ForeignKeyBundle,
            JoinRefusal::CannotAdmit,
        ] {
            assert_ne!(r.code(), 0);
            assert_eq!(JoinRefusal::from_code(r.code()), r);
        }
        assert_eq!(JoinRefusal::from_code(200), JoinRefusal::CannotAdmit);
    }
}
