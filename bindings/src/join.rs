//! A device's request to be admitted to a document, as the app sees it.

/// Why an inviter's device refused a join request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum JoinRefusal {
    /// The inviter does not know the invite (never issued there, or for another document).
    UnknownInvite,
    /// The document's invites were revoked.
    Revoked,
    /// The invite expired.
    Expired,
    /// The invite admitted as many devices as it allowed.
    UsedUp,
    /// The request carried another device's key bundle.
    ForeignKeyBundle,
    /// The inviter can no longer admit devices (it lost its admin role or membership).
    CannotAdmit,
}

impl From<fieldsync::JoinRefusal> for JoinRefusal {
    fn from(r: fieldsync::JoinRefusal) -> Self {
        use fieldsync::JoinRefusal as R;
        match r {
            R::UnknownInvite => JoinRefusal::UnknownInvite,
            R::Revoked => JoinRefusal::Revoked,
            R::Expired => JoinRefusal::Expired,
            R::UsedUp => JoinRefusal::UsedUp,
            R::ForeignKeyBundle => JoinRefusal::ForeignKeyBundle,
            R::CannotAdmit => JoinRefusal::CannotAdmit,
        }
    }
}

/// This device's request to be admitted to a document, while it waits or after a refusal.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct JoinRequestState {
    /// The inviting device's id.
    pub inviter: String,
    /// When the join was requested, in milliseconds since the Unix epoch.
    pub requested_at_ms: i64,
    /// Whether the inviter received the request.
    pub delivered: bool,
    /// The inviter's refusal; `null`/`nil` while waiting.
    pub refused: Option<JoinRefusal>,
    /// One line for the user: "waiting for admission by …", "refused by …: the invite
    /// expired".
    pub description: String,
}

impl From<fieldsync::JoinState> for JoinRequestState {
    fn from(s: fieldsync::JoinState) -> Self {
        JoinRequestState {
            inviter: s.inviter.to_string(),
            requested_at_ms: s.requested_at_ms,
            delivered: s.delivered,
            refused: s.refused.map(Into::into),
            description: s.to_string(),
        }
    }
}
