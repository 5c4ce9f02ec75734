//! What processing a control message did to a group.

use p2panda_core::VerifyingKey;

/// One effect of [`DocumentGroup::receive`](super::DocumentGroup::receive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEvent {
    /// We joined the group (a "create" listing us, or an "add" of us). From now on we can
    /// decrypt everything written with the secrets we received: joiners get the **whole**
    /// secret bundle, i.e. they can read the group's history.
    Welcomed {
        /// Member who created the group or added us.
        by: VerifyingKey,
    },
    /// Another member was added.
    MemberAdded {
        /// Member who added.
        by: VerifyingKey,
        /// New member.
        member: VerifyingKey,
    },
    /// Another member was removed; the group secret was rotated.
    MemberRemoved {
        /// Member who removed.
        by: VerifyingKey,
        /// Removed member.
        member: VerifyingKey,
    },
    /// A member rotated the group secret.
    SecretRotated {
        /// Member who rotated.
        by: VerifyingKey,
    },
    /// We were removed: we cannot read anything written after this point.
    RemovedUs {
        /// Member who removed us.
        by: VerifyingKey,
    },
    /// A control message of a non-member was dropped.
    Unauthorized {
        /// Sender who was not a member at that point of the causal order.
        sender: VerifyingKey,
        /// Its per-group sequence number.
        seq: u64,
    },
    /// The message is buffered until its causal dependencies (or our welcome) arrive.
    Buffered {
        /// Sender of the buffered message.
        sender: VerifyingKey,
        /// Its per-group sequence number.
        seq: u64,
    },
    /// The message was already processed or buffered (replay); nothing changed.
    Duplicate {
        /// Sender of the duplicate message.
        sender: VerifyingKey,
        /// Its per-group sequence number.
        seq: u64,
    },
}

/// Result of [`DocumentGroup::receive`](super::DocumentGroup::receive): the effects of the
/// received message and of any buffered messages it released, in processing order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupEvents {
    /// Effects in processing order.
    pub events: Vec<GroupEvent>,
    /// Control messages still waiting for dependencies after this call.
    pub pending: usize,
}
