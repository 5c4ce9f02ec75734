//! Decentralised group membership (DGM) used by the data-encryption scheme.

use std::collections::{BTreeSet, HashSet};
use std::convert::Infallible;

use p2panda_core::{Hash, VerifyingKey};
use p2panda_encryption::traits::GroupMembership;
use serde::{Deserialize, Serialize};

/// Plain member-set DGM for `p2panda-encryption`'s data scheme.
///
/// Authorization (only current members may add/remove/update) is enforced one step earlier by
/// the [orderer](super::ordering::CausalOrderer), which drops control messages of non-members
/// before they reach the key agreement, so this set simply mirrors the processed operations.
///
/// Concurrent conflicting operations (e.g. "A removes B" concurrent with "B removes A") are
/// applied in each peer's causal delivery order, so peers can end up with different views;
/// there is no conflict resolver (unlike `p2panda-auth`'s strong-remove).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Membership;

/// Member set of one group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipState {
    pub(crate) members: BTreeSet<VerifyingKey>,
}

impl GroupMembership<VerifyingKey, Hash> for Membership {
    type State = MembershipState;

    type Error = Infallible;

    fn create(
        _my_id: VerifyingKey,
        initial_members: &[VerifyingKey],
    ) -> Result<Self::State, Self::Error> {
        Ok(MembershipState {
            members: initial_members.iter().copied().collect(),
        })
    }

    fn from_welcome(my_id: VerifyingKey, y: Self::State) -> Result<Self::State, Self::Error> {
        // The adder's history is taken before the "add" was applied: include ourselves.
        let mut y = y;
        y.members.insert(my_id);
        Ok(y)
    }

    fn add(
        mut y: Self::State,
        _adder: VerifyingKey,
        added: VerifyingKey,
        _operation_id: Hash,
    ) -> Result<Self::State, Self::Error> {
        y.members.insert(added);
        Ok(y)
    }

    fn remove(
        mut y: Self::State,
        _remover: VerifyingKey,
        removed: &VerifyingKey,
        _operation_id: Hash,
    ) -> Result<Self::State, Self::Error> {
        y.members.remove(removed);
        Ok(y)
    }

    fn members(y: &Self::State) -> Result<HashSet<VerifyingKey>, Self::Error> {
        Ok(y.members.iter().copied().collect())
    }
}
